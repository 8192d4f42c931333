package head

import (
	"fmt"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Dense is Keras' Dense(units) without activation: x·kernel + bias, for x [batch, in], with
// the variables kernel [in, units] and bias [units] in the next free "dense", "dense_1", …
// scope under scope. init fills a new kernel (default GlorotUniform(), Keras' default); the
// bias starts at zero. Apply the activation after it (activation.Relu).
func Dense(scope *model.Scope, x *graph.Node, units int, init ...Initializer) *graph.Node {
	if x.Rank() != 2 {
		panic(errors.Errorf("head.Dense(): x must be [batch, features] (Flatten or pool first), got %s", x.Shape()))
	}
	if units < 1 {
		panic(errors.Errorf("head.Dense(): units must be at least 1, got %d", units))
	}
	if len(init) > 1 {
		panic(errors.Errorf("head.Dense(): at most one initializer, got %d", len(init)))
	}
	kinit := GlorotUniform()
	if len(init) == 1 && init[0].fill != nil {
		kinit = init[0]
	}
	g := x.Graph()
	in := x.Shape().Dimensions[1]
	rec := recordOf(g)
	name, index := rec.name(scope, "dense")
	ls := scope.In("%s", name)
	seed := rec.layerSeed(scope, index, kinit)
	kernel := variable(ls, "kernel", []int{in, units}, true, func(f []float32) { kinit.fill(f, in, units, seed) })
	bias := variable(ls, "bias", []int{units}, true, nil)
	y := graph.MatMul(x, kernel.NodeValue(g))
	nn.RecordDense(x, y, kernel)
	out := graph.Add(y, graph.ExpandAxes(bias.NodeValue(g), 0))
	rec.add(Layer{Name: layerName(ls), Type: "Dense", Trainable: in*units + units, In: x, Out: out,
		Config: map[string]any{"units": units, "kernel_initializer": kinit.String()}})
	return out
}

// BatchNorm is Keras' BatchNormalization() over the last axis (momentum 0.99, epsilon 1e-3),
// with gamma, beta, moving_mean and moving_variance in the next free "batch_normalization", …
// scope: batch statistics while training (updating the moving ones), the moving ones otherwise.
func BatchNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	g := x.Graph()
	width := x.Shape().Dimensions[x.Rank()-1]
	rec := recordOf(g)
	name, _ := rec.name(scope, "batch_normalization")
	ls := scope.In("%s", name)
	ones := func(f []float32) {
		for i := range f {
			f[i] = 1
		}
	}
	bn := nn.BatchNorm{
		Gamma: variable(ls, "gamma", []int{width}, true, ones), Beta: variable(ls, "beta", []int{width}, true, nil),
		MovingMean: variable(ls, "moving_mean", []int{width}, false, nil), MovingVariance: variable(ls, "moving_variance", []int{width}, false, ones),
		Epsilon: BNEpsilon, Momentum: BNMomentum}
	out, _ := bn.Apply(x, scope.IsTraining(g))
	rec.add(Layer{Name: layerName(ls), Type: "BatchNormalization", Trainable: 2 * width, NonTrainable: 2 * width, In: x, Out: out,
		Config: map[string]any{"momentum": BNMomentum, "epsilon": BNEpsilon}})
	return out
}

// Flatten is Keras' Flatten(): [batch, …] → [batch, product of the rest]; x itself when it is
// already [batch, features] (pooled features).
func Flatten(x *graph.Node) *graph.Node {
	if x.Rank() <= 2 {
		return x
	}
	dims := x.Shape().Dimensions
	out := graph.Reshape(x, dims[0], x.Shape().Size()/max(dims[0], 1))
	recordOf(x.Graph()).add(Layer{Type: "Flatten", In: x, Out: out})
	return out
}

// GlobalAveragePooling is Keras' GlobalAveragePooling2D(): [batch, h, w, c] → [batch, c]
// (what the base's "avg" pooling does once for every photo, here in the head at every step).
func GlobalAveragePooling(x *graph.Node) *graph.Node {
	return pool(x, "GlobalAveragePooling2D", graph.ReduceMean)
}

// GlobalMaxPooling is Keras' GlobalMaxPooling2D(): [batch, h, w, c] → [batch, c].
func GlobalMaxPooling(x *graph.Node) *graph.Node {
	return pool(x, "GlobalMaxPooling2D", graph.ReduceMax)
}

func pool(x *graph.Node, typ string, reduce func(*graph.Node, ...int) *graph.Node) *graph.Node {
	if x.Rank() != 4 {
		panic(errors.Errorf("head.%s(): x must be a feature map [batch, h, w, c] (the base's output with pooling none), got %s",
			typ, x.Shape()))
	}
	out := reduce(x, 1, 2)
	recordOf(x.Graph()).add(Layer{Type: typ, In: x, Out: out})
	return out
}

// variable returns the variable name of scope, creating it when missing: with values from fill
// (nil: zeros), or with its shape only while a graph is being described (Describe).
func variable(scope *model.Scope, name string, dims []int, trainable bool, fill func([]float32)) *model.Variable {
	if v := scope.GetVariable(name); v != nil {
		if !shapes.Make(dtypes.Float32, dims...).Equal(v.Shape()) {
			panic(errors.Errorf("head: variable %s is %s, but the head now makes it %v: a changed head needs a new run folder",
				v.Path(), v.Shape(), dims))
		}
		return v.SetTrainable(trainable)
	}
	shape := shapes.Make(dtypes.Float32, dims...)
	var v *model.Variable
	if describing(scope.Store()) {
		v = scope.VariableWithShape(name, shape)
	} else {
		t := tensors.FromShape(shape)
		if fill != nil {
			tensors.MustMutableFlatData[float32](t, fill)
		}
		v = scope.VariableWithValue(name, t)
	}
	return v.SetTrainable(trainable)
}

// layerName is a layer's scope without the root's slash: "dense_1", "block/dense".
func layerName(scope *model.Scope) string { return strings.TrimPrefix(scope.Scope(), "/") }

// recordKey is the graph parameter holding a graph's record.
const recordKey = "/flowers_head_record"

// record is what the layers of one graph noted: the layers in order, and the counters that
// name them and seed their initial values.
type record struct {
	layers   []Layer
	names    map[string]int // scope/base name → layers of that name so far
	weighted int            // layers with weights so far (Dense and BatchNorm)
}

func recordOf(g *graph.Graph) *record {
	if r, ok := model.GetGraphParam(g, recordKey); ok {
		return r.(*record)
	}
	r := &record{names: map[string]int{}}
	model.SetGraphParam(g, recordKey, r)
	return r
}

// name returns Keras' name for the next layer of kind base under scope ("dense", "dense_1",
// …), and the index of that layer among the graph's layers with weights.
func (r *record) name(scope *model.Scope, base string) (string, int) {
	key := scope.Scope() + "|" + base
	n := r.names[key]
	r.names[key] = n + 1
	index := r.weighted
	r.weighted++
	if n == 0 {
		return base, index
	}
	return fmt.Sprintf("%s_%d", base, n), index
}

func (r *record) add(l Layer) {
	l.Output = l.Out.Shape().Dimensions[1:]
	r.layers = append(r.layers, l)
}

// layerSeed is the seed of a layer's initial values: the initializer's seed (or the run's,
// SeedParam) combined with the layer's index, so that each layer draws its own values.
func (r *record) layerSeed(scope *model.Scope, index int, init Initializer) uint64 {
	seed := init.seed
	if seed == 0 {
		seed = RunSeed(scope.Store())
	}
	return uint64(seed)*1000003 + uint64(index)
}

// graphRecord returns the layers noted while building g.
func graphRecord(g *graph.Graph) []Layer {
	return recordOf(g).layers
}
