package learner

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// The three ways of using a network that Compare trains, in the article's terms.
const (
	// WayScratch is no transfer at all: the same architecture from random initial weights
	// (resnet50.RandomWeights), every layer trained on the photos.
	WayScratch = "from scratch"
	// WayFrozen is the pre-trained base as a fixed feature extractor: only the head trains,
	// on the base's cached outputs (the article's model).
	WayFrozen = "frozen features"
	// WayFineTuned trains the head first, then unfreezes the last stage and trains it with the
	// head at Config.FineTuneLR (fastai's fine_tune).
	WayFineTuned = "fine-tuned"
)

// Defaults of CompareOptions.
const (
	DefaultCompareEpochs = 3
	DefaultFreezeEpochs  = 1
	DefaultFineTuneStage = "conv5"
)

// CompareOptions set the budget of Compare; zero values take the defaults.
type CompareOptions struct {
	// Epochs every way trains for over the same training photos (default 3).
	Epochs int
	// FreezeEpochs of the fine-tuned way train the head alone before the base is unfrozen
	// (default 1, as fastai's fine_tune); it must be less than Epochs.
	FreezeEpochs int
	// Stage is the first layer (prefix) the fine-tuned way trains (default "conv5").
	Stage string
}

// Way is one way's run in a Comparison.
type Way struct {
	Name string // WayScratch, WayFrozen or WayFineTuned
	// History has one line per epoch, 1..Epochs (the fine-tuned way's phases joined).
	History trainer.History
	// FineTuneAfter is the epoch after which the base was unfrozen (the "start fine-tuning"
	// marker); 0 for the other ways.
	FineTuneAfter int
	// Trainable parameters in the (last) phase.
	Trainable int
	// Seconds of training and validation (the epochs' sum); FeatureSeconds spent extracting
	// the frozen features first (about 0 when they came from the cache; for the fine-tuned
	// way, also the pass of the frozen layers before fine-tuning).
	Seconds, FeatureSeconds float64
	RunDir                  string
}

// Final is the way's last epoch.
func (w Way) Final() trainer.EpochStats {
	if len(w.History) == 0 {
		return trainer.EpochStats{ValAccuracy: math.NaN(), ValLoss: math.NaN()}
	}
	return w.History[len(w.History)-1]
}

// Best is the highest validation accuracy of any epoch.
func (w Way) Best() float64 {
	best := math.NaN()
	for _, e := range w.History {
		if !(e.ValAccuracy <= best) {
			best = e.ValAccuracy
		}
	}
	return best
}

// Comparison is the outcome of Compare.
type Comparison struct {
	Ways                []Way // WayScratch, WayFrozen, WayFineTuned
	Epochs, FreezeEpoch int
	Stage               string
	ImageSize           int
	Weights             string
	Classes             []string
}

// Compare trains the three ways of the article's "迁移学习的使用方法" on the same photos, image
// size, head, batch, seed and number of epochs: from scratch, frozen features, and fine-tuned
// (FreezeEpochs with the base frozen, then opts.Stage onwards unfrozen), and returns their
// histories, trainable parameters and times. Nothing is augmented (the cached features cannot
// be), so all three see the same photos. Each way is a run of its own under cfg.RunDir
// (scratch/, frozen/, fine-tuned/): running again resumes or reads them.
//
// Training ResNet50 itself is what costs: on a 2-core CPU at 96×96, one epoch of 160 photos
// takes about 20 s fine-tuning conv5 and 75 s from scratch, against well under a second for the
// head on cached features.
func Compare(cfg Config, opts CompareOptions) (*Comparison, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.RunDir == "" {
		return nil, errors.New("learner.Compare: a run folder (RunDir) is required: each way trains in a sub-folder of it")
	}
	cfg.Mode, cfg.Augment, cfg.Augmentation, cfg.AugmentCopies = ModeCached, 0, nil, 0
	cfg.Epochs = opts.Epochs
	cmp := &Comparison{Epochs: opts.Epochs, FreezeEpoch: opts.FreezeEpochs, Stage: opts.Stage}

	// Frozen features: the head on the cached outputs of the pre-trained base.
	fc := cfg
	fc.RunDir = filepath.Join(cfg.RunDir, "frozen")
	frozen, err := New(fc)
	if err != nil {
		return nil, err
	}
	defer frozen.Close()
	cmp.ImageSize, cmp.Weights, cmp.Classes = frozen.ImageSize, frozen.Weights, frozen.Info.Classes
	headParams, _ := frozen.Head.Params()
	logf(frozen.Log, "compare: %s\n", WayFrozen)
	hist, err := frozen.Fit()
	if err != nil {
		return nil, errors.WithMessage(err, WayFrozen)
	}
	wf := Way{Name: WayFrozen, History: hist, Trainable: headParams, FeatureSeconds: frozen.FeatureSeconds["base"], RunDir: fc.RunDir}

	// Fine-tuned: the head first, then the base from Stage on with it.
	tc := cfg
	tc.RunDir = filepath.Join(cfg.RunDir, "fine-tuned")
	tc.Epochs, tc.FineTuneEpochs = opts.FreezeEpochs, opts.Epochs-opts.FreezeEpochs
	tuned, err := New(tc)
	if err != nil {
		return nil, err
	}
	defer tuned.Close()
	logf(frozen.Log, "compare: %s (%d epoch(s) of the head, then %s onwards)\n", WayFineTuned, opts.FreezeEpochs, opts.Stage)
	wt, err := tuned.fineTunedWay(opts.Stage, headParams, tc.RunDir)
	if err != nil {
		return nil, errors.WithMessage(err, WayFineTuned)
	}

	// From scratch: the same architecture, random initial weights, everything trained.
	logf(frozen.Log, "compare: %s\n", WayScratch)
	ws, err := frozen.fromScratch(filepath.Join(cfg.RunDir, "scratch"))
	if err != nil {
		return nil, errors.WithMessage(err, WayScratch)
	}
	ws.Trainable = headParams + baseTrainable(resnet50.Options{})

	cmp.Ways = []Way{*ws, wf, *wt}
	cmp.total(frozen.Log)
	return cmp, nil
}

// withDefaults returns opts with its zero fields set to the defaults, or an error naming what
// Compare cannot train.
func (opts CompareOptions) withDefaults() (CompareOptions, error) {
	if opts.Epochs == 0 {
		opts.Epochs = DefaultCompareEpochs
	}
	if opts.FreezeEpochs == 0 {
		opts.FreezeEpochs = DefaultFreezeEpochs
	}
	if opts.Stage == "" {
		opts.Stage = DefaultFineTuneStage
	}
	if opts.Epochs < 2 || opts.FreezeEpochs < 1 || opts.FreezeEpochs >= opts.Epochs {
		return opts, errors.Errorf("learner.Compare: %d epochs with %d frozen ones: want at least 2 epochs and 1 ≤ frozen epochs < epochs",
			opts.Epochs, opts.FreezeEpochs)
	}
	if _, err := resnet50.Layers(resnet50.Options{TrainableFrom: opts.Stage}); err != nil {
		return opts, errors.WithMessage(err, "learner.Compare")
	}
	return opts, nil
}

// fineTunedWay trains l's head for its epochs, then the base from stage on with the head for
// its fine-tuning epochs, and returns the two phases as one history (in dir; headParams are
// the head's trainable parameters).
func (l *Learner) fineTunedWay(stage string, headParams int, dir string) (*Way, error) {
	h1, err := l.Fit()
	if err != nil {
		return nil, err
	}
	h2, err := l.FineTune(stage)
	if err != nil {
		return nil, err
	}
	w := &Way{Name: WayFineTuned, History: append(trainer.History{}, h1...), FineTuneAfter: len(h1),
		Trainable: headParams + baseTrainable(resnet50.Options{TrainableFrom: stage}), RunDir: dir,
		FeatureSeconds: l.FeatureSeconds["base"] + l.FeatureSeconds["finetune_frozen"]}
	for _, e := range h2 {
		e.Epoch += len(h1)
		w.History = append(w.History, e)
	}
	return w, nil
}

// total sums each way's training and validation time over its epochs and logs its outcome.
func (cmp *Comparison) total(log io.Writer) {
	for i := range cmp.Ways {
		w := &cmp.Ways[i]
		for _, e := range w.History {
			w.Seconds += e.Seconds
		}
		logf(log, "compare: %-15s val_accuracy %.3f after %d epochs (best %.3f), %d trainable parameters, %.0fs\n",
			w.Name, w.Final().ValAccuracy, len(w.History), w.Best(), w.Trainable, w.Seconds)
	}
}

// baseTrainable counts the base's trainable parameters under opts.
func baseTrainable(opts resnet50.Options) int {
	layers, err := resnet50.Layers(opts)
	if err != nil {
		return 0
	}
	n := 0
	for i := range layers {
		_, t := layers[i].NumParams()
		n += t
	}
	return n
}

// fromScratch trains ResNet50 from resnet50.RandomWeights(seed) with l's head, every layer
// trainable, on l's photos (those that decoded) for l's epochs, in dir.
func (l *Learner) fromScratch(dir string) (*Way, error) {
	store := model.NewStore()
	store.SetParam("/"+head.SeedParam, l.Seed)
	if _, err := head.Init(l.Backend, store, l.headFn, l.Head.Input); err != nil {
		return nil, err
	}
	// Every layer trainable from the first one (conv1_conv): fullModel with nothing frozen.
	init := &resnet50.Pretrained{Spec: fmt.Sprintf("random:%d", l.Seed), File: resnet50.RandomWeights(l.Seed, false)}
	id := identity{Classes: l.Info.Classes, DataKey: l.Info.DataKey, Stage: "scratch"}
	tr, err := trainer.New(trainer.Config{Backend: l.Backend, Store: store, RunDir: dir, Model: fullModel(init, "conv1", l.Pooling, l.headFn),
		Loss: l.Loss, Optimizer: l.Optimizer, Identity: id, CheckIdentity: id.check, Options: l.options(l.weights)})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	si := l.Info.Split
	train := &photos{size: l.ImageSize, ex: features.Pixels{}}
	train.paths, train.codes = l.keptPaths(si.Train, si.TrainCodes, 0)
	valid := &photos{size: l.ImageSize, ex: features.Pixels{}}
	valid.paths, valid.codes = l.keptPaths(si.Valid, si.ValidCodes, len(si.Train))
	start := time.Now()
	hist, err := tr.Fit(train, valid)
	if err != nil {
		return nil, err
	}
	logf(l.Log, "from scratch: %d epochs in %.0fs\n", len(hist), time.Since(start).Seconds())
	return &Way{Name: WayScratch, History: hist, RunDir: dir}, nil
}
