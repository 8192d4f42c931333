package keras

// The fine-tuning recipes of flowerlib/trainer against the frameworks they come from: Keras'
// label smoothing and class weights (the loss and one Adam step by train_on_batch), scikit-learn's
// balanced class weights, tf-keras' CosineDecay with warm-up, and fastai's one-cycle schedule
// (oracle.py, section "recipes": fastai is not installed, so its formula is written there as its
// source computes it). Needs no photo: the inputs are generated here.

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// recipeTolerance is the bound for losses and one Adam step against tf-keras.
const recipeTolerance = 1e-5

type lossCase struct {
	LabelSmoothing float64   `json:"label_smoothing"`
	ClassWeights   []float64 `json:"class_weights"`
}

type cosineCase struct {
	LR     float64 `json:"lr"`
	MinLR  float64 `json:"min_lr"`
	Warmup int     `json:"warmup"`
	Total  int     `json:"total"`
}

// oneCycleCase is fit_one_cycle over a slice(lo, hi) of groups parameter groups (lo = 0: one
// group at hi), epochs × iters batches.
type oneCycleCase struct {
	Lo       float64    `json:"lo"`
	Hi       float64    `json:"hi"`
	Groups   int        `json:"groups"`
	Epochs   int        `json:"epochs"`
	Iters    int        `json:"iters"`
	PctStart float64    `json:"pct_start"`
	Div      float64    `json:"div"`
	DivFinal float64    `json:"div_final"`
	Moms     [3]float64 `json:"moms"`
}

// recipesJob is job.json's "recipes": a Dense(5) layer on 16 examples of 8 features, the labels
// imbalanced (6, 4, 3, 2, 1 per class).
type recipesJob struct {
	X        [][]float32    `json:"x"`
	Labels   []int32        `json:"labels"`
	Classes  int            `json:"classes"`
	Kernel   [][]float32    `json:"kernel"`
	Bias     []float32      `json:"bias"`
	LR       float64        `json:"lr"`
	Losses   []lossCase     `json:"losses"`
	Cosine   cosineCase     `json:"cosine"`
	OneCycle []oneCycleCase `json:"one_cycle"`
}

type recipesResults struct {
	Losses []struct {
		LossUnweighted   float64   `json:"loss_unweighted"`
		LossSampleWeight *float64  `json:"loss_sample_weight"`
		SumOverBatch     *float64  `json:"sum_over_batch"`
		SumOverWeights   *float64  `json:"sum_over_weights"`
		TrainOnBatchLoss float64   `json:"train_on_batch_loss"`
		Kernel           []float64 `json:"kernel"`
		Bias             []float64 `json:"bias"`
	} `json:"losses"`
	Balanced    []float64   `json:"balanced"`
	CosineDecay []float64   `json:"cosine_decay"`
	OneCycle    []fastaiHps `json:"one_cycle"`
}

// fastaiHps is fit_one_cycle's per-batch rates (one per parameter group) and momentum, and which
// tensors computed combine_scheds' positions.
type fastaiHps struct {
	LRMax   []float64   `json:"lr_max"`
	LR      [][]float64 `json:"lr"`
	Mom     []float64   `json:"mom"`
	Tensors string      `json:"tensors"`
}

func newRecipesJob() *recipesJob {
	const n, d, k = 16, 8, 5
	r := rand.New(rand.NewPCG(22, 22))
	j := &recipesJob{Classes: k, LR: 1e-3}
	for c, m := range []int{6, 4, 3, 2, 1} {
		for range m {
			j.Labels = append(j.Labels, int32(c))
		}
	}
	r.Shuffle(n, func(a, b int) { j.Labels[a], j.Labels[b] = j.Labels[b], j.Labels[a] })
	row := func(m int, scale float64) []float32 {
		out := make([]float32, m)
		for i := range out {
			out[i] = float32(r.NormFloat64() * scale)
		}
		return out
	}
	for range n {
		j.X = append(j.X, row(d, 1))
	}
	for range d {
		j.Kernel = append(j.Kernel, row(k, 0.5))
	}
	j.Bias = row(k, 0.1)
	weights := []float64{1, 2, 0.5, 3, 1.5}
	j.Losses = []lossCase{{0.1, nil}, {0, weights}, {0.2, weights}}
	j.Cosine = cosineCase{LR: 1e-3, MinLR: 1e-5, Warmup: 4, Total: 20}
	j.OneCycle = []oneCycleCase{
		// fit_one_cycle(4, 1e-3) with its defaults, 5 batches per epoch: 20 points.
		{Hi: 1e-3, Groups: 1, Epochs: 4, Iters: 5, PctStart: trainer.OneCyclePctStart, Div: trainer.OneCycleDiv,
			DivFinal: trainer.OneCycleDivFinal, Moms: trainer.OneCycleMoms},
		// fine_tune's unfrozen phase: fit_one_cycle(4, slice(1e-5, 1e-3), pct_start=0.3, div=5) over 3 groups.
		{Lo: 1e-5, Hi: 1e-3, Groups: 3, Epochs: 4, Iters: 5, PctStart: 0.3, Div: 5, DivFinal: trainer.OneCycleDivFinal,
			Moms: trainer.OneCycleMoms},
	}
	return j
}

var (
	recipesOnce sync.Once
	recipesIn   *recipesJob
	recipesOut  *recipesResults
	recipesErr  error
)

// runRecipes runs oracle.py's "recipes" section once per test process.
func runRecipes(t *testing.T) (*recipesJob, *recipesResults) {
	t.Helper()
	py := requireKeras(t)
	recipesOnce.Do(func() {
		recipesIn = newRecipesJob()
		dir, err := os.MkdirTemp("", "flowers-keras-recipes-")
		if err != nil {
			recipesErr = err
			return
		}
		defer os.RemoveAll(dir)
		b, _ := json.Marshal(map[string]any{"sections": []string{"recipes"}, "recipes": recipesIn})
		if recipesErr = os.WriteFile(dir+"/job.json", b, 0o644); recipesErr != nil {
			return
		}
		results, err := execOracle(py, dir)
		if err != nil {
			recipesErr = err
			return
		}
		recipesOut = &recipesResults{}
		if recipesErr = json.Unmarshal(results["recipes"], recipesOut); recipesErr != nil {
			return
		}
		t.Logf("oracle.py recipes: %s, versions %s", results["seconds"], results["versions"])
	})
	if recipesErr != nil {
		t.Fatal(recipesErr)
	}
	return recipesIn, recipesOut
}

func flat(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// denseConfig is the oracle's Dense(5) layer as a trainer model (Keras' variable names).
func denseConfig(t *testing.T, b string, j *recipesJob, opts trainer.Options) trainer.Config {
	t.Helper()
	store := model.NewStore()
	d, k := len(j.Kernel), j.Classes
	scope := store.RootScope().In("dense")
	if _, err := scope.CreateVariable("kernel", tensors.FromFlatDataAndDimensions(flat(j.Kernel), d, k)); err != nil {
		t.Fatal(err)
	}
	if _, err := scope.CreateVariable("bias", tensors.FromFlatDataAndDimensions(append([]float32(nil), j.Bias...), k)); err != nil {
		t.Fatal(err)
	}
	return trainer.Config{Backend: backend.MustNew(b, nil), Store: store, RunDir: t.TempDir(), Identity: "dense", Options: opts,
		Model: func(scope *model.Scope, x *graph.Node) *graph.Node {
			g := x.Graph()
			w, bias := store.GetVariable("/dense/kernel").NodeValue(g), store.GetVariable("/dense/bias").NodeValue(g)
			return graph.Add(graph.Dot(x, w).Product(), graph.InsertAxes(bias, 0))
		}}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func (j *recipesJob) data() *trainer.ArrayData {
	return &trainer.ArrayData{X: flat(j.X), Dims: []int{len(j.X[0])}, Y: j.Labels}
}

// TestLabelSmoothingClassWeightsKeras: trainer.CrossEntropy on the layer's logits equals tf-keras'
// CategoricalCrossentropy(from_logits=True, label_smoothing=…), with class weights as
// fit(class_weight=…) applies them: tf-keras divides the weighted sum by the batch size (checked
// here: its value is the sum over the batch, not over the weights).
func TestLabelSmoothingClassWeightsKeras(t *testing.T) {
	j, res := runRecipes(t)
	be := backend.MustNew("go", nil)
	x := tensors.FromFlatDataAndDimensions(flat(j.X), len(j.X), len(j.X[0]))
	w := tensors.FromFlatDataAndDimensions(flat(j.Kernel), len(j.Kernel), j.Classes)
	y := tensors.FromFlatDataAndDimensions(j.Labels, len(j.Labels))
	loss := func(fn trainer.LossFn) float64 {
		out := graph.MustExecOnce(be, func(x, w, b, y *graph.Node) *graph.Node {
			return fn(graph.Add(graph.Dot(x, w).Product(), graph.InsertAxes(b, 0)), y)
		}, x, w, tensors.FromFlatDataAndDimensions(j.Bias, j.Classes), y)
		return float64(tensors.ToScalar[float32](out))
	}
	for i, c := range j.Losses {
		r := res.Losses[i]
		got := loss(trainer.CrossEntropy(c.LabelSmoothing, nil))
		d := math.Abs(got - r.LossUnweighted)
		if d > recipeTolerance*math.Max(1, r.LossUnweighted) {
			t.Errorf("label smoothing %g: %.7f, tf-keras %.7f", c.LabelSmoothing, got, r.LossUnweighted)
		}
		msg := fmt.Sprintf("label smoothing %g: |Δ| %.2g", c.LabelSmoothing, d)
		if c.ClassWeights != nil {
			got := loss(trainer.CrossEntropy(c.LabelSmoothing, c.ClassWeights))
			kw := *r.LossSampleWeight
			if math.Abs(kw-*r.SumOverBatch) > 1e-6*kw || math.Abs(kw-*r.SumOverWeights) < 1e-3*kw {
				t.Errorf("tf-keras' weighted loss %.7f: sum/batch %.7f, sum/Σw %.7f: not the batch normalisation any more",
					kw, *r.SumOverBatch, *r.SumOverWeights)
			}
			d := math.Abs(got - kw)
			if d > recipeTolerance*math.Max(1, kw) {
				t.Errorf("label smoothing %g, class weights %v: %.7f, tf-keras %.7f", c.LabelSmoothing, c.ClassWeights, got, kw)
			}
			msg += fmt.Sprintf("; with class weights |Δ| %.2g (tf-keras: Σw·l/B = %.5f, Σw·l/Σw would be %.5f)", d, kw, *r.SumOverWeights)
		}
		t.Log(msg)
	}
}

// TestAdamStepKeras: one Adam step with the recipe losses (flowerlib's trainer: go host, go graph
// and xla:cpu graph steps) gives tf-keras' train_on_batch loss and weights. Adam's step does not
// depend on the gradient's scale (up to ε), so the weights check the gradient's direction (label
// smoothing moves it) and the losses check the weights' normalisation.
func TestAdamStepKeras(t *testing.T) {
	j, res := runRecipes(t)
	type run struct{ name, backend, step string }
	runs := []run{{"go host", "go", trainer.StepHost}, {"go graph", "go", trainer.StepGraph}}
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" || os.Getenv("CI") == "true" {
		runs = append(runs, run{"xla:cpu graph", "xla:cpu", trainer.StepGraph})
	}
	data := j.data()
	idx := make([]int, data.Len())
	for i := range idx {
		idx[i] = i
	}
	for i, c := range j.Losses {
		want := res.Losses[i]
		for _, r := range runs {
			cfg := denseConfig(t, r.backend, j, trainer.Options{Epochs: 1, BatchSize: len(idx), LearningRate: j.LR,
				LabelSmoothing: c.LabelSmoothing, ClassWeights: c.ClassWeights})
			cfg.StepKind = r.step
			tr, err := trainer.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			loss, _, err := tr.TrainStep(data, idx, 0)
			tr.Close()
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			worst, moved := 0.0, 0.0
			for _, v := range []struct {
				name       string
				init, want []float64
			}{{"/dense/kernel", f64(flat(j.Kernel)), want.Kernel}, {"/dense/bias", f64(j.Bias), want.Bias}} {
				got := tensors.MustCopyFlatData[float32](cfg.Store.GetVariable(v.name).MustValue())
				for k := range got {
					worst = math.Max(worst, math.Abs(float64(got[k])-v.want[k]))
					moved = math.Max(moved, math.Abs(v.init[k]-v.want[k]))
				}
			}
			if moved < 0.5*j.LR {
				t.Fatalf("tf-keras' step moved the weights by at most %g: the comparison would mean nothing", moved)
			}
			dl := math.Abs(loss - want.TrainOnBatchLoss)
			if worst > recipeTolerance || dl > recipeTolerance*math.Max(1, want.TrainOnBatchLoss) {
				t.Errorf("%s, label smoothing %g, class weights %v: loss %.7f (tf-keras %.7f), weights up to %.2g from tf-keras'",
					r.name, c.LabelSmoothing, c.ClassWeights, loss, want.TrainOnBatchLoss, worst)
			}
			t.Logf("%s, label smoothing %g, class weights %v: loss |Δ| %.2g, weights |Δ| ≤ %.2g (tf-keras' step moves them by up to %.3g)",
				r.name, c.LabelSmoothing, c.ClassWeights, dl, worst, moved)
		}
	}
}

// TestBalancedClassWeightsSklearn: trainer.BalancedClassWeights equals scikit-learn's
// compute_class_weight('balanced').
func TestBalancedClassWeightsSklearn(t *testing.T) {
	j, res := runRecipes(t)
	got, err := trainer.BalancedClassWeights(trainer.ClassCounts(j.Labels, j.Classes))
	if err != nil {
		t.Fatal(err)
	}
	for c := range got {
		if math.Abs(got[c]-res.Balanced[c]) > 1e-12*res.Balanced[c] {
			t.Errorf("class %d: %.15g, scikit-learn %.15g", c, got[c], res.Balanced[c])
		}
	}
	t.Logf("balanced weights %v equal scikit-learn's", got)
}

// TestCosineKerasDecay: the cosine schedule (GoMLX's formula, trainer.CosineWarmup) equals
// tf-keras' CosineDecay with warm-up at every step; Keras computes in float32.
func TestCosineKerasDecay(t *testing.T) {
	j, res := runRecipes(t)
	c := j.Cosine
	worst := 0.0
	for s, want := range res.CosineDecay {
		got := trainer.CosineWarmup(c.LR, c.MinLR, c.Warmup, int64(s), int64(c.Total))
		d := math.Abs(got-want) / c.LR
		worst = math.Max(worst, d)
		if d > 1e-6 {
			t.Errorf("step %d: %.9g, tf-keras CosineDecay %.9g", s, got, want)
		}
	}
	t.Logf("%d steps: |Δ| ≤ %.2g × lr (tf-keras float32)", len(res.CosineDecay), worst)
}

// TestOneCycleFastai: the one-cycle schedule, with SliceGroups for a slice, gives fastai's
// per-group learning rates and momentum at each of the 20 batches of fit_one_cycle(4 epochs × 5),
// within 1e-7 of each group's lr_max (and 1e-7 for β1). fastai rounds the segment position to
// float32 (combine_scheds' torch tensor); flowerlib stays in float64.
func TestOneCycleFastai(t *testing.T) {
	j, res := runRecipes(t)
	checkOneCycle(t, j, res.OneCycle)
}

// TestOneCycleFastaiTorch runs fastai's formula with torch's own tensors (Debian's
// /usr/bin/python3 has torch; the Keras environment has not, and emulates them with numpy
// float32): the same check, and the two computations of fastai's rates must agree exactly.
func TestOneCycleFastaiTorch(t *testing.T) {
	j, res := runRecipes(t)
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy").Run(); err != nil {
		msg := py + " cannot import torch and numpy (Debian's python3-torch): fastai's formula with torch itself is not checked"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	b, _ := json.Marshal(map[string]any{"recipes": j})
	if err := os.WriteFile(filepath.Join(dir, "job.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, filepath.Join(repoRoot(), "tools", "keras", "oracle.py"), "--fastai-one-cycle", filepath.Join(dir, "job.json")).Output()
	if err != nil {
		t.Fatalf("oracle.py --fastai-one-cycle: %v", err)
	}
	var hps []fastaiHps
	if err := json.Unmarshal(out, &hps); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hps[0].Tensors, "torch ") || !strings.HasPrefix(res.OneCycle[0].Tensors, "numpy ") {
		t.Fatalf("tensors: %q here, %q in the Keras environment", hps[0].Tensors, res.OneCycle[0].Tensors)
	}
	for c := range hps {
		for i := range hps[c].LR {
			for g := range hps[c].LR[i] {
				if hps[c].LR[i][g] != res.OneCycle[c].LR[i][g] || hps[c].Mom[i] != res.OneCycle[c].Mom[i] {
					t.Fatalf("case %d batch %d: %s gives (%v, %v), %s (%v, %v)", c+1, i, hps[c].Tensors, hps[c].LR[i], hps[c].Mom[i],
						res.OneCycle[c].Tensors, res.OneCycle[c].LR[i], res.OneCycle[c].Mom[i])
				}
			}
		}
	}
	t.Logf("fastai's rates with %s equal those with %s", hps[0].Tensors, res.OneCycle[0].Tensors)
	checkOneCycle(t, j, hps)
}

// checkOneCycle compares trainer.Schedule (one-cycle, SliceGroups' scales) with fastai's rates.
func checkOneCycle(t *testing.T, j *recipesJob, fastai []fastaiHps) {
	t.Helper()
	for ci, c := range j.OneCycle {
		want := fastai[ci]
		s := trainer.Schedule{Kind: trainer.ScheduleOneCycle, PctStart: c.PctStart, Div: c.Div, DivFinal: c.DivFinal, Moms: c.Moms}
		scales := []float64{1}
		if c.Lo > 0 {
			body := make([][]string, c.Groups-1)
			for g := range body {
				body[g] = []string{fmt.Sprintf("/group%d/", g)}
			}
			gs, err := trainer.SliceGroups(c.Lo, c.Hi, body...)
			if err != nil {
				t.Fatal(err)
			}
			scales = nil
			for _, g := range gs {
				scales = append(scales, g.Scale)
			}
			scales = append(scales, 1) // the head
		}
		total := int64(c.Epochs * c.Iters)
		if len(want.LR) != int(total) {
			t.Fatalf("fastai gave %d points, want %d", len(want.LR), total)
		}
		worstLR, worstMom := 0.0, 0.0
		for i := range total {
			lr, b1 := s.At(c.Hi, i, total)
			for g, sc := range scales {
				d := math.Abs(sc*lr-want.LR[i][g]) / want.LRMax[g]
				worstLR = math.Max(worstLR, d)
				if d > 1e-7 {
					t.Errorf("case %d, batch %d, group %d: rate %.10g, fastai %.10g", ci+1, i, g, sc*lr, want.LR[i][g])
				}
			}
			d := math.Abs(b1 - want.Mom[i])
			worstMom = math.Max(worstMom, d)
			if d > 1e-7 {
				t.Errorf("case %d, batch %d: β1 %.10g, fastai's mom %.10g", ci+1, i, b1, want.Mom[i])
			}
		}
		t.Logf("case %d (%d groups, pct_start %g, div %g; fastai with %s): %d points, rates within %.2g × lr_max, β1 within %.2g",
			ci+1, len(scales), c.PctStart, c.Div, want.Tensors, total, worstLR, worstMom)
	}
}
