package trainer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// kerasAdam64 is Keras' Adam in float64, the reference.
type kerasAdam64 struct {
	m, v []float64
	t    int
}

func (a *kerasAdam64) step(w []float64, g []float32, lr float64) {
	if a.m == nil {
		a.m, a.v = make([]float64, len(w)), make([]float64, len(w))
	}
	a.t++
	lrT := lr * math.Sqrt(1-math.Pow(0.999, float64(a.t))) / (1 - math.Pow(0.9, float64(a.t)))
	for i := range w {
		gi := float64(g[i])
		a.m[i] = 0.9*a.m[i] + 0.1*gi
		a.v[i] = 0.999*a.v[i] + 0.001*gi*gi
		w[i] -= lrT * a.m[i] / (math.Sqrt(a.v[i]) + 1e-7)
	}
}

func randn(r *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * scale)
	}
	return x
}

// adamPaths returns the vector paths this machine can run, the portable one first; each
// test of the host Adam runs on every one (t.Run per path), restoring adamPath after.
func adamPaths(t *testing.T) []VectorPath {
	paths := []VectorPath{PathScalar}
	switch adamPath {
	case PathAVX512:
		paths = append(paths, PathAVX2, PathAVX512) // AVX-512 CPUs have AVX2 and FMA
	case PathAVX2:
		paths = append(paths, PathAVX2)
	}
	t.Logf("host Adam paths tested: %v (this machine's: %s)", paths, adamPath)
	return paths
}

func forEachAdamPath(t *testing.T, test func(t *testing.T)) {
	saved := adamPath
	defer func() { adamPath = saved }()
	for _, p := range adamPaths(t) {
		adamPath = p
		t.Run(string(p), test)
	}
}

// TestHostAdamKeras checks the fused host update against Keras' formula computed in float64,
// for the vector and the scalar tails (odd length), on every vector path.
func TestHostAdamKeras(t *testing.T) { forEachAdamPath(t, testHostAdamKeras) }

func testHostAdamKeras(t *testing.T) {
	n := 1000 + 7
	r := rand.New(rand.NewPCG(3, 4))
	w := randn(r, n, 1)
	want := make([]float64, n)
	for i := range want {
		want[i] = float64(w[i])
	}
	m, v := make([]float32, n), make([]float32, n)
	ref := &kerasAdam64{}
	for step := int64(1); step <= 3; step++ {
		g := randn(r, n, 1)
		adamApply(w, g, m, v, AdamStepSize(0.01, step), AdamBeta1)
		ref.step(want, g, 0.01)
	}
	for i := range w {
		if math.Abs(float64(w[i])-want[i]) > 1e-5 {
			t.Fatalf("w[%d] = %v, want %v", i, w[i], want[i])
		}
	}
}

// TestHostAdamOuter: the fused outer-product update equals the update with the explicit
// gradient Aᵀ·B, on every vector path: k = 5 (the portable path's blocks of 4 rows and a
// remainder), n = 45 (AVX2's 32-column blocks, one 8-column block and a 5-column tail;
// AVX-512's 16-column blocks and a 13-column tail) and n = 7 (tail only); k = 32 is the article's
// batch.
func TestHostAdamOuter(t *testing.T) {
	forEachAdamPath(t, func(t *testing.T) {
		for _, c := range [][3]int{{5, 37, 45}, {32, 9, 71}, {3, 4, 7}} {
			testHostAdamOuter(t, c[0], c[1], c[2])
		}
	})
}

func testHostAdamOuter(t *testing.T, k, m, n int) {
	r := rand.New(rand.NewPCG(9, 9))
	w1 := randn(r, m*n, 1)
	w2 := append([]float32(nil), w1...)
	m1, v1, m2, v2 := make([]float32, m*n), make([]float32, m*n), make([]float32, m*n), make([]float32, m*n)
	for step := int64(1); step <= 3; step++ {
		in, og := randn(r, k*m, 1), randn(r, k*n, 1)
		g := make([]float32, m*n)
		for d := 0; d < m; d++ {
			for j := 0; j < n; j++ {
				for b := 0; b < k; b++ {
					g[d*n+j] += in[b*m+d] * og[b*n+j]
				}
			}
		}
		lrT := AdamStepSize(1e-3, step)
		adamApply(w1, g, m1, v1, lrT, AdamBeta1)
		adamApplyOuter(w2, m2, v2, in, og, k, m, n, lrT, AdamBeta1)
	}
	for i := range w1 {
		if math.Abs(float64(w1[i]-w2[i])) > 1e-5 {
			t.Fatalf("k=%d m=%d n=%d: w[%d]: outer %v, explicit %v", k, m, n, i, w2[i], w1[i])
		}
	}
}

// TestGraphAdamKeras: the in-graph Adam (GoMLX optimizer.Interface) matches Keras' formula,
// including gradients near 1e-6 where GoMLX's own Adam places ε differently.
func TestGraphAdamKeras(t *testing.T) {
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	r := rand.New(rand.NewPCG(5, 6))
	n := 64
	w0 := randn(r, n, 1)
	if _, err := store.RootScope().CreateVariable("w", tensors.FromFlatDataAndDimensions(append([]float32(nil), w0...), n)); err != nil {
		t.Fatal(err)
	}
	// loss = Σ c·w, so the gradient is c: tiny for half of the weights.
	c := randn(r, n, 1)
	for i := 0; i < n/2; i++ {
		c[i] *= 1e-6
	}
	opt := Adam()
	exec, err := model.NewExec(b, store, func(scope *model.Scope, inputs []*graph.Node) *graph.Node {
		g := inputs[0].Graph()
		w := scope.GetVariable("w").NodeValue(g)
		loss := graph.ReduceAllSum(graph.Mul(w, inputs[0]))
		opt.UpdateGraph(scope, g, loss)
		return loss
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]float64, n)
	for i := range ref {
		ref[i] = float64(w0[i])
	}
	a := &kerasAdam64{}
	for range 4 {
		exec.MustExec(tensors.FromFlatDataAndDimensions(c, n))
		a.step(ref, c, 1e-3)
	}
	got := tensors.MustCopyFlatData[float32](store.GetVariable("/w").MustValue())
	for i := range got {
		if d := math.Abs(float64(got[i]) - ref[i]); d > 1e-6*math.Max(1, math.Abs(ref[i])) {
			t.Fatalf("w[%d] = %v, Keras %v (gradient %g)", i, got[i], ref[i], c[i])
		}
	}
}

// BenchmarkAdamOuter is one fused update of the pooled head's first Dense kernel (2048×2048,
// batch 32) on each vector path this machine has.
func BenchmarkAdamOuter(b *testing.B) {
	const k, m, n = 32, 2048, 2048
	r := rand.New(rand.NewPCG(1, 2))
	w, in, og := randn(r, m*n, 1), randn(r, k*m, 1), randn(r, k*n, 1)
	mo, vo := make([]float32, m*n), make([]float32, m*n)
	saved := adamPath
	defer func() { adamPath = saved }()
	for _, p := range []VectorPath{PathScalar, PathAVX2, PathAVX512} {
		if p != PathScalar && (saved == PathScalar || (p == PathAVX512 && saved != PathAVX512)) {
			continue
		}
		adamPath = p
		b.Run(string(p), func(b *testing.B) {
			for range b.N {
				adamApplyOuter(w, mo, vo, in, og, k, m, n, 1e-3, AdamBeta1)
			}
		})
	}
}
