// Package defaults is the one place where each setting of a run is declared: its name, its
// default — the article's choices (迁移学习理论与实践: 224×224 photos, random_state=42,
// an 80/20 split, he_normal(seed=42), 30 epochs, Keras' Adam() and batch size) — and the range
// every entry point accepts. flowerlib/config binds them to a run's description, the flowers
// command's flags and the notebooks' settings; the library checks its inputs with them; so none
// of these can drift apart.
package defaults

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Int is an integer setting in [Min, Max].
type Int struct {
	Name              string
	Default, Min, Max int
	Help              string
}

// Check returns an error naming the setting and its range when v is outside it.
func (s Int) Check(v int) error {
	if v < s.Min || v > s.Max {
		return fmt.Errorf("%s %d: must be %s", s.Name, v, s.Range())
	}
	return nil
}

// Range says what the setting accepts ("1 to 4096", "≥ 0").
func (s Int) Range() string { return rangeText(float64(s.Min), float64(s.Max), false) }

// Float is a finite number setting in [Min, Max] (Min excluded when OpenMin, Max when OpenMax).
type Float struct {
	Name              string
	Default, Min, Max float64
	OpenMin, OpenMax  bool
	Help              string
}

// Check returns an error naming the setting and its range when v is outside it (or not finite).
func (s Float) Check(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < s.Min || v > s.Max || (s.OpenMin && v == s.Min) || (s.OpenMax && v == s.Max) {
		return fmt.Errorf("%s %g: must be a number %s", s.Name, v, s.Range())
	}
	return nil
}

// Range says what the setting accepts ("0 to 0.99", "> 0 and ≤ 10").
func (s Float) Range() string {
	if !s.OpenMin && !s.OpenMax {
		return rangeText(s.Min, s.Max, false)
	}
	lo, hi := "≥", "≤"
	if s.OpenMin {
		lo = ">"
	}
	if s.OpenMax {
		hi = "<"
	}
	return fmt.Sprintf("%s %g and %s %g", lo, s.Min, hi, s.Max)
}

// Choice is a setting with a fixed set of values.
type Choice struct {
	Name, Default string
	Values        []string
	Help          string
}

// Check returns an error naming the setting and its values when v is not one of them.
func (s Choice) Check(v string) error {
	if !slices.Contains(s.Values, v) {
		return fmt.Errorf("%s %q: must be one of %s", s.Name, v, strings.Join(s.Values, ", "))
	}
	return nil
}

func rangeText(lo, hi float64, _ bool) string {
	if hi >= math.MaxInt32 {
		return fmt.Sprintf("≥ %g", lo)
	}
	return fmt.Sprintf("%g to %g", lo, hi)
}

// The settings of a run. Names are the flags' and run.json's; FLOWERS_<NAME> (upper case, '-'
// as '_') the environment variables of the notebooks.
var (
	// Seed is the article's random_state=42: the split, the shuffles, the head's initialisation.
	Seed = Int{Name: "seed", Default: 42, Min: 1, Max: math.MaxInt,
		Help: "seed of the split, the shuffles, augmentation and the initial weights (the article's random_state=42)"}
	// ImageSize is the side the photos are resized to (the article's 224×224, ResNet50's
	// ImageNet size). At least 32: ResNet50's last stage needs a pixel; beyond 1024 a typo is
	// likelier than intent (1024² images already need ~2 GB each in training).
	ImageSize = Int{Name: "size", Default: 224, Min: 32, Max: 1024, Help: "photos are resized to size×size"}
	// ValidFraction is train_test_split(test_size=0.2).
	ValidFraction = Float{Name: "valid", Default: 0.2, Min: 0, Max: 1, OpenMin: true, OpenMax: true,
		Help: "fraction of the photos held out for validation (the article's test_size=0.2)"}
	// Epochs is fit_generator(epochs=30).
	Epochs = Int{Name: "epochs", Default: 30, Min: 1, Max: 1_000_000, Help: "passes over the training photos (the article's 30)"}
	// BatchSize is Keras' default batch size (the article's generators use 32); MaxBatch bounds
	// it further by memory when the base runs on photos.
	BatchSize = Int{Name: "batch", Default: 32, Min: 1, Max: 4096, Help: "photos per step (Keras' default 32)"}
	// LearningRate is keras.optimizers.Adam()'s default.
	LearningRate = Float{Name: "lr", Default: 1e-3, Min: 0, Max: 10, OpenMin: true, Help: "Adam's learning rate (Keras' default 1e-3)"}
	// Dropout is the rate after each hidden Dense of the built-in head (the article has none).
	Dropout = Float{Name: "dropout", Default: 0, Min: 0, Max: 0.99, Help: "dropout after each hidden Dense of the built-in head (the article: 0)"}
	// Augment is the strength of the training photos' augmentation: 1 is the article's
	// ImageDataGenerator ranges, 0 (the default: the head trains on cached features) none. It
	// applies in augment mode, which needs it, and when fine-tuning.
	Augment = Float{Name: "augment", Default: 0, Min: 0, Max: 2,
		Help: "augmentation strength: 1 = the article's ImageDataGenerator ranges, 0 = none (augment mode, fine-tuning)"}
	// AugmentCopies > 0 caches that many augmented copies of the training features ahead.
	AugmentCopies = Int{Name: "augment-copies", Default: 0, Min: 0, Max: 1000,
		Help: "augment mode: cache this many augmented copies of the features ahead and cycle through them"}
	// PerClass > 0 uses only the first N photos of each class.
	PerClass = Int{Name: "per-class", Default: 0, Min: 0, Max: math.MaxInt32, Help: "use only the first N photos of each class (0: all)"}
	// FineTuneLearningRate and FineTuneEpochs are the fine-tuning phase's (Keras' transfer
	// learning guide fine-tunes at 1e-5).
	FineTuneLearningRate = Float{Name: "fine-tune-lr", Default: 1e-5, Min: 0, Max: 10, OpenMin: true, Help: "learning rate of the fine-tuning phase"}
	FineTuneEpochs       = Int{Name: "fine-tune-epochs", Default: 5, Min: 1, Max: 1_000_000, Help: "epochs of the fine-tuning phase"}
	// CheckpointSteps also checkpoints every N steps; EarlyStopping stops after N epochs
	// without improvement; KeepCheckpoints is how many verified checkpoints a run keeps.
	CheckpointSteps = Int{Name: "checkpoint-steps", Default: 0, Min: 0, Max: math.MaxInt32, Help: "also checkpoint every N steps (0: after each epoch only)"}
	EarlyStopping   = Int{Name: "early-stopping", Default: 0, Min: 0, Max: 1_000_000, Help: "stop after N epochs without improvement of the monitored value (0: off)"}
	KeepCheckpoints = Int{Name: "keep-checkpoints", Default: 2, Min: 1, Max: 1000, Help: "verified checkpoints kept in the run folder"}
	// Monitor is what early stopping and restore-best watch, as Keras' EarlyStopping default.
	Monitor = Choice{Name: "monitor", Default: "val_loss", Values: []string{"val_loss", "val_accuracy"},
		Help: "what early stopping and restore-best watch"}
	// Mode: the frozen base run once with its outputs cached, or the article's way.
	Mode = Choice{Name: "mode", Default: "cached", Values: []string{"cached", "augment"},
		Help: "cached (the base runs once, its outputs cached) or augment (augmented photos through the base every epoch: the article's way)"}
	// Schedule moves the learning rate each step: constant (the article's), fastai's one-cycle
	// (fit_one_cycle), or a cosine with a linear warm-up (Keras' CosineDecay, GoMLX's
	// cosineschedule). WarmupSteps is the cosine's warm-up.
	Schedule = Choice{Name: "schedule", Default: "constant", Values: []string{"constant", "one-cycle", "cosine"},
		Help: "learning-rate schedule: constant (the article's), one-cycle (fastai's fit_one_cycle) or cosine (with -warmup-steps)"}
	WarmupSteps = Int{Name: "warmup-steps", Default: 0, Min: 0, Max: math.MaxInt32, Help: "cosine schedule: steps of linear warm-up"}
	// LabelSmoothing is Keras' CategoricalCrossentropy(label_smoothing=…).
	LabelSmoothing = Float{Name: "label-smoothing", Default: 0, Min: 0, Max: 1, OpenMax: true,
		Help: "Keras' label_smoothing: targets y·(1−ls) + ls/classes"}
	// LRMult spreads fine-tuning's rates over the unfrozen stages, fastai's lr_mult: the first
	// unfrozen stage at fine-tune-lr/lr-mult, geometrically up to fine-tune-lr for the head
	// (fastai's slice(lr/lr_mult, lr)); 1: one rate for all.
	LRMult = Float{Name: "lr-mult", Default: 1, Min: 1, Max: 1e6,
		Help: "fine-tuning's discriminative rates: the first unfrozen stage at fine-tune-lr/lr-mult, geometric up to the head (fastai's slice; 100 in its fine_tune)"}
	// Pooling is what the base gives the head: its 7×7×2048 map (Keras' pooling=None, the
	// article's: the head flattens it) or its global average or max (2048 values, ~50× less work).
	Pooling = Choice{Name: "pooling", Default: "none", Values: []string{"none", "avg", "max"},
		Help: "what the base gives the head: none (the 7×7×2048 map: the article's), avg or max (pooled to 2048)"}
)

// Classes is the number of flower classes of flower_photos.
const Classes = 5

// ForwardBytes estimates the memory one ResNet50 forward pass needs for batch images of
// size×size: about 600 float32 values per input pixel (measured peak: 2.5 GiB at batch 32,
// 224², on the go backend).
func ForwardBytes(batch, size int) int64 {
	return int64(batch) * int64(size) * int64(size) * 600 * 4
}

// MaxBatch returns the largest batch whose ResNet50 forward at size×size fits in this
// machine's memory (at least 1, at most BatchSize.Max).
func MaxBatch(size int) int {
	if size < 1 {
		size = 1
	}
	n := MemoryBytes() / ForwardBytes(1, size)
	return int(max(1, min(n, int64(BatchSize.Max))))
}

// CheckBatch refuses a batch whose ResNet50 forward at size×size needs more memory than this
// machine has.
func CheckBatch(batch, size int) error {
	if m := MaxBatch(size); batch > m {
		return fmt.Errorf("batch %d: at size %d a forward pass needs about %.1f GiB, more than this machine's %.0f GiB: use a batch of %d or less",
			batch, size, float64(ForwardBytes(batch, size))/(1<<30), float64(MemoryBytes())/(1<<30), m)
	}
	return nil
}

// MemoryBytes is the machine's physical memory (MemTotal of /proc/meminfo; 16 GiB where it
// cannot be read).
func MemoryBytes() int64 {
	memOnce.Do(func() {
		memTotal = 16 << 30
		data, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil && kb > 0 {
					memTotal = kb << 10
				}
			}
		}
	})
	return memTotal
}

var (
	memOnce  sync.Once
	memTotal int64
)

// CacheEnv overrides CacheDir.
const CacheEnv = "FLOWERS_CACHE"

// CacheDir returns the one cache folder every flowerlib step shares (dataset, weights,
// features): $FLOWERS_CACHE, else $XDG_CACHE_HOME/flowers or ~/.cache/flowers.
func CacheDir() string {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "flowers")
	}
	return filepath.Join(os.TempDir(), "flowers-cache")
}

// WeightsDir is where downloaded and converted ResNet50 weights live in a cache folder, and
// FeaturesDir the frozen features: the one layout every command and notebook uses.
func WeightsDir(cacheDir string) string  { return filepath.Join(cacheDir, "weights") }
func FeaturesDir(cacheDir string) string { return filepath.Join(cacheDir, "features") }
