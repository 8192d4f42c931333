// Package trainer fits a classification model with Keras' fit semantics: epochs,
// steps_per_epoch = ceil(N/batch) with a smaller last batch, a fresh shuffle each epoch, a
// validation pass after each epoch, one line per epoch ("Epoch 3/30 - 12s - loss: … -
// accuracy: … - val_loss: … - val_accuracy: …"), a live progress bar, History saved as JSON
// and CSV, early stopping with restore-best, and callbacks after each step and epoch.
//
// It knows nothing of flowers, ResNet50 or heads: the model, its loss and the Data are passed
// in (flowerlib/learner assembles them). Steps are GoMLX's: on XLA backends
// github.com/gomlx/gomlx/ml/train.Trainer runs the model, the loss and Keras' Adam (Adam, an
// optimizer.Interface) in one compiled graph, so the optimizer state stays on the device; on
// the pure-Go backend the same update runs fused on the host over the variables' shared memory
// (the fast path behind Step, see step.go), because a dozen graph ops per variable cost
// seconds there for the article's 205M-weight head.
//
// Training state lives in a run folder locked to one process (LockRunDir): atomic,
// checksummed checkpoints hold every variable of the Store (weights, Adam's moments and step,
// BatchNorm statistics, the random state) and the loop's position as JSON. A run stopped at
// any moment (kill -9 included) resumes from its newest checkpoint that verifies, at the same
// step, drawing the same batches: shuffles are a function of (seed, epoch).
package trainer

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
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

// ModelFn builds the model on the inputs x and returns logits [batch, classes]. It creates or
// reuses variables under scope; model.Store.IsTraining tells training from inference.
type ModelFn func(scope *model.Scope, x *graph.Node) *graph.Node

// LossFn returns the mean loss of a batch from the logits and int32 labels [batch].
type LossFn func(logits, labels *graph.Node) *graph.Node

// Options configure a Trainer. Zero values take the defaults (flowerlib/defaults: 30 epochs,
// batch 32, Keras Adam at 1e-3, seed 42).
type Options struct {
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	// Seed drives the shuffles and the initial random state (dropout); default 42.
	Seed int64 `json:"seed"`
	// CheckpointSteps also writes a checkpoint every this many steps (0: only after each epoch).
	CheckpointSteps int `json:"checkpoint_steps,omitempty"`
	// KeepCheckpoints is how many verified checkpoints stay in the run folder (default 2).
	KeepCheckpoints int `json:"keep_checkpoints,omitempty"`
	// EarlyStopping stops after this many epochs without improvement of Monitor (0: off).
	EarlyStopping int `json:"early_stopping,omitempty"`
	// Monitor is "val_loss" (default, lower is better) or "val_accuracy".
	Monitor string `json:"monitor,omitempty"`
	// RestoreBest restores the weights of the best epoch (by Monitor) at the end, as Keras'
	// EarlyStopping(restore_best_weights=True); it keeps best.flw in the run folder.
	RestoreBest bool `json:"restore_best,omitempty"`
	// MaxSteps stops after this many optimizer steps in one Fit call (0: no limit).
	MaxSteps int `json:"-"`

	// Fine-tuning recipes (schedule.go, groups.go, loss.go). Schedule moves the learning rate
	// (and β1) per step from LearningRate; LRGroups give layer groups their own multipliers
	// (fastai's discriminative rates, SliceGroups); LabelSmoothing and ClassWeights are Keras'
	// CategoricalCrossentropy(label_smoothing=…) and fit(class_weight=…) (CrossEntropy).
	Schedule       Schedule  `json:"schedule,omitzero"`
	LRGroups       Groups    `json:"lr_groups,omitempty"`
	LabelSmoothing float64   `json:"label_smoothing,omitempty"`
	ClassWeights   []float64 `json:"class_weights,omitempty"`

	// Progress receives the live progress bar (nil: none); Log the epoch lines (nil: none).
	Progress io.Writer `json:"-"`
	Log      io.Writer `json:"-"`
	// OnStep is called after each training step; OnEpoch after each epoch with the history so
	// far (live curves). Either may call Trainer.Stop.
	OnStep  func(s StepInfo) `json:"-"`
	OnEpoch func(h History)  `json:"-"`
}

// WithDefaults returns o with zero fields set to the defaults (flowerlib/defaults).
func (o Options) WithDefaults() Options {
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def(&o.Epochs, defaults.Epochs.Default)
	def(&o.BatchSize, defaults.BatchSize.Default)
	def(&o.KeepCheckpoints, defaults.KeepCheckpoints.Default)
	if o.LearningRate == 0 {
		o.LearningRate = defaults.LearningRate.Default
	}
	if o.Seed == 0 {
		o.Seed = int64(defaults.Seed.Default)
	}
	if o.Monitor == "" {
		o.Monitor = defaults.Monitor.Default
	}
	return o
}

// Validate reports options that cannot be trained with (after WithDefaults), naming the
// setting and its range.
func (o Options) Validate() error {
	for _, err := range []error{defaults.Epochs.Check(o.Epochs), defaults.BatchSize.Check(o.BatchSize),
		defaults.LearningRate.Check(o.LearningRate), defaults.CheckpointSteps.Check(o.CheckpointSteps),
		defaults.EarlyStopping.Check(o.EarlyStopping), defaults.KeepCheckpoints.Check(o.KeepCheckpoints),
		defaults.Monitor.Check(o.Monitor)} {
		if err != nil {
			return errors.WithMessage(err, "trainer")
		}
	}
	return o.validateRecipes()
}

// Config is what New needs besides Options.
type Config struct {
	Backend compute.Backend
	// Store holds the model's variables with their initial values (or a checkpoint's: New
	// resumes from the run folder's newest one).
	Store *model.Store
	Model ModelFn
	// Loss defaults to SparseCrossEntropy (Keras' categorical cross-entropy of the softmax).
	Loss LossFn
	// Optimizer defaults to Adam() (Keras' Adam). The go backend's fused host step implements
	// Keras' Adam only: another optimizer (any of GoMLX's) trains with the graph step.
	Optimizer optimizer.Interface
	// StepKind forces a step implementation: "" (auto: host on the go backend, graph
	// elsewhere), StepGraph or StepHost.
	StepKind string
	// RunDir holds checkpoints and history; required. It is locked while the Trainer lives.
	RunDir string
	// Identity is what the run was started on (class list, data split, …), stored in every
	// checkpoint; on resume CheckIdentity compares it with the saved one (default: equal JSON).
	Identity      any
	CheckIdentity func(saved json.RawMessage) error
	Options

	evalLoss LossFn // the validation loss when it differs from Loss (class weights)
}

// StepInfo is reported after each training step.
type StepInfo struct {
	Step     int64   // global optimizer step (1-based after the first update)
	Epoch    int     // 1-based
	Batch    int     // 1-based within the epoch
	Steps    int     // steps per epoch
	Loss     float64 // this batch's mean loss
	Accuracy float64 // this batch's accuracy
	LR       float64 // the learning rate of this step
	Seconds  float64 // this step's wall time
}

// State is the resumable training position stored in every checkpoint.
type State struct {
	Step        int64           `json:"step"`          // optimizer updates done
	Epoch       int             `json:"epoch"`         // 0-based epoch in progress (= epochs done)
	StepInEpoch int             `json:"step_in_epoch"` // steps done in the epoch in progress
	SumLoss     float64         `json:"sum_loss"`      // partial sums of the epoch in progress
	SumCorrect  float64         `json:"sum_correct"`
	SumCount    int             `json:"sum_count"`
	EpochSecs   float64         `json:"epoch_seconds"`
	Seed        int64           `json:"seed"`
	LR          float64         `json:"learning_rate"`
	Identity    json.RawMessage `json:"identity"`
	History     History         `json:"history"`
	BestEpoch   int             `json:"best_epoch"` // 1-based; 0 = none
	BestValue   float64         `json:"best_value"`
	Done        bool            `json:"done"`              // Fit reached Options.Epochs (or stopped early)
	Stopped     string          `json:"stopped,omitempty"` // why training ended early
	// The scheduled learning rates (and β1) of the epoch in progress, per step.
	EpochLRs    []float64 `json:"epoch_lrs,omitempty"`
	EpochBeta1s []float64 `json:"epoch_beta1s,omitempty"`
}

// Trainer trains the variables of a Store.
type Trainer struct {
	Config
	State State
	// Resumed is the checkpoint the trainer resumed from ("" for a fresh run).
	Resumed string

	step     Step
	evalExec *model.Exec
	lock     *RunLock
	good     []string // checkpoints known to verify, newest first
	stop     bool
}

// New prepares a Trainer. If RunDir holds a checkpoint, the newest one that verifies is
// loaded (variables, optimizer state, position); corrupt ones are moved aside. Its Identity
// must match. A run folder in use by another process is refused.
func New(cfg Config) (*Trainer, error) {
	cfg.Options = cfg.Options.WithDefaults()
	if err := cfg.Options.Validate(); err != nil {
		return nil, err
	}
	if cfg.RunDir == "" || cfg.Store == nil || cfg.Model == nil || cfg.Backend == nil {
		return nil, errors.New("trainer.New: Backend, Store, Model and RunDir are required")
	}
	if err := cfg.setRecipeLoss(); err != nil {
		return nil, err
	}
	if cfg.Loss == nil {
		cfg.Loss = SparseCrossEntropy
	}
	if cfg.Optimizer == nil {
		cfg.Optimizer = Adam()
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating run folder %q", cfg.RunDir)
	}
	lock, err := LockRunDir(cfg.RunDir)
	if err != nil {
		return nil, err
	}
	t := &Trainer{Config: cfg, lock: lock}
	fail := func(err error) (*Trainer, error) { t.Close(); return nil, err }
	if removed := atomicfile.CleanStale(cfg.RunDir); len(removed) > 0 {
		t.logf("removed %d temporary files of interrupted writes from %s\n", len(removed), cfg.RunDir)
	}
	identity, err := json.Marshal(cfg.Identity)
	if err != nil {
		return fail(errors.Wrap(err, "trainer: encoding the run's identity"))
	}
	t.State = State{Seed: cfg.Seed, LR: cfg.LearningRate, Identity: identity}
	// The random state (dropout) starts from the seed; a resumed run restores the saved one.
	if err := cfg.Store.SetRNGStateFromSeed(cfg.Seed); err != nil {
		return fail(err)
	}
	if err := t.resume(); err != nil {
		return fail(err)
	}
	if err := t.checkEpochs(); err != nil {
		return fail(err)
	}
	if t.step, err = newStep(t); err != nil {
		return fail(err)
	}
	if err := t.step.SetLearningRate(cfg.LearningRate); err != nil {
		return fail(err)
	}
	if err := t.initSchedule(); err != nil {
		return fail(err)
	}
	t.evalExec, err = model.NewExec(cfg.Backend, cfg.Store, t.evalGraph)
	if err != nil {
		return fail(errors.WithMessage(err, "trainer: building the evaluation step"))
	}
	return t, nil
}

// Finished reports whether Fit would return at once with State.History: the run is done and
// no more epochs are asked of it (Options.Epochs not above the epochs done, or stopped early).
func (t *Trainer) Finished() bool {
	st := t.State
	return st.Done && !(st.Epoch < t.Epochs && st.Stopped == "")
}

// checkEpochs refuses a resumed run that has already trained more epochs than Options.Epochs:
// Fit would train nothing and return them all, so the progress would say "epoch 3/3" and the
// result "9 epochs". (Keras' fit with initial_epoch past epochs silently does nothing; fastai
// trains the number asked again: neither is what the run folder holds.)
func (t *Trainer) checkEpochs() error {
	if done := t.State.Epoch; done > t.Epochs {
		epochs := func(n int) string {
			if n == 1 {
				return "1 epoch"
			}
			return fmt.Sprintf("%d epochs", n)
		}
		return errors.Errorf("trainer: the run in %s has already trained %s, more than the %d asked: it would train nothing and report %s. "+
			"Ask for %s or more to go on with it, or train %s in a new run folder", t.RunDir, epochs(done), t.Epochs, epochs(done), epochs(done), epochs(t.Epochs))
	}
	return nil
}

// Close releases the run folder and the compiled graphs (the Store stays usable).
func (t *Trainer) Close() {
	if t.step != nil {
		t.step.Finalize()
		t.step = nil
	}
	if t.evalExec != nil {
		t.evalExec.Finalize()
		t.evalExec = nil
	}
	t.lock.Release()
}

// Step returns the step implementation that trains (its Kind is StepGraph or StepHost).
func (t *Trainer) Step() Step { return t.step }

func (t *Trainer) logf(format string, args ...any) {
	if t.Log != nil {
		fmt.Fprintf(t.Log, format, args...)
	}
}

// SetLearningRate changes the learning rate from the next step on (learning-rate finders,
// schedules), without rebuilding the step.
func (t *Trainer) SetLearningRate(lr float64) error {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return errors.Errorf("trainer: learning rate must be a positive number, got %g", lr)
	}
	t.State.LR = lr
	return t.step.SetLearningRate(lr)
}

func labelsTensor(d Data, idx []int) *tensors.Tensor {
	y := make([]int32, len(idx))
	for i, j := range idx {
		y[i] = d.Label(j)
	}
	return tensors.FromFlatDataAndDimensions(y, len(idx))
}

// TrainStep runs one optimizer step on examples idx of d and returns the batch's mean loss and
// number of correct predictions. It does not advance State (Fit does).
func (t *Trainer) TrainStep(d Data, idx []int, epoch int) (loss, correct float64, err error) {
	x, err := d.Inputs(idx, epoch)
	if err != nil {
		return 0, 0, err
	}
	loss, correct, err = t.step.Run(x, labelsTensor(d, idx))
	if err != nil {
		return 0, 0, errors.WithMessagef(err, "train step %d", t.State.Step+1)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, correct, errors.Errorf("train step %d: the loss is %v (learning rate %g): the weights diverged or the inputs hold NaN/Inf; "+
			"try a lower learning rate, and check the features/weights for NaN", t.State.Step+1, loss, t.State.LR)
	}
	return loss, correct, nil
}

// evalGraph: inputs x, labels → summed loss, correct, probabilities.
func (t *Trainer) evalGraph(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
	x, labels := inputs[0], inputs[1]
	t.Store.SetTraining(x.Graph(), false)
	logits := t.Model(scope, x)
	n := float64(x.Shape().Dimensions[0])
	return []*graph.Node{graph.MulScalar(t.lossForEval()(logits, labels), n), Correct(logits, labels), graph.Softmax(logits, -1)}
}

// EvalResult is the outcome of Evaluate.
type EvalResult struct {
	Loss, Accuracy float64
	Labels         []int32     // true class per example
	Probs          [][]float32 // [example][class] probabilities
}

// Evaluate runs the model in inference mode over all of d, in batches of Options.BatchSize.
func (t *Trainer) Evaluate(d Data) (*EvalResult, error) { return Evaluate(t.evalExec, d, t.BatchSize) }

// NewEvalExec compiles the evaluation graph of model on store, for Evaluate without a Trainer
// (a loaded model). loss nil means SparseCrossEntropy.
func NewEvalExec(backend compute.Backend, store *model.Store, modelFn ModelFn, loss LossFn) (*model.Exec, error) {
	t := &Trainer{Config: Config{Store: store, Model: modelFn, Loss: loss}}
	if t.Loss == nil {
		t.Loss = SparseCrossEntropy
	}
	return model.NewExec(backend, store, t.evalGraph)
}

// Evaluate runs an exec from NewEvalExec over d in batches.
func Evaluate(exec *model.Exec, d Data, batch int) (*EvalResult, error) {
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
		var outs []*tensors.Tensor
		err = exceptions.TryCatch[error](func() { outs = exec.MustExec(x, labelsTensor(d, idx)) })
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
		for _, o := range outs {
			o.FinalizeAll()
		}
	}
	r.Loss = sumLoss / float64(n)
	r.Accuracy = sumCorrect / float64(n)
	return r, nil
}
