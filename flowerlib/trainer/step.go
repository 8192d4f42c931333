package trainer

import (
	"path"
	"sort"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gomlxtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Step implementations (Config.StepKind).
const (
	// StepGraph is GoMLX's train.Trainer with Adam in the compiled graph: the optimizer state
	// stays on the device. The general path, used on every XLA backend.
	StepGraph = "graph"
	// StepHost computes the loss and gradients in a graph and applies Keras' Adam on the host,
	// fused over the variables' shared memory: the go backend's fast path. A model that is a
	// chain of Dense layers (sequentialGradients) gets its kernels' gradients as outer products
	// fused into the update.
	StepHost = "host"
	// StepHostAutodiff is StepHost with plain autodiff gradients (tests compare the two).
	StepHostAutodiff = "host-autodiff"
)

var scalarFloat32 = shapes.Make(dtypes.Float32)

// Step is one optimizer step on a batch, the one interface behind which the go backend's
// hand-fused update sits beside GoMLX's general one. Both keep the same Store variables
// (weights, AdamScope's moments and step), so a checkpoint of one resumes with the other.
type Step interface {
	// Run trains on one batch (x, int32 labels y; it takes ownership of both) and returns
	// the batch's mean loss and number of correct predictions.
	Run(x, y *tensors.Tensor) (loss, correct float64, err error)
	// SetLearningRate sets the learning rate of the next steps.
	SetLearningRate(lr float64) error
	// Kind is StepGraph or StepHost.
	Kind() string
	Finalize()
}

func newStep(t *Trainer) (Step, error) {
	kind := t.StepKind
	_, isAdam := t.Optimizer.(kerasAdam)
	if kind == "" {
		kind = StepGraph
		if backend.IsGo(t.Backend) && isAdam {
			kind = StepHost
		}
	}
	if kind != StepGraph && !isAdam {
		return nil, errors.Errorf("trainer: the %s step implements Keras' Adam only (trainer.Adam()); %T trains with the graph step", kind, t.Optimizer)
	}
	switch kind {
	case StepGraph:
		return newGraphStep(t), nil
	case StepHost, StepHostAutodiff:
		return newHostStep(t)
	}
	return nil, errors.Errorf("trainer: unknown step kind %q (want %q or %q)", kind, StepGraph, StepHost)
}

// graphStep is GoMLX's train.Trainer: model, loss, Keras' Adam and the metrics in one graph.
type graphStep struct {
	t       *Trainer
	trainer *gomlxtrain.Trainer
}

// batchCorrect is a train metric that outputs the batch's number of correct predictions.
func batchCorrect() metric.Interface {
	return metric.NewBaseMetric("correct", "correct", "count",
		func(_ *model.Scope, labels, predictions []*graph.Node) *graph.Node {
			return Correct(predictions[0], labels[0])
		}, nil)
}

func newGraphStep(t *Trainer) *graphStep {
	modelFn := func(scope *model.Scope, x *graph.Node) *graph.Node { return t.Model(scope, x) }
	lossFn := func(labels, predictions []*graph.Node) *graph.Node { return t.Loss(predictions[0], labels[0]) }
	opt := t.Optimizer
	if _, ok := opt.(kerasAdam); ok { // Keras' Adam with the recipes' groups and β1 schedule
		opt = AdamWith(AdamOptions{Groups: t.LRGroups, ScheduledBeta1: t.Schedule.SchedulesBeta1()})
	}
	tr := gomlxtrain.NewTrainer(t.Backend, t.Store, modelFn, lossFn, opt, []metric.Interface{batchCorrect()}, nil)
	return &graphStep{t: t, trainer: tr}
}

func (s *graphStep) Kind() string { return StepGraph }

func (s *graphStep) SetLearningRate(lr float64) error {
	v := optimizer.LearningRateVar(s.t.Store.RootScope(), dtypes.Float32, lr)
	return v.SetValue(tensors.FromScalar(float32(lr)))
}

func (s *graphStep) Run(x, y *tensors.Tensor) (loss, correct float64, err error) {
	metrics, err := s.trainer.TrainStep(gomlxtrain.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}})
	if err != nil {
		return 0, 0, err
	}
	// Metrics: batch loss, moving-average loss (GoMLX adds both), then correct.
	loss = float64(tensors.ToScalar[float32](metrics[0]))
	correct = float64(tensors.ToScalar[float32](metrics[2]))
	for _, m := range metrics {
		m.FinalizeAll()
	}
	return loss, correct, nil
}

func (s *graphStep) Finalize() {
	if s.trainer != nil {
		s.trainer.ResetComputationGraphs()
	}
}

// Gradients is what the host step computes: the loss, the number of correct predictions and
// the gradient of every trainable variable (Vars sorted by path). Grads[i] is nil when Outer holds
// that variable's gradient as an outer product: Outer[i] = {A, B} means Aᵀ·B, with A a Dense
// layer's input [batch, in] and B its output gradient [batch, out]; the host step fuses that
// product with the Adam update and never stores the gradient.
type Gradients struct {
	Loss, Correct *graph.Node
	Vars          []*model.Variable
	Grads         []*graph.Node
	Outer         map[int][2]*graph.Node
}

// Full returns every gradient in full, forming the outer products (tests, tools).
func (r *Gradients) Full() []*graph.Node {
	out := append([]*graph.Node(nil), r.Grads...)
	for i, ab := range r.Outer {
		out[i] = graph.Einsum("bd,bh->dh", ab[0], ab[1])
	}
	return out
}

// hostStep runs the loss and gradients as a graph and Keras' Adam on the host.
type hostStep struct {
	t    *Trainer
	exec *model.Exec
	lr   float64
	// per batch size: the trainable variables in output order, and which are outer products
	vars map[int][]*model.Variable
	kind map[int][]bool
	// fused is how many kernels' gradients the last built graph fuses as outer products.
	fused int
}

func newHostStep(t *Trainer) (*hostStep, error) {
	s := &hostStep{t: t, lr: t.LearningRate, vars: map[int][]*model.Variable{}, kind: map[int][]bool{}}
	var err error
	s.exec, err = model.NewExec(t.Backend, t.Store, s.graph)
	if err != nil {
		return nil, errors.WithMessage(err, "trainer: building the training step")
	}
	return s, nil
}

func (s *hostStep) Kind() string { return StepHost }

// FusedKernels is how many Dense kernels get their gradient as an outer product fused into the
// update (sequentialGradients); 0 when the model is trained with plain autodiff.
func (s *hostStep) FusedKernels() int { return s.fused }

func (s *hostStep) SetLearningRate(lr float64) error { s.lr = lr; return nil }

func (s *hostStep) Finalize() { s.exec.Finalize() }

// graph: inputs x, labels → loss, correct, then per trainable variable its gradient (or the
// two factors of an outer-product gradient).
func (s *hostStep) graph(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	x, labels := inputs[0], inputs[1]
	g := x.Graph()
	t := s.t
	t.Store.SetTraining(g, true)
	batch := x.Shape().Dimensions[0]
	tape := nn.StartTape(g)
	logits := t.Model(scope, x)
	loss, correct := t.Loss(logits, labels), Correct(logits, labels)
	var vars []*model.Variable
	for v := range t.Store.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Path() < vars[j].Path() })
	var r *Gradients
	if t.StepKind != StepHostAutodiff {
		r = sequentialGradients(x, loss, tape, vars)
	}
	if r == nil {
		r = &Gradients{Vars: vars}
		nodes := make([]*graph.Node, len(vars))
		for i, v := range vars {
			nodes[i] = v.NodeValue(g)
		}
		r.Grads = graph.Gradient(loss, nodes...)
	}
	r.Loss, r.Correct = loss, correct
	outs := []*graph.Node{r.Loss, r.Correct}
	kinds := make([]bool, len(r.Vars))
	for i := range r.Vars {
		if ab, ok := r.Outer[i]; ok {
			kinds[i] = true
			outs = append(outs, ab[0], ab[1])
		} else {
			outs = append(outs, r.Grads[i])
		}
	}
	s.vars[batch], s.kind[batch], s.fused = r.Vars, kinds, len(r.Outer)
	return outs
}

// shared moves a variable's value into backend-shared memory (once), so the host update
// writes the buffer the next graph reads, with no copy.
func (s *hostStep) shared(v *model.Variable) (*tensors.Tensor, error) {
	val, err := v.Value()
	if err != nil {
		return nil, err
	}
	if val.IsShared() || !s.t.Backend.HasSharedBuffers() {
		return val, nil
	}
	sh, err := tensors.FromShapeForBackend(s.t.Backend, 0, val.Shape())
	if err != nil {
		return nil, err
	}
	// Byte copy rather than Tensor.CopyFrom, which (GoMLX v0.28.2) dereferences a nil local
	// buffer when copying a local tensor into a shared one.
	var copyErr error
	if err := sh.MutableBytes(func(dst []byte) {
		copyErr = val.ConstBytes(func(src []byte) { copy(dst, src) })
	}); err != nil {
		return nil, err
	}
	if copyErr != nil {
		return nil, copyErr
	}
	if err := v.SetValue(sh); err != nil {
		return nil, err
	}
	return sh, nil
}

// hostZeros returns the variable at fullPath with a value: created (or filled) with zeros when
// it has none yet. Variables made by GoMLX's graph path get their values only when a graph
// runs; the host path needs them before.
func hostZeros(store *model.Store, fullPath string, shape shapes.Shape) (*model.Variable, error) {
	v := store.GetVariable(fullPath)
	if v != nil && v.HasValue() {
		return v, nil
	}
	zeros := tensors.FromShape(shape)
	if v != nil {
		return v, v.SetValue(zeros)
	}
	v, err := store.CreateVariable(fullPath, zeros)
	if err != nil {
		return nil, err
	}
	return v.SetTrainable(false), nil
}

// moments returns v's Adam moments as shared host tensors, with the paths momentVars gives.
func (s *hostStep) moments(v *model.Variable) (m1, m2 *tensors.Tensor, err error) {
	base := path.Join("/", AdamScope, v.Scope(), v.Name())
	var out [2]*tensors.Tensor
	for i, suffix := range []string{"_1st_moment", "_2nd_moment"} {
		mv, err := hostZeros(s.t.Store, base+suffix, v.Shape())
		if err != nil {
			return nil, nil, err
		}
		if out[i], err = s.shared(mv); err != nil {
			return nil, nil, err
		}
	}
	return out[0], out[1], nil
}

func (s *hostStep) Run(x, y *tensors.Tensor) (loss, correct float64, err error) {
	defer x.FinalizeAll()
	var outs []*tensors.Tensor
	if err := exceptions.TryCatch[error](func() { outs = s.exec.MustExec(x, y) }); err != nil {
		return 0, 0, err
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	batch := x.Shape().Dimensions[0]
	store := s.t.Store
	tv, err := hostZeros(store, "/"+AdamScope+"/step", scalarFloat32)
	if err != nil {
		return 0, 0, err
	}
	t := int64(tensors.ToScalar[float32](tv.MustValue())) + 1
	b1 := s.t.beta1()
	lrT := adamStepSize(s.lr, b1, t)
	scales, err := lrScales(store, s.t.LRGroups, s.vars[batch])
	if err != nil {
		return 0, 0, err
	}
	next := 2
	for i, v := range s.vars[batch] {
		lrV := lrT * scales[i]
		w, err := s.shared(v)
		if err != nil {
			return 0, 0, err
		}
		m1, m2, err := s.moments(v)
		if err != nil {
			return 0, 0, err
		}
		err = tensors.MutableFlatData[float32](w, func(wf []float32) {
			tensors.MustMutableFlatData[float32](m1, func(mf []float32) {
				tensors.MustMutableFlatData[float32](m2, func(vf []float32) {
					if s.kind[batch][i] {
						a, b := outs[next], outs[next+1]
						k, m, n := a.Shape().Dimensions[0], a.Shape().Dimensions[1], b.Shape().Dimensions[1]
						tensors.MustConstFlatData[float32](a, func(af []float32) {
							tensors.MustConstFlatData[float32](b, func(bf []float32) {
								adamApplyOuter(wf, mf, vf, af, bf, k, m, n, lrV, b1)
							})
						})
					} else {
						tensors.MustConstFlatData[float32](outs[next], func(gf []float32) { adamApply(wf, gf, mf, vf, lrV, b1) })
					}
				})
			})
		})
		if err != nil {
			return 0, 0, errors.WithMessagef(err, "updating %s", v.Path())
		}
		if s.kind[batch][i] {
			next += 2
		} else {
			next++
		}
	}
	if next != len(outs) {
		return 0, 0, errors.Errorf("train step: %d outputs for %d variables", len(outs), len(s.vars[batch]))
	}
	if err := tv.SetValue(tensors.FromScalar(float32(t))); err != nil {
		return 0, 0, err
	}
	return float64(tensors.ToScalar[float32](outs[0])), float64(tensors.ToScalar[float32](outs[1])), nil
}
