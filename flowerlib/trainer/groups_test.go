package trainer_test

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestEvenMults: fastai's even_mults(1e-5, 1e-3, 3) and slice(lo, hi) / slice(hi) over groups.
func TestEvenMults(t *testing.T) {
	got := trainer.EvenMults(1e-5, 1e-3, 3)
	for i, want := range []float64{1e-5, 1e-4, 1e-3} {
		if math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("even_mults[%d] = %g, want %g", i, got[i], want)
		}
	}
	gs, err := trainer.SliceGroups(1e-5, 1e-3, []string{"/conv1_", "/conv2_"}, []string{"/conv5_"})
	if err != nil || len(gs) != 2 || math.Abs(gs[0].Scale-0.01) > 1e-15 || math.Abs(gs[1].Scale-0.1) > 1e-15 {
		t.Fatalf("slice(1e-5, 1e-3): %+v %v", gs, err)
	}
	for path, want := range map[string]float64{"/conv2_block1_1_conv/weights": 0.01, "/conv5_block3_out": 0.1, "/dense/kernel": 1} {
		if s := gs.Scale(path); math.Abs(s-want) > 1e-15 {
			t.Errorf("scale of %s: %g, want %g", path, s, want)
		}
	}
	gs, _ = trainer.SliceGroups(0, 1e-3, []string{"/a/"}, []string{"/b/"})
	if gs[0].Scale != 0.1 || gs[1].Scale != 0.1 {
		t.Errorf("slice(1e-3): %+v, want 1/10 for the body groups", gs)
	}
	// The longest prefix wins.
	nested := trainer.Groups{{Prefixes: []string{"/conv"}, Scale: 0.5}, {Prefixes: []string{"/conv5_"}, Scale: 0.25}}
	if s := nested.Scale("/conv5_block1_0_conv/weights"); s != 0.25 {
		t.Errorf("nested prefixes: %g", s)
	}
	if _, err := trainer.SliceGroups(1e-3, 1e-5, []string{"/a"}); err == nil {
		t.Error("lo > hi accepted")
	}
	if err := (trainer.Groups{{Prefixes: []string{"/a"}, Scale: 0}}).Validate(); err == nil ||
		err.Error() != "trainer: learning-rate group 1 ([/a]) has scale 0: want a positive number" {
		t.Errorf("scale 0: %v", err)
	}
}

// linearConfig is a model whose gradients are known in closed form: logits = Σ_s x·W_s + b
// over the scopes body, mid and head, and the loss Σ_bk c_k·logits_bk / B, so that
// ∂L/∂W_s[i,k] = c_k·Σ_b x[b,i]/B and ∂L/∂b[k] = c_k.
func linearConfig(t *testing.T, b string, data *trainer.ArrayData, c []float32, opts trainer.Options) (trainer.Config, map[string][]float32) {
	t.Helper()
	d, k := data.Dims[0], len(c)
	r := rand.New(rand.NewPCG(1, 2))
	store := model.NewStore()
	init := map[string][]float32{}
	for _, scope := range []string{"body", "mid", "head"} {
		init["/"+scope+"/w"] = randn32(r, d*k)
		if _, err := store.RootScope().In("%s", scope).CreateVariable("w", tensors.FromFlatDataAndDimensions(append([]float32(nil), init["/"+scope+"/w"]...), d, k)); err != nil {
			t.Fatal(err)
		}
	}
	init["/head/b"] = randn32(r, k)
	if _, err := store.RootScope().In("head").CreateVariable("b", tensors.FromFlatDataAndDimensions(append([]float32(nil), init["/head/b"]...), k)); err != nil {
		t.Fatal(err)
	}
	cfg := trainer.Config{Backend: backend.MustNew(b, nil), Store: store, RunDir: t.TempDir(), Identity: "linear", Options: opts,
		Model: func(scope *model.Scope, x *graph.Node) *graph.Node {
			g := x.Graph()
			v := func(path string) *graph.Node { return scope.Store().GetVariable(path).NodeValue(g) }
			logits := graph.Add(graph.Dot(x, v("/body/w")).Product(), graph.Dot(x, v("/mid/w")).Product())
			logits = graph.Add(logits, graph.Dot(x, v("/head/w")).Product())
			return graph.Add(logits, graph.InsertAxes(v("/head/b"), 0))
		},
		Loss: func(logits, _ *graph.Node) *graph.Node {
			batch := float64(logits.Shape().Dimensions[0])
			return graph.DivScalar(graph.ReduceAllSum(graph.Mul(logits, graph.Const(logits.Graph(), [][]float32{c}))), batch)
		}}
	return cfg, init
}

func randn32(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// TestGroupsAdamStep: with slice(1e-3, 1e-1) over body, mid and head, one Adam step moves each
// group's variables by Keras' first Adam step at its own rate (hand-computed in float64 from the
// closed-form gradient), on the host step, the go graph step and the xla:cpu graph step; a
// prefix that names no variable is an error naming it.
func TestGroupsAdamStep(t *testing.T) {
	const lr = 0.1
	r := rand.New(rand.NewPCG(3, 3))
	const n, d = 8, 6
	data := &trainer.ArrayData{Dims: []int{d}, X: randn32(r, n*d), Y: make([]int32, n)}
	c := []float32{1, -0.5, 2e-6} // the last class's gradients are near ε's scale
	groups, err := trainer.SliceGroups(1e-3, lr, []string{"/body/"}, []string{"/mid/"})
	if err != nil {
		t.Fatal(err)
	}
	scale := map[string]float64{"/body/w": 0.01, "/mid/w": 0.1, "/head/w": 1, "/head/b": 1}
	// The closed-form gradients, in float64.
	grad := map[string][]float64{}
	xsum := make([]float64, d)
	for b := range n {
		for i := range d {
			xsum[i] += float64(data.X[b*d+i])
		}
	}
	for _, s := range []string{"/body/w", "/mid/w", "/head/w"} {
		for i := range d {
			for k := range c {
				grad[s] = append(grad[s], float64(c[k])*xsum[i]/n)
			}
		}
	}
	for k := range c {
		grad["/head/b"] = append(grad["/head/b"], float64(c[k]))
	}
	// Keras' step size with its float32 β's (float32(0.999) = 0.99900001: AdamStepSize's doc).
	lrT := lr * math.Sqrt(1-float64(float32(0.999))) / (1 - float64(float32(0.9)))
	type run struct{ name, backend, step string }
	runs := []run{{"go host", "go", trainer.StepHost}, {"go graph", "go", trainer.StepGraph}}
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" || os.Getenv("CI") == "true" {
		runs = append(runs, run{"xla:cpu graph", "xla:cpu", trainer.StepGraph})
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for _, rr := range runs {
		cfg, init := linearConfig(t, rr.backend, data, c, trainer.Options{Epochs: 1, BatchSize: n, LearningRate: lr, LRGroups: groups})
		cfg.StepKind = rr.step
		tr, err := trainer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.TrainStep(data, idx, 0); err != nil {
			t.Fatalf("%s: %v", rr.name, err)
		}
		worst := 0.0
		for name, w0 := range init {
			got := tensors.MustCopyFlatData[float32](cfg.Store.GetVariable(name).MustValue())
			for i, g := range grad[name] {
				m, v := 0.1*g, 0.001*g*g
				want := float64(w0[i]) - scale[name]*lrT*m/(math.Sqrt(v)+1e-7)
				if diff := math.Abs(float64(got[i]) - want); diff > 1e-6 {
					t.Errorf("%s: %s[%d] moved %.7g, want %.7g (scale %g)", rr.name, name, i, float64(got[i])-float64(w0[i]), want-float64(w0[i]), scale[name])
				} else {
					worst = math.Max(worst, diff)
				}
			}
		}
		tr.Close()
		t.Logf("%s: every variable within %.2g of its group's hand-computed Adam step", rr.name, worst)
	}

	// A prefix that names no variable is refused by both steps.
	for _, rr := range runs[:2] {
		cfg, _ := linearConfig(t, rr.backend, data, c, trainer.Options{Epochs: 1, BatchSize: n, LearningRate: lr,
			LRGroups: trainer.Groups{{Prefixes: []string{"/bdy/"}, Scale: 0.1}}})
		cfg.StepKind = rr.step
		tr, err := trainer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = tr.TrainStep(data, idx, 0)
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), `learning-rate group prefix "/bdy/" matches no variable of the model (4 trainable, e.g. /body/w, /head/b, /head/w, /mid/w)`) {
			t.Errorf("%s: misspelt prefix: %v", rr.name, err)
		}
	}
}
