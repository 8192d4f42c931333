// Package head is the classification head the seed article puts on the frozen ResNet50:
//
//	Flatten → BatchNormalization → Dense(2048, relu, he_normal(42))
//	        → BatchNormalization → Dense(1024, relu, he_normal(42))
//	        → BatchNormalization → Dense(5, softmax)
//
// trained with categorical cross-entropy and Adam (Keras defaults; flowerlib/trainer). Besides the seed's
// Flatten over [7, 7, 2048] features (~205M weights in the first Dense), the same head runs on
// globally average- or max-pooled features [2048] (the pooling is done by the base, so the
// cached features are 49× smaller), with optional dropout after each hidden layer.
//
// Variables carry the names Keras gives these layers in the seed's model ("batch_normalization",
// "dense", "batch_normalization_1", "dense_1", …, "dense_2"), each with Keras' weight names
// (kernel, bias, gamma, beta, moving_mean, moving_variance), so they can be compared by name.
//
// Keras semantics reproduced: BatchNormalization(momentum=0.99, epsilon=1e-3) normalises with the
// batch mean and (biased) variance while training and updates the moving statistics as
// moving = 0.99·moving + 0.01·batch; in inference it uses the moving statistics. he_normal is
// VarianceScaling(2, fan_in, truncated_normal): a normal truncated at 2σ with σ =
// sqrt(2/fan_in)/0.87962566 (so the truncated values have stddev sqrt(2/fan_in)); the last
// Dense uses glorot_uniform (limit sqrt(6/(fan_in+fan_out))); biases start at zero.
package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	gomlxlayers "github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Kind selects what the head sees: the seed's flattened 7×7×2048 feature map, or the
// base's global average or max pooling of it.
type Kind string

const (
	Flatten Kind = "flatten" // input [batch, 7, 7, 2048] (the seed)
	Avg     Kind = "avg"     // input [batch, 2048], GlobalAveragePooling2D done by the base
	Max     Kind = "max"     // input [batch, 2048], GlobalMaxPooling2D done by the base
)

// Keras constants the head reproduces.
const (
	BNMomentum = 0.99
	BNEpsilon  = 1e-3
	// FeatureChannels is ResNet50's last feature depth; FeatureGrid its 7×7 grid at 224².
	FeatureChannels = 2048
	FeatureGrid     = 7
)

// Config describes a head. The zero value plus Kind is the seed's head (see Defaults).
type Config struct {
	Kind    Kind    `json:"kind"`
	Classes int     `json:"classes"` // output classes; default 5
	Hidden  []int   `json:"hidden"`  // hidden Dense widths; default [2048, 1024]
	Dropout float64 `json:"dropout"` // rate after each hidden Dense's ReLU while training; 0 (the article's) = none
	// InitSeed seeds the initialisers; default 42, as the article's he_normal(seed=42).
	InitSeed int64 `json:"init_seed"`
	// Grid is the side of the base's feature map the Flatten head sees: 7 at 224² (the default);
	// the learner sets it from the base's output shape for other image sizes.
	Grid int `json:"grid,omitempty"`
}

// Defaults fills unset fields with the seed's values.
func (c Config) Defaults() Config {
	if c.Kind == "" {
		c.Kind = Flatten
	}
	if c.Classes == 0 {
		c.Classes = defaults.Classes
	}
	if len(c.Hidden) == 0 {
		c.Hidden = defaults.Hidden()
	}
	if c.InitSeed == 0 {
		c.InitSeed = defaults.Seed
	}
	if c.Grid == 0 {
		c.Grid = FeatureGrid
	}
	return c
}

// Validate reports a configuration that cannot be built.
func (c Config) Validate() error {
	switch c.Kind {
	case Flatten, Avg, Max:
	default:
		return errors.Errorf("head: unknown kind %q (want flatten, avg or max)", c.Kind)
	}
	if c.Classes < 2 {
		return errors.Errorf("head: need at least 2 classes, got %d", c.Classes)
	}
	for _, h := range c.Hidden {
		if h <= 0 {
			return errors.Errorf("head: hidden widths must be positive, got %v", c.Hidden)
		}
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) { // also refuses NaN
		return errors.Errorf("head: dropout must be in [0, 1), got %g", c.Dropout)
	}
	return nil
}

// InputDims returns the per-example feature dims the head takes: [7, 7, 2048] for Flatten,
// [2048] for the pooled kinds.
func (c Config) InputDims() []int {
	if c.Kind == Flatten {
		g := c.Grid
		if g == 0 {
			g = FeatureGrid
		}
		return []int{g, g, FeatureChannels}
	}
	return []int{FeatureChannels}
}

// InputSize is the product of InputDims.
func (c Config) InputSize() int {
	n := 1
	for _, d := range c.InputDims() {
		n *= d
	}
	return n
}

// Layer is one of the head's Keras layers with weights.
type Layer struct {
	Name string // Keras layer name, e.g. "dense_1"
	BN   bool   // BatchNormalization (else Dense)
	In   int    // input width
	Out  int    // output width (Dense) or features (BN)
}

// Layers lists the head's layers with weights, in order.
func (c Config) Layers() []Layer {
	c = c.Defaults()
	var ls []Layer
	width := c.InputSize()
	bnName := func(i int) string { return kerasName("batch_normalization", i) }
	for i, h := range c.Hidden {
		ls = append(ls, Layer{Name: bnName(i), BN: true, In: width, Out: width})
		ls = append(ls, Layer{Name: kerasName("dense", i), In: width, Out: h})
		width = h
	}
	ls = append(ls, Layer{Name: bnName(len(c.Hidden)), BN: true, In: width, Out: width})
	ls = append(ls, Layer{Name: kerasName("dense", len(c.Hidden)), In: width, Out: c.Classes})
	return ls
}

// NumParams returns (trainable, non-trainable) parameter counts, as Keras' summary counts them
// (BN moving statistics are non-trainable).
func (c Config) NumParams() (trainable, nonTrainable int) {
	for _, l := range c.Layers() {
		if l.BN {
			trainable += 2 * l.Out
			nonTrainable += 2 * l.Out
		} else {
			trainable += l.In*l.Out + l.Out
		}
	}
	return
}

func kerasName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, i)
}

// Init creates the head's variables under scope with Keras' initial values, generated on the
// host from cfg.Seed (deterministic for a seed, whatever the backend). Variables that already
// exist (e.g. restored from a checkpoint) are left alone.
func Init(scope *model.Scope, cfg Config) error {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	layers := cfg.Layers()
	for li, l := range layers {
		ls := scope.In("%s", l.Name)
		create := func(name string, dims []int, fill func([]float32), trainable bool) error {
			if v := ls.GetVariable(name); v != nil {
				if !slicesEqual(v.Shape().Dimensions, dims) {
					return errors.Errorf("head: variable %s has shape %v, want %v", v.Path(), v.Shape().Dimensions, dims)
				}
				return nil
			}
			t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
			tensors.MustMutableFlatData[float32](t, fill)
			v, err := ls.CreateVariable(name, t)
			if err != nil {
				return errors.WithMessagef(err, "head: creating %s/%s", l.Name, name)
			}
			v.SetTrainable(trainable)
			return nil
		}
		var err error
		if l.BN {
			for _, w := range []struct {
				name      string
				value     float32
				trainable bool
			}{{"gamma", 1, true}, {"beta", 0, true}, {"moving_mean", 0, false}, {"moving_variance", 1, false}} {
				value := w.value
				if err = create(w.name, []int{l.Out}, func(f []float32) { fillConst(f, value) }, w.trainable); err != nil {
					return err
				}
			}
			continue
		}
		seed := uint64(cfg.InitSeed)*1000003 + uint64(li)
		var fill func([]float32)
		if li == len(layers)-1 {
			limit := math.Sqrt(6 / float64(l.In+l.Out))
			fill = func(f []float32) { GlorotUniform(f, limit, seed) }
		} else {
			fill = func(f []float32) { HeNormal(f, l.In, seed) }
		}
		if err = create("kernel", []int{l.In, l.Out}, fill, true); err != nil {
			return err
		}
		if err = create("bias", []int{l.Out}, func(f []float32) { fillConst(f, 0) }, true); err != nil {
			return err
		}
	}
	return nil
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func fillConst(f []float32, v float32) {
	for i := range f {
		f[i] = v
	}
}

// chunked runs fn over [0, n) in fixed chunks of 1<<20 values, each with its own seeded
// generator, spread over the cores: the values depend only on the seed, not on scheduling.
func chunked(n int, seed uint64, fn func(lo, hi int, r *rand.Rand)) {
	const chunk = 1 << 20
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		sem <- struct{}{}
		go func(lo, hi int) {
			defer func() { <-sem; wg.Done() }()
			fn(lo, hi, rand.New(rand.NewPCG(seed, uint64(lo))))
		}(lo, hi)
	}
	wg.Wait()
}

// HeNormal fills f with Keras' he_normal: truncated normal (re-drawn beyond 2σ) with
// σ = sqrt(2/fanIn)/0.87962566103423978.
func HeNormal(f []float32, fanIn int, seed uint64) {
	stddev := math.Sqrt(2/float64(fanIn)) / 0.87962566103423978
	chunked(len(f), seed, func(lo, hi int, r *rand.Rand) {
		for i := lo; i < hi; i++ {
			x := r.NormFloat64()
			for x < -2 || x > 2 {
				x = r.NormFloat64()
			}
			f[i] = float32(x * stddev)
		}
	})
}

// GlorotUniform fills f with uniform values in [-limit, limit).
func GlorotUniform(f []float32, limit float64, seed uint64) {
	chunked(len(f), seed, func(lo, hi int, r *rand.Rand) {
		for i := lo; i < hi; i++ {
			f[i] = float32((2*r.Float64() - 1) * limit)
		}
	})
}

// Logits builds the head on features, float32 [batch, InputDims...], and returns the logits
// [batch, Classes] (Probabilities applies the softmax). While the graph is training
// (model.Store.IsTraining), BatchNorm uses batch statistics and updates its moving averages,
// and dropout is active. Init must have created the variables.
func Logits(scope *model.Scope, features *graph.Node, cfg Config) *graph.Node {
	return forward(scope, features, cfg, nil)
}

// tape records a training graph's pieces for TrainGradients: the first BatchNorm's x̂ and
// output, and for each Dense its input, matmul output, kernel and the variables of the segment
// after it (bias, the next BatchNorm's γ and β).
type tape struct {
	xhat          *graph.Node
	gamma0, beta0 *model.Variable
	dense         []tapeDense
}

type tapeDense struct {
	in, y, kernel *graph.Node
	kernelVar     *model.Variable
	after         []*model.Variable // bias, then γ, β of the next BatchNorm (if any)
}

func forward(scope *model.Scope, features *graph.Node, cfg Config, tp *tape) *graph.Node {
	cfg = cfg.Defaults()
	g := features.Graph()
	dims := features.Shape().Dimensions
	if features.Rank() < 2 || !slicesEqual(dims[1:], cfg.InputDims()) {
		panic(errors.Errorf("head.Logits(): features must be [batch, %v] for a %s head, got %s",
			cfg.InputDims(), cfg.Kind, features.Shape()))
	}
	training := scope.IsTraining(g)
	x := graph.Reshape(features, dims[0], cfg.InputSize()) // Flatten
	layers := cfg.Layers()
	for li, l := range layers {
		ls := scope.In("%s", l.Name)
		v := func(name string) *model.Variable {
			vr := ls.GetVariable(name)
			if vr == nil {
				panic(errors.Errorf("head.Logits(): variable %s/%s missing: call head.Init first", l.Name, name))
			}
			return vr
		}
		if l.BN {
			var xhat *graph.Node
			bn := nn.BatchNorm{Gamma: v("gamma"), Beta: v("beta"), MovingMean: v("moving_mean"), MovingVariance: v("moving_variance"),
				Epsilon: BNEpsilon, Momentum: BNMomentum}
			x, xhat = bn.Apply(x, training)
			if tp != nil {
				if li == 0 {
					tp.xhat, tp.gamma0, tp.beta0 = xhat, v("gamma"), v("beta")
				} else {
					last := &tp.dense[len(tp.dense)-1]
					last.after = append(last.after, v("gamma"), v("beta"))
				}
			}
			continue
		}
		kernel := v("kernel").NodeValue(g)
		in := x
		x = graph.MatMul(x, kernel)
		if tp != nil {
			// TrainGradients asks autodiff only for gradients down to this matmul's output and
			// does the matmul's own by hand. (No StopGradient on the kernel: on the go backend
			// it is an Identity that copies its input.)
			tp.dense = append(tp.dense, tapeDense{in: in, y: x, kernel: kernel, kernelVar: v("kernel"), after: []*model.Variable{v("bias")}})
		}
		x = graph.Add(x, graph.ExpandAxes(v("bias").NodeValue(g), 0))
		if li < len(layers)-1 {
			x = activation.Relu(x)
			x = gomlxlayers.DropoutStatic(scope, x, cfg.Dropout) // only while training
		}
	}
	return x
}

// TrainGradients builds the training graph of the head on constant features (cached base
// outputs) with labels (int32 [batch]). The caller must have marked the graph as training
// (model.Store.SetTraining).
//
// It equals autodiff of Loss(Logits(...)), but does the Dense layers' matmuls by hand: each
// kernel's gradient xᵀ·dy is returned as its two factors (Outer), for the trainer to fuse with
// the Adam update, and dx = dy·Wᵀ is an einsum laid out so that the go backend never transposes
// a kernel. GoMLX's generic matmul gradient transposes and writes the full gradient, which for
// the flatten head's 205M-weight kernel costs several times the matmuls themselves. Because the
// features are constants, the first BatchNorm's gradients reduce to dγ = Σ_batch dx·x̂ and
// dβ = Σ_batch dx.
func TrainGradients(scope *model.Scope, features, labels *graph.Node, cfg Config) *trainer.Gradients {
	g := features.Graph()
	tp := &tape{}
	logits := forward(scope, features, cfg, tp)
	r := &trainer.Gradients{Loss: trainer.SparseCrossEntropy(logits, labels), Correct: trainer.Correct(logits, labels),
		Outer: map[int][2]*graph.Node{}}
	byVar := map[*model.Variable]*graph.Node{}
	outer := map[*model.Variable][2]*graph.Node{}
	// Backward, one segment (matmul output → next matmul input) at a time: autodiff of the
	// segment's vector-Jacobian product ⟨next input, dx⟩ gives dy and the segment's variables'
	// gradients; the matmul's dx = dy·Wᵀ and dW = xᵀ·dy are done here.
	target := r.Loss
	var dx *graph.Node
	for k := len(tp.dense) - 1; k >= 0; k-- {
		d := tp.dense[k]
		nodes := []*graph.Node{d.y}
		for _, v := range d.after {
			nodes = append(nodes, v.NodeValue(g))
		}
		gs := graph.Gradient(target, nodes...)
		dy := gs[0]
		for i, v := range d.after {
			byVar[v] = gs[1+i]
		}
		outer[d.kernelVar] = [2]*graph.Node{d.in, dy}
		dx = graph.Einsum("bh,dh->bd", dy, d.kernel)
		if k > 0 {
			target = graph.ReduceAllSum(graph.Mul(d.in, graph.StopGradient(dx)))
		}
	}
	byVar[tp.gamma0] = graph.ReduceSum(graph.Mul(dx, tp.xhat), 0)
	byVar[tp.beta0] = graph.ReduceSum(dx, 0)
	for v := range outer {
		byVar[v] = nil
	}
	for v := range byVar {
		r.Vars = append(r.Vars, v)
	}
	sort.Slice(r.Vars, func(i, j int) bool { return r.Vars[i].Path() < r.Vars[j].Path() })
	for i, v := range r.Vars {
		r.Grads = append(r.Grads, byVar[v])
		if ab, ok := outer[v]; ok {
			r.Outer[i] = ab
		}
	}
	return r
}

// Summary returns a Keras-like table of the head's layers (name, type, output shape, params)
// with the totals, as model.summary() prints them for the seed's head.
func (c Config) Summary() string {
	c = c.Defaults()
	var b strings.Builder
	line := strings.Repeat("_", 72) + "\n"
	fmt.Fprintf(&b, "%s%-34s %-22s %12s\n%s", line, "Layer (type)", "Output Shape", "Param #", strings.Repeat("=", 72)+"\n")
	if c.Kind == Flatten {
		fmt.Fprintf(&b, "%-34s %-22s %12d\n", "flatten (Flatten)", fmt.Sprintf("(None, %d)", c.InputSize()), 0)
	}
	for _, l := range c.Layers() {
		typ, params := "Dense", l.In*l.Out+l.Out
		if l.BN {
			typ, params = "BatchNormalization", 4*l.Out
		}
		fmt.Fprintf(&b, "%-34s %-22s %12d\n", fmt.Sprintf("%s (%s)", l.Name, typ), fmt.Sprintf("(None, %d)", l.Out), params)
	}
	tr, nt := c.NumParams()
	fmt.Fprintf(&b, "%sTotal params: %d\nTrainable params: %d\nNon-trainable params: %d\n%s",
		strings.Repeat("=", 72)+"\n", tr+nt, tr, nt, line)
	return b.String()
}
