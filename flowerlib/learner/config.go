package learner

import (
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pkg/errors"
)

// Modes of config.Run.Mode.
const (
	ModeCached  = "cached"  // frozen base run once; the head trains on cached features
	ModeAugment = "augment" // images augmented on the fly through the frozen base every epoch (the article's way)
)

// Config is a whole run: its description (config.Run: the data, the weights, the base's
// pooling, the training's hyperparameters; the settings cell and the flags) and what a
// description cannot hold — the head, the loss and the optimizer, as a notebook's training cell
// puts them together:
//
//	learner.Config{Run: settings, Head: flowerHead, Loss: trainer.SparseCrossEntropy, Optimizer: trainer.Adam()}
type Config struct {
	config.Run
	// Head is the model on the frozen base's output (its 7×7×2048 map, or pooled 2048 values:
	// Run.Pooling) giving the logits. nil: the article's head (head.Article) with Run.Dropout,
	// the flowers command's -head.
	Head head.Func
	// HeadName names the head in logs and run folders ("" = the Go function's name).
	HeadName string
	// Loss is the training loss of the logits and labels (nil: trainer.SparseCrossEntropy,
	// Keras' categorical cross-entropy of the softmax).
	Loss trainer.LossFn
	// Optimizer updates the head (nil: trainer.Adam(), Keras' Adam), at Run.LearningRate.
	Optimizer optimizer.Interface
	// Augmentation replaces the article's ImageDataGenerator scaled by Run.Augment (nil).
	Augmentation *augment.Config

	// Progress receives progress bars (nil: none); Log one line per step of the run and the
	// epoch lines (nil: none). OnStep and OnEpoch are called after each training step and
	// epoch (live curves).
	Progress, Log io.Writer
	OnStep        func(trainer.StepInfo)
	OnEpoch       func(trainer.History)
	// MaxSteps stops Fit after this many steps (0: no limit; tests).
	MaxSteps int
}

// withDefaults returns c with the defaults of the run filled in and its folders absolute.
func (c Config) withDefaults() (Config, error) {
	c.Run = c.Run.Defaults()
	check := c.Run
	if c.Augmentation != nil && check.Augment == 0 {
		check.Augment = 1 // an augmentation given in full: augment mode has one
	}
	if err := check.Validate(); err != nil {
		return c, errors.WithMessage(err, "learner")
	}
	for _, p := range []*string{&c.Cache, &c.Work} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return c, errors.Wrapf(err, "learner: %q", *p)
		}
		*p = abs
	}
	if c.HeadName == "" {
		c.HeadName = funcName(c.Head)
	}
	if c.Augmentation == nil && c.Augment > 0 {
		c.Augmentation = augment.Scaled(c.Augment, c.Seed)
	}
	if c.Augmentation != nil {
		if err := c.Augmentation.Validate(); err != nil {
			return c, errors.WithMessage(err, "learner")
		}
	}
	if c.Loss != nil && (c.LabelSmoothing > 0 || c.ClassWeight != "") {
		return c, errors.New("learner: label smoothing and class weights belong to the loss: give them in the Loss (trainer.CrossEntropy(smoothing, weights)), or leave Loss nil to use the settings'")
	}
	return c, nil
}

// BuiltInHead is HeadName for the article's head the learner builds when Config.Head is nil.
const BuiltInHead = "article"

// funcName is a head function's name: "article" for the built-in one, else the Go name without
// its package ("flowerHead"; "func1" for an anonymous one).
func funcName(fn head.Func) string {
	if fn == nil {
		return BuiltInHead
	}
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	name = name[strings.LastIndex(name, "/")+1:]
	if i := strings.Index(name, "."); i >= 0 {
		name = name[i+1:]
	}
	name = strings.NewReplacer(".", "-", "(", "", ")", "", "*", "").Replace(name)
	if name == "" {
		return "head"
	}
	return name
}

// options are the trainer's options of the head's training; classWeights are the loss's
// (resolved from Run.ClassWeight: classWeights).
func (c Config) options(classWeights []float64) trainer.Options {
	return trainer.Options{Epochs: c.Epochs, BatchSize: c.BatchSize, LearningRate: c.LearningRate, Seed: c.Seed,
		CheckpointSteps: c.CheckpointSteps, KeepCheckpoints: c.KeepCheckpoints, EarlyStopping: c.EarlyStopping,
		Monitor: c.Monitor, RestoreBest: c.RestoreBest, MaxSteps: c.MaxSteps,
		Schedule: c.schedule(), LabelSmoothing: c.LabelSmoothing, ClassWeights: classWeights,
		Progress: c.Progress, Log: c.Log, OnStep: c.OnStep, OnEpoch: c.OnEpoch}
}

// schedule is the trainer's schedule of Run.Schedule.
func (c Config) schedule() trainer.Schedule {
	switch c.Schedule {
	case "one-cycle":
		return trainer.Schedule{Kind: trainer.ScheduleOneCycle}
	case "cosine":
		return trainer.Schedule{Kind: trainer.ScheduleCosine, WarmupSteps: c.WarmupSteps}
	}
	return trainer.Schedule{}
}

// classWeights resolves Run.ClassWeight against the classes and the training labels: nil for
// none, scikit-learn's balanced weights, or the weights given (one per class).
func (c Config) classWeights(classes []string, trainCodes []int) ([]float64, error) {
	w, err := config.ParseClassWeight(c.ClassWeight)
	switch {
	case err != nil:
		return nil, err
	case c.ClassWeight == "balanced":
		labels := make([]int32, len(trainCodes))
		for i, code := range trainCodes {
			labels[i] = int32(code)
		}
		return trainer.BalancedClassWeights(trainer.ClassCounts(labels, len(classes)))
	case w != nil && len(w) != len(classes):
		return nil, errors.Errorf("class-weight %q: %d weights for %d classes (%s)", c.ClassWeight, len(w), len(classes), strings.Join(classes, ", "))
	}
	return w, nil
}

// headFunc is the head the run trains on classes outputs: Config.Head, or the built-in one.
func (c Config) headFunc(classes int) head.Func {
	if c.Head != nil {
		return c.Head
	}
	return head.Article(classes, nil, c.Dropout)
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// poolingOf is the base's pooling of a Run.Pooling.
func poolingOf(p string) resnet50.Pooling {
	switch p {
	case "avg":
		return resnet50.PoolingAvg
	case "max":
		return resnet50.PoolingMax
	}
	return resnet50.PoolingNone
}
