package runner

import (
	"sync"

	"github.com/flowerlib/flowers/flowerlib/export"

	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Scopes of a Predictor's Store: the base's variables under BaseScope (as learner's fine-tuned
// models), the head's under HeadScope.
const (
	BaseScope = "resnet50"
	HeadScope = "head"
)

// Predictor runs a Model on a GoMLX backend: the frozen ResNet50 and the head's layers. The base
// is resnet50.NewBase's on CPU backends (its host path, resnet50.RunsOnHost), with the head
// a graph on its features; elsewhere the base built by resnet50.BuildGraph (the code training
// and `flowers predict` run) and the head are one graph. It is safe for concurrent use; calls
// run one at a time.
type Predictor struct {
	Model   *export.Model
	backend compute.Backend
	store   *model.Store
	exec    *model.Exec    // images → probabilities, or with base, features → probabilities
	base    *resnet50.Base // the frozen base on the host; nil when it is in exec's graph
	mu      sync.Mutex
}

// NewPredictor loads m's weights into a Store on backend and prepares the graph (compiled per
// batch size on first use).
func NewPredictor(backend compute.Backend, m *export.Model) (*Predictor, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	p := &Predictor{Model: m, backend: backend, store: model.NewStore()}
	create := func(scope *model.Scope, name string, t export.Tensor) error {
		v, err := scope.CreateVariable(name, tensors.FromFlatDataAndDimensions(t.Data, t.Dims...))
		if err != nil {
			return errors.WithMessage(err, "runner.NewPredictor")
		}
		v.SetTrainable(false)
		return nil
	}
	graphFn := p.graph
	if resnet50.RunsOnHost(backend) {
		w, err := m.BaseWeights()
		if err != nil {
			return nil, err
		}
		if p.base, err = resnet50.NewBase(backend, w, resnet50.Options{Pooling: m.Pooling, Height: m.ImageSize, Width: m.ImageSize}); err != nil {
			return nil, errors.WithMessage(err, "runner.NewPredictor")
		}
		graphFn = func(scope *model.Scope, features *graph.Node) *graph.Node {
			return HeadGraph(scope.In(HeadScope), features, p.Model.Head)
		}
	} else {
		layers, err := resnet50.Layers(m.BaseOptions())
		if err != nil {
			return nil, err
		}
		for _, l := range layers {
			for _, w := range l.Weights {
				if err := create(p.store.RootScope().At(BaseScope).At("%s", l.Name), w.Name, m.Base[l.Name+"/"+w.Name]); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, l := range m.Head {
		for _, w := range l.Weights {
			if err := create(p.store.RootScope().At(HeadScope).At("%s", l.Name), w.Name, w.Tensor); err != nil {
				return nil, err
			}
		}
	}
	var err error
	p.exec, err = model.NewExec(backend, p.store, graphFn)
	if err != nil {
		return nil, errors.WithMessage(err, "runner.NewPredictor")
	}
	return p, nil
}

// graph is the whole model on images [n, size, size, 3] (RGB 0..255): probabilities [n, classes].
func (p *Predictor) graph(scope *model.Scope, images *graph.Node) *graph.Node {
	x := resnet50.BuildGraph(scope.In(BaseScope), images).Trainable(false).Pooling(p.Model.Pooling).Done()
	return HeadGraph(scope.In(HeadScope), x, p.Model.Head)
}

// HeadGraph builds the inference graph of head layers on x, with the layers' variables under
// scope in sub-scopes named after them (created beforehand). Dropout is the identity, as in
// inference; BatchNormalization uses its moving statistics (flowerlib/internal/nn, the head's
// own definition).
func HeadGraph(scope *model.Scope, x *graph.Node, layers []export.Layer) *graph.Node {
	g := x.Graph()
	for i := range layers {
		l := &layers[i]
		ls := scope.In("%s", l.Name)
		v := func(name string) *model.Variable {
			vr := ls.GetVariable(name)
			if vr == nil {
				exceptions.Panicf("runner.HeadGraph(): layer %q has no variable %q", l.Name, name)
			}
			return vr
		}
		switch l.Type {
		case export.Flatten:
			x = graph.Reshape(x, x.Shape().Dimensions[0], -1)
		case export.Dense:
			x = graph.Add(graph.MatMul(x, v("kernel").NodeValue(g)), graph.ExpandAxes(v("bias").NodeValue(g), 0))
		case export.BatchNormalization:
			bn := nn.BatchNorm{Gamma: v("gamma"), Beta: v("beta"), MovingMean: v("moving_mean"), MovingVariance: v("moving_variance"),
				Epsilon: l.Epsilon}
			x, _ = bn.Apply(x, false)
		case export.Dropout, export.Activation:
		default:
			exceptions.Panicf("runner.HeadGraph(): layer %q has unknown type %q", l.Name, l.Type)
		}
		switch l.Activation {
		case export.ReLU:
			x = activation.Relu(x)
		case export.Softmax:
			x = graph.Softmax(x, -1)
		}
	}
	return x
}

// ExtractFloats returns the probabilities [n, classes] (flat) of n images, pixels float32
// [n, height, width, 3] RGB 0..255 (flat), height and width the model's ImageSize. With
// OutputShape it makes the Predictor a features.Extractor, so the photos are decoded and
// batched by the loop `flowers predict` runs.
func (p *Predictor) ExtractFloats(pixels []float32, n, height, width int) ([]float32, error) {
	s := p.Model.ImageSize
	if height != s || width != s || len(pixels) != n*s*s*3 {
		return nil, errors.Errorf("export: %d values of %d×%d images, the model takes %d×%d×3", len(pixels), height, width, s, s)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var in *tensors.Tensor
	if p.base != nil {
		feats, err := p.base.ExtractFloats(pixels, n, s, s)
		if err != nil {
			return nil, errors.WithMessage(err, "export: running the model")
		}
		in = tensors.FromFlatDataAndDimensions(feats, p.base.OutputShape(n, s, s)...)
	} else {
		in = tensors.FromFlatDataAndDimensions(pixels, n, s, s, 3)
	}
	defer in.FinalizeAll()
	var out *tensors.Tensor
	err := exceptions.TryCatch[error](func() { out = p.exec.MustCall1(in) })
	if err != nil {
		return nil, errors.WithMessage(err, "export: running the model")
	}
	defer out.FinalizeAll()
	return tensors.MustCopyFlatData[float32](out), nil
}

// OutputShape is [n, classes].
func (p *Predictor) OutputShape(n, height, width int) []int { return []int{n, len(p.Model.Classes)} }

// Finalize frees the graphs and weights.
func (p *Predictor) Finalize() {
	if p.base != nil {
		p.base.Finalize()
	}
	p.exec.Finalize()
	p.store.Finalize()
}
