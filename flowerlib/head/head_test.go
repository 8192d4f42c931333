package head

import (
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestLayersAndParams(t *testing.T) {
	cfg := Config{}.Defaults()
	names := []string{}
	for _, l := range cfg.Layers() {
		names = append(names, l.Name)
	}
	want := []string{"batch_normalization", "dense", "batch_normalization_1", "dense_1", "batch_normalization_2", "dense_2"}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("layers %v, want %v", names, want)
		}
	}
	// Keras' summary of the seed's head: Flatten 100352 → BN (401,408 params, half trainable) →
	// Dense 2048 (205,522,944) → BN (8,192) → Dense 1024 (2,098,176) → BN (4,096) → Dense 5 (5,125).
	tr, nt := cfg.NumParams()
	if tr+nt != 401408+205522944+8192+2098176+4096+5125 || nt != (401408+8192+4096)/2 {
		t.Errorf("params trainable %d non-trainable %d", tr, nt)
	}
}

func TestHeNormalStats(t *testing.T) {
	f := make([]float32, 1<<20)
	HeNormal(f, 2048, 42)
	var sum, sq float64
	for _, v := range f {
		sum += float64(v)
		sq += float64(v) * float64(v)
		if math.Abs(float64(v)) > 2*math.Sqrt(2.0/2048)/0.87962566103423978+1e-6 {
			t.Fatalf("value %v beyond 2σ", v)
		}
	}
	n := float64(len(f))
	std := math.Sqrt(sq/n - (sum/n)*(sum/n))
	if want := math.Sqrt(2.0 / 2048); math.Abs(std-want)/want > 0.01 {
		t.Errorf("he_normal stddev %v, want %v", std, want)
	}
}

// TestTrainGradientsMatchAutodiff: the hand-written first-layer gradients equal autodiff's.
func TestTrainGradientsMatchAutodiff(t *testing.T) {
	b := backend.MustNew("go", nil)
	cfg := Config{Kind: Avg, Hidden: []int{16, 8}, Classes: 3}
	store := model.NewStore()
	if err := Init(store.RootScope(), cfg); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 6, 2048))
	tensors.MustMutableFlatData[float32](x, func(f []float32) {
		for i := range f {
			f[i] = float32(r.NormFloat64()*3 + 1)
		}
	})
	y := tensors.FromValue([]int32{0, 1, 2, 0, 1, 2})
	var paths []string
	manual := model.MustNewExec(b, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		store.SetTraining(inputs[0].Graph(), true)
		r := TrainGradients(scope, inputs[0], inputs[1], cfg)
		for _, v := range r.Vars {
			paths = append(paths, v.Path())
		}
		for i := range r.Outer {
			if !strings.HasSuffix(r.Vars[i].Path(), "/kernel") || r.Grads[i] != nil || len(r.Outer) != 3 {
				t.Errorf("want the 3 kernels' gradients as outer products, got %s (%d)", r.Vars[i].Path(), len(r.Outer))
			}
		}
		return r.Full()
	})
	auto := model.MustNewExec(b, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		g := inputs[0].Graph()
		store.SetTraining(g, true)
		loss := trainer.SparseCrossEntropy(Logits(scope, inputs[0], cfg), inputs[1])
		var nodes []*graph.Node
		for _, p := range paths {
			nodes = append(nodes, store.GetVariable(p).NodeValue(g))
		}
		return graph.Gradient(loss, nodes...)
	})
	gm := manual.MustExec(x, y)
	ga := auto.MustExec(x, y)
	if len(gm) != 12 || len(ga) != len(gm) { // 3 BN × (γ, β) + 3 Dense × (W, b)
		t.Fatalf("%d manual and %d autodiff gradients", len(gm), len(ga))
	}
	for i := range gm {
		a, m := tensors.MustCopyFlatData[float32](ga[i]), tensors.MustCopyFlatData[float32](gm[i])
		for j := range a {
			if math.Abs(float64(a[j]-m[j])) > 1e-5+1e-3*math.Abs(float64(a[j])) {
				t.Fatalf("%s[%d]: manual %v, autodiff %v", paths[i], j, m[j], a[j])
			}
		}
	}
}

func TestSummary(t *testing.T) {
	s := Config{}.Summary()
	for _, want := range []string{"flatten (Flatten)", "(None, 100352)", "dense (Dense)", "205522944", "Total params: 208039941", "Non-trainable params: 206848"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}
