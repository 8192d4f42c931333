// Package train fits a model (the head on cached features, or base + head on images) with
// Keras' fit semantics: epochs, steps_per_epoch = ceil(N/batch) with a smaller last batch, a
// fresh shuffle each epoch, a validation pass after each epoch, one line per epoch
// ("Epoch 3/30 - 12s - loss: … - accuracy: … - val_loss: … - val_accuracy: …"), a live progress
// bar, History saved as JSON and CSV, optional early stopping with restore-best.
//
// Training state lives in a run directory: atomic, checksummed checkpoints hold the variables,
// Adam's moments and step, the epoch/step position and partial sums, the class list and the
// data identity. A run stopped at any moment (kill -9 included) resumes from its last complete
// checkpoint with the same step; shuffling is derived from (seed, epoch) and dropout's random
// state from (seed, step), so a resumed run draws the same batches it would have drawn.
package train

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// Data is a set of examples: model inputs with integer labels.
type Data interface {
	// Len is the number of examples.
	Len() int
	// Label returns example i's class index.
	Label(i int) int32
	// Inputs returns the model inputs of examples idx as a float32 tensor [len(idx), dims...].
	// epoch is the 0-based epoch (augmenting sources draw new variations per epoch; -1 means
	// evaluation: no augmentation).
	Inputs(idx []int, epoch int) (*tensors.Tensor, error)
}

// BuildFn builds the model on the inputs x and returns logits [batch, classes]. It creates
// or reuses variables under scope; model.Store.IsTraining tells training from inference.
type BuildFn func(scope *model.Scope, x *graph.Node) *graph.Node

// GradFn builds the training loss, the number of correct predictions and the gradients of the
// trainable variables itself (head.TrainGradients on cached features), instead of autodiff
// through BuildFn.
type GradFn func(scope *model.Scope, x, labels *graph.Node) *head.Gradients

// Options configures Fit. Zero values take the seed's settings (30 epochs, batch 32, Adam 1e-3).
type Options struct {
	Epochs       int
	BatchSize    int
	LearningRate float64
	Seed         int64 // shuffling and dropout; default 42
	// RunDir holds checkpoints and history; required.
	RunDir string
	// Classes is the class list the labels index; it is checked against the checkpoint on resume.
	Classes []string
	// DataKey identifies the training/validation split (e.g. a hash of the file lists); a resume
	// with another split fails.
	DataKey string
	// Dropout of the model, only used to vary the dropout RNG per step (0: no RNG reset).
	Dropout float64
	// CheckpointSteps also writes a checkpoint every this many steps (0: only after each epoch).
	CheckpointSteps int
	// EarlyStopping stops after this many epochs without improvement of Monitor (0: off).
	EarlyStopping int
	// Monitor is "val_loss" (default, lower is better) or "val_accuracy".
	Monitor string
	// RestoreBest restores the weights of the best epoch (by Monitor) at the end, as Keras'
	// EarlyStopping(restore_best_weights=True); it keeps a best.flw checkpoint in RunDir.
	RestoreBest bool
	// Progress receives the live progress bar (nil: none); Log the per-epoch lines (nil: none).
	Progress, Log io.Writer
	// OnEpoch, when set, is called after each epoch with the full history so far (live curves).
	OnEpoch func(h History)
	// OnStep, when set, is called after each training step.
	OnStep func(s StepInfo)
	// Grad, when set, replaces autodiff of the BuildFn in training steps (see GradFn).
	Grad GradFn
	// MaxSteps stops after this many optimizer steps in this call (0: no limit); for benchmarks.
	MaxSteps int
}

func (o Options) defaults() Options {
	if o.Epochs <= 0 {
		o.Epochs = 30
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	if o.LearningRate <= 0 {
		o.LearningRate = DefaultLearningRate
	}
	if o.Seed == 0 {
		o.Seed = 42
	}
	if o.Monitor == "" {
		o.Monitor = "val_loss"
	}
	return o
}

// StepInfo is reported after each training step.
type StepInfo struct {
	Step     int64   // global optimizer step (1-based after the first update)
	Epoch    int     // 1-based
	Batch    int     // 1-based within the epoch
	Steps    int     // steps per epoch
	Loss     float64 // this batch's mean loss
	Accuracy float64 // this batch's accuracy
	Seconds  float64 // this step's wall time
}

// State is the resumable training position stored in every checkpoint.
type State struct {
	Step        int64    `json:"step"`          // optimizer updates done
	Epoch       int      `json:"epoch"`         // 0-based epoch in progress (= epochs done)
	StepInEpoch int      `json:"step_in_epoch"` // steps done in the epoch in progress
	SumLoss     float64  `json:"sum_loss"`      // partial sums of the epoch in progress
	SumCorrect  float64  `json:"sum_correct"`
	SumCount    int      `json:"sum_count"`
	EpochSecs   float64  `json:"epoch_seconds"`
	Classes     []string `json:"classes"`
	DataKey     string   `json:"data_key"`
	Seed        int64    `json:"seed"`
	LR          float64  `json:"learning_rate"`
	History     History  `json:"history"`
	BestEpoch   int      `json:"best_epoch"` // 1-based; 0 = none
	BestValue   float64  `json:"best_value"`
	Done        bool     `json:"done"`
	Stopped     string   `json:"stopped,omitempty"` // why training ended early
}

// gradSlot is a trainable variable and how its gradient comes out of the training step.
type gradSlot struct {
	v     *model.Variable
	outer bool // two outputs A, B with gradient Aᵀ·B (see head.Gradients)
}

// Trainer trains the variables of a Store with Adam on the host (see Adam).
type Trainer struct {
	Backend compute.Backend
	Store   *model.Store
	Opts    Options
	State   State
	Adam    *Adam
	// Resumed is the checkpoint the trainer resumed from ("" for a fresh run).
	Resumed string

	build    BuildFn
	stepExec *model.Exec
	evalExec *model.Exec
	gradVars map[int][]gradSlot // trainable variables, in output order, per batch size
	stop     bool
}

// New prepares a Trainer over store, whose variables must already exist with their initial
// values (head.Init, or a base with its weights). If Opts.RunDir holds a checkpoint, the newest
// complete one is loaded: variables, Adam state, position; its class list and DataKey must match.
func New(backend compute.Backend, store *model.Store, build BuildFn, opts Options) (*Trainer, error) {
	opts = opts.defaults()
	if opts.RunDir == "" {
		return nil, errors.New("train.New: Options.RunDir is required")
	}
	if err := os.MkdirAll(opts.RunDir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating run directory %q", opts.RunDir)
	}
	t := &Trainer{
		Backend: backend, Store: store, Opts: opts, build: build,
		Adam:     NewAdam(opts.LearningRate),
		gradVars: map[int][]gradSlot{},
		State: State{Classes: opts.Classes, DataKey: opts.DataKey, Seed: opts.Seed,
			LR: opts.LearningRate},
	}
	if opts.Monitor != "val_loss" && opts.Monitor != "val_accuracy" {
		return nil, errors.Errorf("train: Monitor must be val_loss or val_accuracy, got %q", opts.Monitor)
	}
	if err := t.resume(); err != nil {
		return nil, err
	}
	var err error
	t.stepExec, err = model.NewExec(backend, store, t.stepGraph)
	if err != nil {
		return nil, errors.WithMessage(err, "train: building the training step")
	}
	t.evalExec, err = model.NewExec(backend, store, t.evalGraph)
	if err != nil {
		return nil, errors.WithMessage(err, "train: building the evaluation step")
	}
	return t, nil
}

// resume loads the newest valid checkpoint of the run directory, if any.
func (t *Trainer) resume() error {
	names, err := ListCheckpoints(t.Opts.RunDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		var st State
		arrays, err := ReadCheckpointFile(name, &st)
		if err != nil {
			if t.Opts.Log != nil {
				fmt.Fprintf(t.Opts.Log, "warning: %v; trying an older checkpoint\n", err)
			}
			continue
		}
		if err := CheckClasses(st.Classes, t.Opts.Classes); err != nil {
			return errors.WithMessagef(err, "resuming from %q", name)
		}
		if st.DataKey != t.Opts.DataKey {
			return errors.Errorf("resuming from %q: the training/validation split differs from the one this run "+
				"was started with (data key %q, now %q): use a new -run directory, or the same data", name,
				st.DataKey, t.Opts.DataKey)
		}
		if err := t.setArrays(arrays); err != nil {
			return errors.WithMessagef(err, "resuming from %q", name)
		}
		st.LR = t.Opts.LearningRate
		t.State = st
		t.Adam.LearningRate = t.Opts.LearningRate
		t.Resumed = name
		return nil
	}
	return nil
}

// CheckClasses returns an error naming the differences when got (e.g. from a checkpoint) and
// want (the data now) are not the same class list in the same order.
func CheckClasses(saved, now []string) error {
	if slices.Equal(saved, now) {
		return nil
	}
	var missing, added []string
	for _, c := range saved {
		if !slices.Contains(now, c) {
			missing = append(missing, c)
		}
	}
	for _, c := range now {
		if !slices.Contains(saved, c) {
			added = append(added, c)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, fmt.Sprintf("missing now: %q", missing))
	}
	if len(added) > 0 {
		parts = append(parts, fmt.Sprintf("new: %q", added))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("same classes in another order: %q vs %q", saved, now))
	}
	return errors.Errorf("class list differs from the one the model was trained with %q: %s",
		saved, strings.Join(parts, "; "))
}

// Array names in checkpoints: "var:<path>", "adam_m:<path>", "adam_v:<path>", "adam_step".
func (t *Trainer) arrays() []NamedArray {
	var out []NamedArray
	for v := range t.Store.IterVariables() {
		if v.DType() != dtypes.Float32 || !v.HasValue() {
			continue
		}
		data := tensors.MustCopyFlatData[float32](v.MustValue())
		out = append(out, NamedArray{Name: "var:" + v.Path(), Dims: v.Shape().Dimensions, Data: data})
	}
	paths := make([]string, 0, len(t.Adam.Moments))
	for p := range t.Adam.Moments {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		m := t.Adam.Moments[p]
		out = append(out, NamedArray{Name: "adam_m:" + p, Dims: []int{len(m.M)}, Data: m.M},
			NamedArray{Name: "adam_v:" + p, Dims: []int{len(m.V)}, Data: m.V})
	}
	out = append(out, NamedArray{Name: "adam_step", Dims: []int{1}, Data: []float32{float32(t.Adam.Step)}})
	return out
}

// setArrays restores variables and Adam state from checkpoint arrays.
func (t *Trainer) setArrays(arrays []NamedArray) error {
	return SetVariables(t.Store, arrays, t.Adam)
}

// SetVariables sets the Store's float32 variables from checkpoint arrays (creating missing
// ones) and, when adam is not nil, Adam's moments and step.
func SetVariables(store *model.Store, arrays []NamedArray, adam *Adam) error {
	for _, a := range arrays {
		kind, path, _ := strings.Cut(a.Name, ":")
		switch kind {
		case "var":
			tensor := tensors.FromFlatDataAndDimensions(a.Data, a.Dims...)
			if v := store.GetVariable(path); v != nil {
				if !slices.Equal(v.Shape().Dimensions, a.Dims) {
					return errors.Errorf("variable %s has shape %v in the model but %v in the checkpoint", path, v.Shape().Dimensions, a.Dims)
				}
				if err := v.SetValue(tensor); err != nil {
					return err
				}
			} else {
				scope, name := model.SplitPath(path)
				if _, err := store.Scope(scope).CreateVariable(name, tensor); err != nil {
					return err
				}
			}
		case "adam_m", "adam_v":
			if adam == nil {
				continue
			}
			m := adam.moments(path, len(a.Data))
			if kind == "adam_m" {
				m.M = a.Data
			} else {
				m.V = a.Data
			}
		case "adam_step":
			if adam != nil {
				adam.Step = int64(a.Data[0])
			}
		}
	}
	return nil
}

// SaveCheckpoint writes a checkpoint of the current state and removes older ones, keeping
// KeepCheckpoints.
func (t *Trainer) SaveCheckpoint() error {
	path := checkpointPath(t.Opts.RunDir, t.State.Step)
	if err := WriteCheckpointFile(path, t.State, t.arrays()); err != nil {
		return err
	}
	removeOldCheckpoints(t.Opts.RunDir, KeepCheckpoints)
	return nil
}

// stepGraph: inputs x, labels → loss, correct, gradients of the trainable variables.
func (t *Trainer) stepGraph(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	x, labels := inputs[0], inputs[1]
	g := x.Graph()
	t.Store.SetTraining(g, true)
	if t.Opts.Grad != nil {
		r := t.Opts.Grad(scope, x, labels)
		outs := []*graph.Node{r.Loss, r.Correct}
		var slots []gradSlot
		for i, v := range r.Vars {
			if ab, ok := r.Outer[i]; ok {
				slots = append(slots, gradSlot{v: v, outer: true})
				outs = append(outs, ab[0], ab[1])
			} else {
				slots = append(slots, gradSlot{v: v})
				outs = append(outs, r.Grads[i])
			}
		}
		t.gradVars[x.Shape().Dimensions[0]] = slots
		return outs
	}
	logits := t.build(scope, x)
	loss := head.Loss(logits, labels)
	correct := head.Correct(logits, labels)
	var vars []*model.Variable
	for v := range t.Store.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Path() < vars[j].Path() })
	nodes := make([]*graph.Node, len(vars))
	for i, v := range vars {
		nodes[i] = v.NodeValue(g)
	}
	slots := make([]gradSlot, len(vars))
	for i, v := range vars {
		slots[i] = gradSlot{v: v}
	}
	t.gradVars[x.Shape().Dimensions[0]] = slots
	return append([]*graph.Node{loss, correct}, graph.Gradient(loss, nodes...)...)
}

// evalGraph: inputs x, labels → summed loss, correct, probabilities.
func (t *Trainer) evalGraph(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	x, labels := inputs[0], inputs[1]
	t.Store.SetTraining(x.Graph(), false)
	logits := t.build(scope, x)
	n := float64(x.Shape().Dimensions[0])
	return []*graph.Node{graph.MulScalar(head.Loss(logits, labels), n), head.Correct(logits, labels), head.Probabilities(logits)}
}

// shareVariables moves the trainable variables into backend-shared memory when the backend
// allows it, so the host Adam updates them in place with no copy.
func (t *Trainer) shareVariables(slots []gradSlot) error {
	if !t.Backend.HasSharedBuffers() {
		return nil
	}
	for _, s := range slots {
		v := s.v
		val := v.MustValue()
		if val.IsShared() {
			continue
		}
		shared, err := tensors.FromShapeForBackend(t.Backend, 0, val.Shape())
		if err != nil {
			return err
		}
		if err := shared.CopyFrom(val); err != nil {
			return err
		}
		if err := v.SetValue(shared); err != nil {
			return err
		}
	}
	return nil
}

func labelsTensor(d Data, idx []int) *tensors.Tensor {
	y := make([]int32, len(idx))
	for i, j := range idx {
		y[i] = d.Label(j)
	}
	return tensors.FromFlatDataAndDimensions(y, len(idx))
}

// TrainStep runs one optimizer step on examples idx of d and returns the batch's mean loss and
// number of correct predictions.
func (t *Trainer) TrainStep(d Data, idx []int, epoch int) (loss, correct float64, err error) {
	x, err := d.Inputs(idx, epoch)
	if err != nil {
		return 0, 0, err
	}
	defer x.FinalizeAll()
	y := labelsTensor(d, idx)
	if t.Opts.Dropout > 0 {
		if err := t.Store.SetRNGStateFromSeed(t.Opts.Seed*1_000_003 + t.State.Step); err != nil {
			return 0, 0, err
		}
	}
	var outs []*tensors.Tensor
	if err := exceptions.TryCatch[error](func() { outs = t.stepExec.MustExec(x, y) }); err != nil {
		return 0, 0, errors.WithMessage(err, "train step")
	}
	slots := t.gradVars[len(idx)]
	if err := t.shareVariables(slots); err != nil {
		return 0, 0, err
	}
	lrT := t.Adam.Begin()
	next := 2
	for _, s := range slots {
		v := s.v
		var err error
		if s.outer {
			a, b := outs[next], outs[next+1]
			next += 2
			k, m, n := a.Shape().Dimensions[0], a.Shape().Dimensions[1], b.Shape().Dimensions[1]
			err = tensors.ConstFlatData[float32](a, func(af []float32) {
				tensors.MustConstFlatData[float32](b, func(bf []float32) {
					tensors.MustMutableFlatData[float32](v.MustValue(), func(wf []float32) {
						t.Adam.UpdateOuter(v.Path(), wf, af, bf, k, m, n, lrT)
					})
				})
			})
			a.FinalizeAll()
			b.FinalizeAll()
		} else {
			grad := outs[next]
			next++
			err = tensors.ConstFlatData[float32](grad, func(gf []float32) {
				tensors.MustMutableFlatData[float32](v.MustValue(), func(wf []float32) {
					t.Adam.Update(v.Path(), wf, gf, lrT)
				})
			})
			grad.FinalizeAll()
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if next != len(outs) {
		return 0, 0, errors.Errorf("train step: %d outputs for %d variables", len(outs), len(slots))
	}
	loss = float64(tensors.ToScalar[float32](outs[0]))
	correct = float64(tensors.ToScalar[float32](outs[1]))
	if math.IsNaN(loss) {
		return loss, correct, errors.Errorf("train step %d: loss is NaN (try a lower learning rate)", t.State.Step)
	}
	return loss, correct, nil
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Loss, Accuracy float64
	Labels         []int32     // true class per example
	Probs          [][]float32 // [example][class] probabilities
}

// Report returns the metrics report of r. Its loss is r.Loss, the cross-entropy computed from
// the logits in the graph: the same number Fit reports as val_loss (metrics.Evaluate alone only
// sees probabilities and has to clip them, which caps each example's loss at -log(1e-7)).
func (r *EvalResult) Report(classes []string) (*metrics.Report, error) {
	rep, err := metrics.Evaluate(classes, r.Labels, r.Probs)
	if err != nil {
		return nil, err
	}
	rep.Loss = r.Loss
	return rep, nil
}

// Predicted returns the arg-max class of each example.
func (r *EvalResult) Predicted() []int32 {
	out := make([]int32, len(r.Probs))
	for i, p := range r.Probs {
		out[i] = int32(argmax(p))
	}
	return out
}

func argmax(p []float32) int {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best
}

// Evaluate runs the model in inference mode over all of d, in batches of Opts.BatchSize.
func (t *Trainer) Evaluate(d Data) (*EvalResult, error) {
	return evaluate(t.evalExec, d, t.Opts.BatchSize)
}

func evaluate(exec *model.Exec, d Data, batch int) (*EvalResult, error) {
	r := &EvalResult{}
	n := d.Len()
	if n == 0 {
		return nil, errors.New("evaluate: no examples")
	}
	var sumLoss, sumCorrect float64
	for lo := 0; lo < n; lo += batch {
		idx := make([]int, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			idx = append(idx, i)
		}
		x, err := d.Inputs(idx, -1)
		if err != nil {
			return nil, err
		}
		y := labelsTensor(d, idx)
		var outs []*tensors.Tensor
		err = exceptions.TryCatch[error](func() { outs = exec.MustExec(x, y) })
		x.FinalizeAll()
		if err != nil {
			return nil, errors.WithMessage(err, "evaluate")
		}
		sumLoss += float64(tensors.ToScalar[float32](outs[0]))
		sumCorrect += float64(tensors.ToScalar[float32](outs[1]))
		probs := tensors.MustCopyFlatData[float32](outs[2])
		classes := outs[2].Shape().Dimensions[1]
		for i, j := range idx {
			r.Probs = append(r.Probs, probs[i*classes:(i+1)*classes])
			r.Labels = append(r.Labels, d.Label(j))
		}
	}
	r.Loss = sumLoss / float64(n)
	r.Accuracy = sumCorrect / float64(n)
	return r, nil
}

// Permutation returns the shuffled example order of an epoch: a function of (seed, epoch)
// only, so a resumed run sees the same order.
func Permutation(seed int64, epoch, n int) []int {
	return rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+1)).Perm(n)
}

// StepsPerEpoch is Keras' ceil(n/batch).
func StepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

// Fit trains on train, validating on valid (may be nil) after each epoch, from the current
// state (a resumed run continues where its checkpoint left off). It returns the history.
func (t *Trainer) Fit(train, valid Data) (History, error) {
	o := t.Opts
	n := train.Len()
	if n == 0 {
		return nil, errors.New("train: no training examples")
	}
	steps := StepsPerEpoch(n, o.BatchSize)
	st := &t.State
	if st.Done {
		return st.History, nil
	}
	stepsThisCall := 0
	for st.Epoch < o.Epochs && !t.stop {
		epoch := st.Epoch
		perm := Permutation(o.Seed, epoch, n)
		var bar *progressbar.ProgressBar
		if o.Progress != nil {
			bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(o.Progress),
				progressbar.OptionSetDescription(fmt.Sprintf("Epoch %d/%d", epoch+1, o.Epochs)),
				progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
			_ = bar.Set(st.StepInEpoch)
		}
		for st.StepInEpoch < steps {
			if o.MaxSteps > 0 && stepsThisCall >= o.MaxSteps {
				return st.History, nil
			}
			s := st.StepInEpoch
			idx := perm[s*o.BatchSize : min((s+1)*o.BatchSize, n)]
			start := time.Now()
			loss, correct, err := t.TrainStep(train, idx, epoch)
			if err != nil {
				return st.History, err
			}
			secs := time.Since(start).Seconds()
			stepsThisCall++
			st.Step++
			st.StepInEpoch++
			st.SumLoss += loss * float64(len(idx))
			st.SumCorrect += correct
			st.SumCount += len(idx)
			st.EpochSecs += secs
			if bar != nil {
				bar.Describe(fmt.Sprintf("Epoch %d/%d loss %.4f acc %.4f", epoch+1, o.Epochs,
					st.SumLoss/float64(st.SumCount), st.SumCorrect/float64(st.SumCount)))
				_ = bar.Add(1)
			}
			if o.OnStep != nil {
				o.OnStep(StepInfo{Step: st.Step, Epoch: epoch + 1, Batch: s + 1, Steps: steps,
					Loss: loss, Accuracy: correct / float64(len(idx)), Seconds: secs})
			}
			if o.CheckpointSteps > 0 && st.Step%int64(o.CheckpointSteps) == 0 && st.StepInEpoch < steps {
				if err := t.SaveCheckpoint(); err != nil {
					return st.History, err
				}
			}
		}
		if bar != nil {
			_ = bar.Finish()
		}
		es := EpochStats{Epoch: epoch + 1, Loss: st.SumLoss / float64(st.SumCount),
			Accuracy: st.SumCorrect / float64(st.SumCount), ValLoss: math.NaN(), ValAccuracy: math.NaN()}
		if valid != nil && valid.Len() > 0 {
			start := time.Now()
			r, err := t.Evaluate(valid)
			if err != nil {
				return st.History, err
			}
			es.ValLoss, es.ValAccuracy = r.Loss, r.Accuracy
			st.EpochSecs += time.Since(start).Seconds()
		}
		es.Seconds = st.EpochSecs
		es.Step = st.Step
		st.History = append(st.History, es)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "Epoch %d/%d - %s\n", epoch+1, o.Epochs, es.Line())
		}
		if err := t.trackBest(es); err != nil {
			return st.History, err
		}
		st.Epoch++
		st.StepInEpoch, st.SumLoss, st.SumCorrect, st.SumCount, st.EpochSecs = 0, 0, 0, 0, 0
		if st.Epoch >= o.Epochs || t.stop {
			if err := t.finish(); err != nil {
				return st.History, err
			}
		}
		if err := t.SaveCheckpoint(); err != nil {
			return st.History, err
		}
		if err := st.History.Save(o.RunDir); err != nil {
			return st.History, err
		}
		if o.OnEpoch != nil {
			o.OnEpoch(st.History)
		}
	}
	return st.History, nil
}

// Stop asks Fit to end after the current epoch (e.g. from OnEpoch).
func (t *Trainer) Stop() { t.stop = true }

// bestPath is the checkpoint with the weights of the best epoch (RestoreBest).
func (t *Trainer) bestPath() string { return filepath.Join(t.Opts.RunDir, "best.flw") }

// trackBest updates the best epoch, saves its weights for RestoreBest and applies early stopping.
func (t *Trainer) trackBest(es EpochStats) error {
	o, st := t.Opts, &t.State
	value, better := es.ValLoss, false
	if o.Monitor == "val_accuracy" {
		value = es.ValAccuracy
	}
	if math.IsNaN(value) {
		return nil
	}
	if st.BestEpoch == 0 {
		better = true
	} else if o.Monitor == "val_accuracy" {
		better = value > st.BestValue
	} else {
		better = value < st.BestValue
	}
	if better {
		st.BestEpoch, st.BestValue = es.Epoch, value
		if o.RestoreBest {
			if err := WriteCheckpointFile(t.bestPath(), st, t.arrays()); err != nil {
				return err
			}
		}
	}
	if o.EarlyStopping > 0 && es.Epoch-st.BestEpoch >= o.EarlyStopping {
		st.Stopped = fmt.Sprintf("early stopping: %s did not improve for %d epochs (best %.4f at epoch %d)",
			o.Monitor, o.EarlyStopping, st.BestValue, st.BestEpoch)
		if o.Log != nil {
			fmt.Fprintln(o.Log, st.Stopped)
		}
		t.stop = true
	}
	return nil
}

// finish marks the run done, restoring the best weights when asked.
func (t *Trainer) finish() error {
	st := &t.State
	if t.Opts.RestoreBest && st.BestEpoch > 0 && st.BestEpoch != st.Epoch {
		var best State
		arrays, err := ReadCheckpointFile(t.bestPath(), &best)
		if err != nil {
			return err
		}
		var weights []NamedArray
		for _, a := range arrays {
			if strings.HasPrefix(a.Name, "var:") {
				weights = append(weights, a)
			}
		}
		if err := SetVariables(t.Store, weights, nil); err != nil {
			return err
		}
		if t.Opts.Log != nil {
			fmt.Fprintf(t.Opts.Log, "restored the weights of epoch %d (best %s %.4f)\n", st.BestEpoch, t.Opts.Monitor, st.BestValue)
		}
	}
	st.Done = true
	return nil
}

// InputsTensor is a helper for Data implementations: it wraps flat float32 rows as a tensor
// [n, dims...].
func InputsTensor(flat []float32, n int, dims []int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(flat, append([]int{n}, dims...)...)
}

// ArrayData is in-memory Data: X holds Len() rows of Dims each, Y the labels.
type ArrayData struct {
	X    []float32
	Dims []int
	Y    []int32
}

func (a *ArrayData) Len() int          { return len(a.Y) }
func (a *ArrayData) Label(i int) int32 { return a.Y[i] }
func (a *ArrayData) Inputs(idx []int, _ int) (*tensors.Tensor, error) {
	row := numel(a.Dims)
	t := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{len(idx)}, a.Dims...)...))
	tensors.MustMutableFlatData[float32](t, func(f []float32) {
		for i, j := range idx {
			copy(f[i*row:(i+1)*row], a.X[j*row:(j+1)*row])
		}
	})
	return t, nil
}
