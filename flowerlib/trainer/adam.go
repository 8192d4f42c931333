package trainer

import (
	"math"
	"path"
	"runtime"
	"sync"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Keras' Adam defaults (keras.optimizers.Adam()).
const (
	AdamBeta1   = 0.9
	AdamBeta2   = 0.999
	AdamEpsilon = 1e-7
	// AdamScope is where the optimizer's variables live in the Store, as GoMLX's Adam keeps
	// them: "/AdamOptimizer/<variable scope>/<name>_1st_moment", "…_2nd_moment" and
	// "/AdamOptimizer/step".
	AdamScope = optimizer.AdamDefaultScope
)

// Adam returns Keras' Adam (keras.optimizers.Adam, tf.keras and Keras 3 alike) as a GoMLX
// optimizer.Interface, for github.com/gomlx/gomlx/ml/train.Trainer:
//
//	m ← β1·m + (1-β1)·g;  v ← β2·v + (1-β2)·g²
//	w ← w − lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε)
//
// GoMLX's own optimizer.Adam() differs in one place: it adds ε to the bias-corrected
// sqrt(v̂), i.e. Keras' update with ε·sqrt(1-β2^t) (3e-9 instead of 1e-7 at step 1), which
// changes the steps of weights with gradients near 1e-6: the article's Flatten head has many.
// The variables are named and placed as GoMLX's Adam places them, and the learning rate is
// GoMLX's learning-rate variable (optimizer.LearningRateVar), so it can change between steps.
func Adam() optimizer.Interface { return kerasAdam{} }

// AdamOptions change Keras' Adam for the fine-tuning recipes; the zero value is Adam().
type AdamOptions struct {
	// Groups give variables their learning-rate multipliers (discriminative learning rates);
	// none: 1 for every variable.
	Groups Groups
	// ScheduledBeta1 reads β1 each step from the Store variable Beta1Var (one-cycle's momentum
	// schedule) instead of Keras' constant 0.9; the bias correction then uses the current β1,
	// 1 − β1^t, as fastai's adam_step does (debias(mom, 1-mom, step), fastai/optimizer.py).
	ScheduledBeta1 bool
}

// AdamWith returns Adam() changed by o, as an optimizer.Interface.
func AdamWith(o AdamOptions) optimizer.Interface { return kerasAdam{o} }

type kerasAdam struct{ AdamOptions }

// momentVars returns the Store variables of v's moments (created as zeros when missing).
func momentVars(store *model.Store, v *model.Variable) (m1, m2 *model.Variable) {
	scope := store.Scope(path.Join("/", AdamScope, v.Scope())).WithInitializer(initializer.Zero)
	shape := v.Shape()
	m1 = scope.VariableWithShape(v.Name()+"_1st_moment", shape).SetTrainable(false)
	m2 = scope.VariableWithShape(v.Name()+"_2nd_moment", shape).SetTrainable(false)
	return
}

// stepVar is Adam's step counter t (float32, as GoMLX's Adam keeps it).
func stepVar(store *model.Store) *model.Variable {
	return store.Scope("/"+AdamScope).WithInitializer(initializer.Zero).
		VariableWithShape("step", scalarFloat32).SetTrainable(false)
}

// UpdateGraph implements optimizer.Interface.
func (a kerasAdam) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		exceptions.Panicf("trainer.Adam: the loss must be a scalar, got %s", loss.Shape())
	}
	var vars []*model.Variable
	var nodes []*graph.Node
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			nodes = append(nodes, v.NodeValue(g))
		}
	}
	if len(vars) == 0 {
		exceptions.Panicf("trainer.Adam: no trainable variable is used by the model")
	}
	grads := graph.Gradient(loss, nodes...)
	store := scope.Store()
	lr := optimizer.LearningRateVar(scope, dtypes.Float32, optimizer.AdamDefaultLearningRate).NodeValue(g)
	tv := stepVar(store)
	t := graph.AddScalar(tv.NodeValue(g), 1)
	tv.SetNodeValue(t)
	// β1 and 1−β1 as float32 from the float64 value, as the host step rounds them; constants
	// unless scheduled.
	b1, c1 := graph.Scalar(g, dtypes.Float32, AdamBeta1), graph.Scalar(g, dtypes.Float32, 1-AdamBeta1)
	if a.ScheduledBeta1 {
		b1v := scope.Store().GetVariable(Beta1Var)
		if b1v == nil {
			b1v = store.Scope("/"+AdamScope).VariableWithValue("beta1", float64(AdamBeta1)).SetTrainable(false)
		}
		b1f64 := b1v.NodeValue(g)
		b1 = graph.ConvertDType(b1f64, dtypes.Float32)
		c1 = graph.ConvertDType(graph.OneMinus(b1f64), dtypes.Float32)
	}
	// lr_t = lr·sqrt(1-β2^t)/(1-β1^t)
	one := graph.ScalarOne(g, dtypes.Float32)
	pow := func(b *graph.Node) *graph.Node { return graph.Pow(b, t) }
	lrT := graph.Div(graph.Mul(lr, graph.Sqrt(graph.Sub(one, pow(graph.Scalar(g, dtypes.Float32, AdamBeta2))))), graph.Sub(one, pow(b1)))
	scales, err := lrScales(store, a.Groups, vars)
	if err != nil {
		panic(err)
	}
	for i, v := range vars {
		grad := grads[i]
		if grad.DType() != v.DType() {
			grad = graph.ConvertDType(grad, v.DType())
		}
		m1v, m2v := momentVars(store, v)
		m1 := graph.Add(graph.Mul(m1v.NodeValue(g), b1), graph.Mul(grad, c1))
		m2 := graph.Add(graph.MulScalar(m2v.NodeValue(g), AdamBeta2), graph.MulScalar(graph.Square(grad), 1-AdamBeta2))
		m1v.SetNodeValue(m1)
		m2v.SetNodeValue(m2)
		lrV := lrT
		if scales[i] != 1 {
			lrV = graph.Mul(lrT, graph.Scalar(g, dtypes.Float32, float64(scales[i])))
		}
		step := graph.Div(graph.Mul(lrV, m1), graph.AddScalar(graph.Sqrt(m2), AdamEpsilon))
		v.SetNodeValue(graph.Sub(v.NodeValue(g), step))
	}
}

// Clear implements optimizer.Interface: it deletes the optimizer's variables.
func (kerasAdam) Clear(scope *model.Scope) error {
	return scope.Store().DeleteVariablesInScope("/" + AdamScope)
}

// AdamStepSize returns Keras' step size lr·sqrt(1−β2^t)/(1−β1^t) for update t (1-based),
// computed as Keras computes it: in float32, with β^t = pow(float32(β), t) (tf-keras'
// optimizers/adam.py; Keras 3 alike). In float64 it would differ by 6e-6 relative at t = 1
// (float32(0.999) is 0.99900001), enough to set 20 steps apart by 7e-3 (tools/keras). The
// graph step computes the same in float32 on the device.
func AdamStepSize(lr float64, t int64) float32 { return adamStepSize(lr, AdamBeta1, t) }

// adamStepSize is AdamStepSize with β1 = beta1 (one-cycle's scheduled momentum).
func adamStepSize(lr, beta1 float64, t int64) float32 {
	b1t := float32(math.Pow(float64(float32(beta1)), float64(t)))
	b2t := float32(math.Pow(float64(float32(AdamBeta2)), float64(t)))
	return float32(lr) * float32(math.Sqrt(float64(1-b2t))) / (1 - b1t)
}

// adamApply applies one Adam update with step size lrT and β1 = beta1 (AdamBeta1 unless a
// schedule moves it) to w given its gradient g and the moments m, v, on the host, split over
// the cores. The go backend's fast path (see step.go): one pass over memory instead of a dozen
// graph ops.
func adamApply(w, g, m, v []float32, lrT float32, beta1 float64) {
	parallel(len(w), func(lo, hi int) { adamUpdate(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], lrT, beta1) })
}

// adamBeta1 returns β1 and 1−β1 rounded to float32 from float64, as the graph step does (for
// 0.9 these are the constants float32(0.9) and float32(0.1)).
func adamBeta1(beta1 float64) (b1, c1 float32) { return float32(beta1), float32(1 - beta1) }

func adamKernel(w, g, m, v []float32, lrT float32, beta1 float64) {
	// 1−β2 rounded from the exact 0.001 (as the vector kernels, the graph and Keras), not
	// 1 − float32(0.999) = 0.00099998713.
	const b2, c2, eps = float32(AdamBeta2), float32(1 - AdamBeta2), float32(AdamEpsilon)
	b1, c1 := adamBeta1(beta1)
	g = g[:len(w)]
	m = m[:len(w)]
	v = v[:len(w)]
	for i := range w {
		gi := g[i]
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= lrT * mi / (float32(math.Sqrt(float64(vi))) + eps)
	}
}

// parallel runs fn over [0, n) split in contiguous parts, one per core.
func parallel(n int, fn func(lo, hi int)) {
	workers := runtime.NumCPU()
	if n < 1<<16 || workers == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	part := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += part {
		hi := min(lo+part, n)
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	wg.Wait()
}

// adamApplyOuter applies one Adam update to a Dense kernel w [m, n] whose gradient is the
// outer product Aᵀ·B of its input a [k, m] and its output gradient b [k, n] (k = batch size).
// The gradient is never stored: each row is computed in registers and applied at once, which
// on the Flatten head saves writing and re-reading an 800 MB gradient every step.
func adamApplyOuter(w, mo, vo, in, outGrad []float32, k, m, n int, lrT float32, beta1 float64) {
	parallel(m*n, func(lo, hi int) {
		// Split by whole rows.
		rlo, rhi := (lo+n-1)/n, (hi+n-1)/n
		if hi == m*n {
			rhi = m
		}
		adamOuterRows(w, mo, vo, in, outGrad, k, m, n, rlo, rhi, lrT, beta1)
	})
}

// adamOuterRowsScalar is the portable adamOuterRows for rows [lo, hi) and columns [j0, n): the
// path of CPUs without a vector path here (ARM64, amd64 without AVX2, builds without
// GOEXPERIMENT=simd). Each gradient row is accumulated from the output-gradient rows in order
// (contiguous reads, four input rows per pass over g, a loop the compiler keeps in registers)
// rather than one strided dot product per column.
func adamOuterRowsScalar(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi, j0 int, lrT float32, beta1 float64) {
	g := make([]float32, n-j0)
	for d := lo; d < hi; d++ {
		clear(g)
		bi := 0
		for ; bi+4 <= k; bi += 4 {
			c0, c1, c2, c3 := in[bi*m+d], in[(bi+1)*m+d], in[(bi+2)*m+d], in[(bi+3)*m+d]
			r0 := outGrad[bi*n+j0 : bi*n+n]
			r1 := outGrad[(bi+1)*n+j0 : (bi+1)*n+n]
			r2 := outGrad[(bi+2)*n+j0 : (bi+2)*n+n]
			r3 := outGrad[(bi+3)*n+j0 : (bi+3)*n+n]
			r1, r2, r3 = r1[:len(g)], r2[:len(g)], r3[:len(g)]
			for j, x := range r0[:len(g)] {
				g[j] += c0*x + c1*r1[j] + c2*r2[j] + c3*r3[j]
			}
		}
		for ; bi < k; bi++ {
			c := in[bi*m+d]
			for j, x := range outGrad[bi*n+j0 : bi*n+n] {
				g[j] += c * x
			}
		}
		row := d * n
		adamKernel(w[row+j0:row+n], g, mo[row+j0:row+n], vo[row+j0:row+n], lrT, beta1)
	}
}

// VectorPath names a set of vector instructions a hand-written kernel runs with.
type VectorPath string

// The vector paths of the host Adam: 16 float32 lanes, 8 lanes (+ FMA), or portable Go.
const (
	PathAVX512 VectorPath = "avx512"
	PathAVX2   VectorPath = "avx2"
	PathScalar VectorPath = "scalar"
)

// adamPath is the path adamUpdate and adamOuterRows take: the widest this CPU and build
// support (detectAdamPath), lowered by tests to check every path against the portable one.
var adamPath = detectAdamPath()

// AdamVectorPath returns the vector instructions the go backend's host Adam uses on this
// machine: "avx512" (16 lanes), "avx2" (8 lanes with FMA) or "scalar" (portable Go: other
// CPUs, ARM64, or a build without GOEXPERIMENT=simd). GODEBUG=cpu.avx512f=off lowers it.
func AdamVectorPath() VectorPath { return adamPath }
