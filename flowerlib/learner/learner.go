// Package learner is transfer learning on image folders assembled from flowerlib's stages,
// shaped like fastai's vision_learner: a run's description (config.Run), a head (any
// head.Func: a GoMLX function), a loss and an optimizer,
//
//	l, err := learner.New(learner.Config{Run: config.Run{Data: dir, Weights: "imagenet"}, Head: myHead})
//	hist, err := l.Fit()             // the head on the frozen base (cached features)
//	ft, err := l.FineTune("conv5")   // then the base from conv5 on, with the head
//	report, err := l.Evaluate()      // confusion matrix, per-class precision/recall
//	preds, err := l.Predict(paths, 3)
//
// New runs the steps a notebook walks through, one function each: scan and split the dataset
// (labels, prepare), load the base (weights, resnet50), claim the run folder, extract or reuse
// the frozen features (features), and set up the head's trainer (head, trainer). A run folder
// changes only once every check has passed: another process training in it, another dataset,
// class list, head, image size or base weights than it was started with are refused before
// anything is written, with what changed named. Open loads a trained run for evaluation and
// prediction. On the go backend the head trains with a fused host step (trainer.StepHost) where
// it is a chain of Dense layers, as the article's; nothing in the Config chooses it.
package learner

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Learner is a run being trained: the dataset split, the frozen base, the cached features and
// the head's trainer. Close it when done.
type Learner struct {
	// Config is the run's configuration with the defaults filled in and the folders absolute.
	Config
	Info    *RunInfo
	Backend compute.Backend
	// Dropped are the photos that could not be decoded: left out of training and validation.
	// (What the dataset scan skipped, LICENSE.txt and non-image files, goes to the log.)
	Dropped []features.Failure
	// Trainer trains the head; FineTuner (after FineTune) the base and the head.
	Trainer, FineTuner *trainer.Trainer
	// Seconds spent extracting features ("base"; "augmented_copies" with AugmentCopies).
	FeatureSeconds map[string]float64
	// Head describes the head on the base's output: its layers (a Keras-like summary) and
	// fingerprint.
	Head *head.Description

	base       *resnet50.Pretrained
	ex         *resnet50.Base
	set        *features.Set
	copies     []*features.Set
	train      trainer.Data
	valid      *features.Labeled
	kept       func(pathIndex int) bool // the photo decoded
	lock       *trainer.RunLock
	newRun     bool
	fineTuneTo string // stage of the last FineTune
	fineTune   fineTuneData
	model      *Model     // Model's cache
	headFn     head.Func  // the head trained: Config.Head or the built-in one
	weights    []float64  // the loss's class weights (Run.ClassWeight resolved), nil: none
	asGiven    config.Run // the run as configured, before its data was resolved to a folder: it names the run folder
}

// New prepares a run as configured, resuming the run folder's training when it has one.
func New(cfg Config) (*Learner, error) {
	l := &Learner{FeatureSeconds: map[string]float64{}}
	steps := []struct {
		name string
		do   func() error
	}{
		{"configure", func() error { return l.configure(cfg) }},
		{"scan and split", l.scanAndSplit},
		{"load the base", l.loadBase},
		{"claim the run folder", l.claimRunFolder},
		{"extract features", l.extractFeatures},
		{"prepare the head", l.prepareHead},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *Learner) configure(cfg Config) error {
	var err error
	if l.Config, err = cfg.withDefaults(); err != nil {
		return err
	}
	l.asGiven = l.Config.Run
	data, err := l.DataDir(l.Progress)
	if err != nil {
		return err
	}
	if l.Data, err = filepath.Abs(data); err != nil {
		return errors.Wrapf(err, "learner: dataset folder %q", data)
	}
	l.Weights = l.WeightsSpec()
	return nil
}

// scanAndSplit is the article's generate_csv and train_test_split: classes from folder names,
// an 80/20 split with seed 42, not stratified (as the article's train_test_split).
func (l *Learner) scanAndSplit() error {
	split, report, err := prepare.FromFolder(l.Data, prepare.Options{ValidFraction: l.ValidSplit, Seed: l.Seed})
	if report != nil {
		// One line, and none for the licence file (kept for its credits, expected): the full
		// report is the labels step's (flowers labels, labels.Scan).
		var skipped []string
		for _, sk := range report.Skipped {
			if report.License == nil || sk.Path != report.License.Path {
				skipped = append(skipped, filepath.Base(sk.Path))
			}
		}
		if n := len(skipped); n > 0 {
			more := ""
			if n > 3 {
				skipped, more = skipped[:3], ", …"
			}
			logf(l.Log, "dataset: %d files skipped (%s%s; flowers labels -data lists why)\n", n, strings.Join(skipped, ", "), more)
		}
	}
	if err != nil {
		return err
	}
	l.warnSplit(split)
	if msg := trainer.ImbalanceWarning(split.Classes, classCounts(split.TrainCodes, len(split.Classes))); msg != "" {
		logf(l.Log, "warning: %s%s\n", msg, map[bool]string{true: "", false: " (class_weight: -class-weight balanced)"}[l.ClassWeight != ""])
	}
	if l.weights, err = l.classWeights(split.Classes, split.TrainCodes); err != nil {
		return err
	}
	si := SplitInfo{Train: prepare.Paths(split.Train), TrainCodes: split.TrainCodes,
		Valid: prepare.Paths(split.Valid), ValidCodes: split.ValidCodes}
	l.Info = &RunInfo{Data: l.Data, Weights: l.Weights, CacheDir: l.Cache, Mode: l.Mode, ImageSize: l.ImageSize,
		Seed: l.Seed, Classes: split.Classes, Split: si, DataKey: dataKey(si)}
	return nil
}

// loadBase loads the ResNet50 weights, prepares the frozen base on the backend and describes
// the head on its output.
func (l *Learner) loadBase() error {
	var err error
	if l.base, err = resnet50.LoadPretrained(l.Weights, l.WeightsDir(), false, l.Log); err != nil {
		return err
	}
	l.Info.WeightsID = l.base.ID
	if l.Backend, err = backend.New(l.Config.Backend, l.Log); err != nil {
		return err
	}
	l.ex, err = resnet50.NewBase(l.Backend, l.base.File, resnet50.Options{Pooling: poolingOf(l.Pooling)})
	if err != nil {
		return err
	}
	l.headFn = l.headFunc(len(l.Info.Classes))
	if l.Head, err = describeHead(l.Backend, l.headFn, l.ex.OutputShape(1, l.ImageSize, l.ImageSize)[1:], l.Info.Classes); err != nil {
		return err
	}
	l.Info.Head = HeadInfo{Name: l.HeadName, BuiltIn: l.Config.Head == nil, Pooling: l.Pooling, Input: l.Head.Input,
		Fingerprint: l.Head.Fingerprint, Layers: l.Head.Layers}
	if l.Config.Head == nil {
		l.Info.Head.Dropout = l.Dropout
	}
	return nil
}

// describeHead describes fn on the base's output of the given per-example dims, and refuses a
// head whose logits do not match the classes.
func describeHead(b compute.Backend, fn head.Func, dims []int, classes []string) (*head.Description, error) {
	d, err := head.Describe(b, fn, dims)
	if err != nil {
		return nil, err
	}
	if d.Classes() != len(classes) {
		return nil, errors.Errorf("the head gives %d logits, but the data has %d classes (%s): make its last Dense %d wide",
			d.Classes(), len(classes), strings.Join(classes, ", "), len(classes))
	}
	return d, nil
}

// claimRunFolder locks the run folder for this process and checks that a run it already holds
// was trained on the same data and settings. Nothing in the folder is written yet.
func (l *Learner) claimRunFolder() error {
	auto := l.RunDir == ""
	var err error
	if l.RunDir, err = l.asGiven.RunFolder(l.HeadName + "-" + l.Head.Fingerprint[:6]); err != nil {
		return err
	}
	if err := l.Config.checkFolders(); err != nil {
		return err
	}
	if _, err := os.Stat(l.RunDir); os.IsNotExist(err) {
		if auto {
			l.sayHeadChanged()
		}
		l.newRun = true
	}
	if err := os.MkdirAll(l.RunDir, 0o755); err != nil {
		return errors.Wrapf(err, "creating run folder %q", l.RunDir)
	}
	if l.lock, err = trainer.LockRunDir(l.RunDir); err != nil {
		return err
	}
	old, err := LoadRunInfo(l.RunDir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(l.RunDir, RunInfoFile)); os.IsNotExist(statErr) {
			l.newRun = true
			return nil
		}
		return err
	}
	if changes := l.Info.Changes(old); len(changes) > 0 {
		return errors.Errorf("run folder %q was started on other data or settings, so it cannot resume:\n  - %s\nStart a new run with another -run folder, or use the same data and settings to resume (nothing in %s was changed)",
			l.RunDir, strings.Join(changes, "\n  - "), l.RunDir)
	}
	l.Info.FineTune = old.FineTune
	return nil
}

// extractFeatures runs the frozen base over every photo of the split once (or reuses the
// cache), and in augment mode prepares the augmented training data.
func (l *Learner) extractFeatures() error {
	si := l.Info.Split
	all := append(append([]string{}, si.Train...), si.Valid...)
	start := time.Now()
	set, err := features.Build(l.ex, features.Options{CacheDir: l.FeaturesDir(), Paths: all,
		Size: l.ImageSize, Pooling: poolingOf(l.Pooling).String(), WeightsID: l.Info.WeightsID,
		BatchSize: l.BatchSize, Progress: l.Progress, Log: l.Log})
	if err != nil {
		return err
	}
	l.set = set
	l.FeatureSeconds["base"] = time.Since(start).Seconds()
	l.kept = func(i int) bool { return set.RowOf(i) >= 0 }
	l.Dropped = set.Failures
	for _, f := range set.Failures {
		logf(l.Log, "left out (cannot be decoded): %q: %s\n", f.Path, f.Reason)
	}
	train, _ := features.NewLabeled(set, seq(0, len(si.Train)), toInt32(si.TrainCodes))
	l.valid, _ = features.NewLabeled(set, seq(len(si.Train), len(all)), toInt32(si.ValidCodes))
	if n := len(set.Failures); n > 0 {
		logf(l.Log, "features: %d photos could not be decoded and are left out (listed above)\n", n)
	}
	if train.Len() == 0 || l.valid.Len() == 0 {
		return errors.Errorf("learner: %d training and %d validation photos decoded: not enough to train", train.Len(), l.valid.Len())
	}
	l.train = train
	if l.Mode == ModeAugment {
		aug := &photos{size: l.ImageSize, aug: l.Augmentation, ex: l.ex}
		aug.paths, aug.codes = l.keptPaths(si.Train, si.TrainCodes, 0)
		l.train = aug
		if l.AugmentCopies > 0 {
			start := time.Now()
			if l.train, err = l.augmentedCopies(aug); err != nil {
				return err
			}
			l.FeatureSeconds["augmented_copies"] = time.Since(start).Seconds()
		}
	}
	return nil
}

// keptPaths returns the paths (and labels) of a split part whose photos decoded; offset is the
// part's first index in the features set (0 for training, len(Train) for validation).
func (l *Learner) keptPaths(paths []string, codes []int, offset int) ([]string, []int32) {
	var ps []string
	var cs []int32
	for i, p := range paths {
		if l.kept(offset + i) {
			ps, cs = append(ps, p), append(cs, int32(codes[i]))
		}
	}
	return ps, cs
}

// prepareHead creates the head with its initial values and its trainer (which resumes the
// run folder's checkpoint, if any); run.json is written once all of it succeeded.
func (l *Learner) prepareHead() error {
	store := model.NewStore()
	store.SetParam("/"+head.SeedParam, l.Seed)
	if _, err := head.Init(l.Backend, store, l.headFn, l.Head.Input); err != nil {
		return err
	}
	id := identity{Classes: l.Info.Classes, DataKey: l.Info.DataKey}
	var err error
	l.Trainer, err = trainer.New(trainer.Config{Backend: l.Backend, Store: store, RunDir: l.RunDir,
		Model: l.headFn, Loss: l.Loss, Optimizer: l.Optimizer,
		Identity: id, CheckIdentity: id.check, Options: l.options(l.weights)})
	if err != nil {
		return err
	}
	if l.Trainer.Resumed != "" {
		st := l.Trainer.State
		logf(l.Log, "resuming from %s: step %d, epoch %d/%d (+%d steps)\n", filepath.Base(l.Trainer.Resumed),
			st.Step, min(st.Epoch+1, l.Epochs), l.Epochs, st.StepInEpoch)
	}
	if l.newRun || l.Trainer.Resumed == "" {
		return l.Info.save(l.RunDir)
	}
	return nil
}

// Fit trains the head for Config.Epochs on the frozen base's features (or the augmented
// photos through it), validating after each epoch; a resumed run continues.
func (l *Learner) Fit() (trainer.History, error) {
	st := l.Trainer.State
	if !st.Done || st.Epoch < l.Epochs {
		trainable, _ := l.Head.Params()
		logf(l.Log, "training the %s head (%d trainable parameters, on the base's %s output) on %d images, validating on %d: %d epochs × %d steps, batch %d, mode %s\n",
			l.HeadName, trainable, HeadInput(l.Pooling), l.train.Len(), l.valid.Len(), l.Epochs,
			trainer.StepsPerEpoch(l.train.Len(), l.BatchSize), l.BatchSize, l.Mode)
	}
	return l.Trainer.Fit(l.train, l.valid)
}

// Model returns the trained model (the fine-tuned one after FineTune) for evaluation and
// prediction; it shares the learner's state and needs no Close.
func (l *Learner) Model() *Model {
	if l.model != nil {
		return l.model
	}
	m := &Model{Info: l.Info, Backend: l.Backend, log: l.Log, shared: true, ex: l.ex, base: l.base, headFn: l.headFn}
	tr := l.Trainer
	if l.FineTuner != nil {
		tr, m.FineTuned = l.FineTuner, true
	}
	m.State, m.Checkpoint, m.store = tr.State, tr.Resumed, tr.Store
	l.model = m
	return m
}

// Evaluate scores the current model on the validation photos: accuracy, loss, per-class
// precision and recall, the confusion matrix.
func (l *Learner) Evaluate() (*metrics.Report, error) {
	if l.FineTuner == nil {
		r, err := l.Trainer.Evaluate(l.valid)
		if err != nil {
			return nil, err
		}
		return report(r, l.Info.Classes)
	}
	return l.Model().Evaluate(l.Progress)
}

// Predict classifies image files with the current model (decoded and resized as in training,
// no augmentation), giving the topK classes of each; a file that cannot be decoded gets its
// Err set and the others are still predicted.
func (l *Learner) Predict(paths []string, topK int) ([]Prediction, error) {
	return l.Model().Predict(paths, topK)
}

// Close releases the run folder, the features and the compiled graphs.
func (l *Learner) Close() {
	if l.model != nil {
		l.model.Close()
	}
	for _, tr := range []*trainer.Trainer{l.Trainer, l.FineTuner} {
		if tr != nil {
			tr.Close()
		}
	}
	for _, s := range append(l.copies, l.set) {
		if s != nil {
			s.Close()
		}
	}
	if l.ex != nil {
		l.ex.Finalize()
	}
	l.lock.Release()
}

// report turns an evaluation into the metrics report; its loss is the one computed from the
// logits in the graph, the same number Fit reports as val_loss (metrics.Evaluate alone only
// sees probabilities and has to clip them).
func report(r *trainer.EvalResult, classes []string) (*metrics.Report, error) {
	rep, err := metrics.Evaluate(classes, r.Labels, r.Probs)
	if err != nil {
		return nil, err
	}
	rep.Loss = r.Loss
	return rep, nil
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func toInt32(x []int) []int32 {
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(v)
	}
	return out
}

// classCounts counts the codes of each of k classes.
func classCounts(codes []int, k int) []int {
	out := make([]int, k)
	for _, c := range codes {
		if c >= 0 && c < k {
			out[c]++
		}
	}
	return out
}
