package learner

import (
	"fmt"
	"io"
	"math"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// Modes of Config.Mode.
const (
	ModeCached  = "cached"  // frozen base run once; the head trains on cached features
	ModeAugment = "augment" // images augmented on the fly through the frozen base every epoch (the article's way)
)

// Config is a whole run, as `flowers train` and the notebooks describe it: the data, the base,
// the head (head.Config, embedded) and the training (trainer.Options, embedded). Zero values
// take the defaults of flowerlib/defaults, the article's settings; Validate refuses the rest.
type Config struct {
	Data     string `json:"data"`      // dataset root: one sub-folder per class
	Weights  string `json:"weights"`   // "imagenet" (default), a Keras .h5 file, or "random[:SEED]" (offline, NOT ImageNet)
	RunDir   string `json:"run_dir"`   // checkpoints, history, run.json; required
	CacheDir string `json:"cache_dir"` // downloads, weights and features; default $FLOWERS_CACHE or <user cache>/flowers

	Mode       string  `json:"mode"`           // ModeCached (default) or ModeAugment
	ImageSize  int     `json:"image_size"`     // default 224
	ValidSplit float64 `json:"valid_fraction"` // default 0.2
	Backend    string  `json:"-"`              // "" = the best installed (see flowerlib/backend)

	// Augment is the training photos' augmentation (mode augment, and fine-tuning), drawn
	// from its Seed; nil: none. ArticleAugmentation gives the article's.
	Augment *augment.Config `json:"augment,omitempty"`
	// AugmentCopies > 0 caches that many augmented copies of the training features ahead and
	// cycles through them (epoch e uses copy e mod K) instead of running the base every epoch.
	AugmentCopies int `json:"augment_copies,omitempty"`

	// FineTuneLR and FineTuneEpochs configure FineTune (defaults 1e-5, 5 epochs).
	FineTuneLR     float64 `json:"fine_tune_lr,omitempty"`
	FineTuneEpochs int     `json:"fine_tune_epochs,omitempty"`

	head.Config
	trainer.Options
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Options = c.Options.WithDefaults()
	if c.InitSeed == 0 {
		c.InitSeed = c.Seed // one seed for the split, the shuffles and the initialisation, as the article
	}
	c.Config = c.Config.Defaults()
	if c.Weights == "" {
		c.Weights = "imagenet"
	}
	if c.CacheDir == "" {
		c.CacheDir = defaults.CacheDir()
	}
	if c.Mode == "" {
		c.Mode = ModeCached
	}
	if c.ImageSize == 0 {
		c.ImageSize = defaults.ImageSize
	}
	if c.ValidSplit == 0 {
		c.ValidSplit = defaults.ValidFraction
	}
	if c.FineTuneLR == 0 {
		c.FineTuneLR = defaults.FineTuneLearningRate
	}
	if c.FineTuneEpochs == 0 {
		c.FineTuneEpochs = defaults.FineTuneEpochs
	}
	return c
}

// Validate reports settings that cannot be trained with, naming the setting and its range
// (after WithDefaults).
func (c Config) Validate() error {
	if c.RunDir == "" {
		return errors.New("learner: a run folder (RunDir, -run) is required")
	}
	if c.Data == "" {
		return errors.New("learner: a dataset folder (Data, -data) is required")
	}
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.Options.Validate(); err != nil {
		return err
	}
	switch {
	case c.Mode != ModeCached && c.Mode != ModeAugment:
		return errors.Errorf("learner: mode %q: want %s or %s", c.Mode, ModeCached, ModeAugment)
	case c.Mode == ModeAugment && c.Augment == nil:
		return errors.New("learner: mode augment needs Config.Augment (ArticleAugmentation, or flowerlib/augment)")
	case c.ImageSize < defaults.MinImageSize || c.ImageSize > defaults.MaxImageSize:
		return errors.Errorf("learner: image size must be in [%d, %d] (ResNet50's last stage needs at least 32×32), got %d",
			defaults.MinImageSize, defaults.MaxImageSize, c.ImageSize)
	case !(c.ValidSplit > 0 && c.ValidSplit < 1):
		return errors.Errorf("learner: the validation fraction must be in (0, 1), got %g", c.ValidSplit)
	case c.Augment != nil && c.Augment.Validate() != nil:
		return errors.WithMessage(c.Augment.Validate(), "learner")
	case c.AugmentCopies < 0:
		return errors.Errorf("learner: augment copies must be ≥ 0, got %d", c.AugmentCopies)
	case !(c.FineTuneLR > 0) || math.IsInf(c.FineTuneLR, 0) || c.FineTuneEpochs < 1:
		return errors.Errorf("learner: fine-tuning needs a positive learning rate and at least 1 epoch, got %g and %d",
			c.FineTuneLR, c.FineTuneEpochs)
	case c.BatchSize > defaults.MaxBatch(c.ImageSize):
		return errors.Errorf("learner: batch size %d at %d×%d needs about %.1f GiB per forward pass, more than this machine's memory allows (at most %d)",
			c.BatchSize, c.ImageSize, c.ImageSize, float64(defaults.ForwardBytes(c.BatchSize, c.ImageSize))/(1<<30), defaults.MaxBatch(c.ImageSize))
	}
	return nil
}

// absolute makes the folders absolute, so run.json means the same from any working folder.
func (c Config) absolute() (Config, error) {
	for _, p := range []*string{&c.Data, &c.RunDir, &c.CacheDir} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return c, errors.Wrapf(err, "learner: %q", *p)
		}
		*p = abs
	}
	return c, nil
}

// ArticleAugmentation returns Config.Augment for the article's ImageDataGenerator
// (rotation_range=40, width/height_shift_range=0.4, shear_range=0.2, zoom_range=0.3,
// horizontal_flip=True, fill_mode="nearest"), drawn from randomSeed, without the article's
// rescale=1/255 (the ResNet50 weights expect RGB 0..255).
func ArticleAugmentation(randomSeed int64) *augment.Config {
	a := augment.SeedArticle()
	a.Rescale, a.Seed = 1, randomSeed
	return &a
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// poolingOf is the base's pooling a head kind trains on.
func poolingOf(k head.Kind) resnet50.Pooling {
	switch k {
	case head.Avg:
		return resnet50.PoolingAvg
	case head.Max:
		return resnet50.PoolingMax
	}
	return resnet50.PoolingNone
}
