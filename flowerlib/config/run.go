// Package config is the one description of a run of transfer learning: the data, the frozen
// base, the built-in head's options and the training, with every default and range taken from
// flowerlib/defaults. The notebooks' settings cell is a Run:
//
//	var settings = config.Run{Data: "auto", Weights: "auto", Epochs: 30, ...}.FromEnv()
//
// the flowers command binds its flags to a Run (BindFlags), and flowerlib/learner trains one.
// Resolve turns "auto" data and weights into what the machine has, DataDir finds (or fetches)
// the photos, and RunFolder names the run folder of a run.
package config

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/pkg/errors"
)

// Run is a run of transfer learning. Zero values take the defaults (Defaults); Validate
// refuses what is out of range, naming the setting.
type Run struct {
	// Data is "auto" (the official flower_photos when it is in the cache or can be downloaded,
	// else "embedded"), "embedded" (50 photos built into flowerlib, offline anywhere), "sample"
	// (the 200 photos beside the repository on the project's machines), "download"
	// (flower_photos.tgz, 3670 photos, 218 MB, once), or a folder with one sub-folder per class.
	Data string `json:"data"`
	// Weights is "auto" (Keras' ImageNet weights when cached or downloadable, else "random"),
	// "imagenet" (the official Keras file, 94 MB, once), "random" or "random:SEED" (seeded
	// random weights in Keras' layout: offline, NOT ImageNet, so the accuracy means nothing),
	// or a Keras .h5 file.
	Weights  string `json:"weights"`
	PerClass int    `json:"per_class,omitempty"`
	// ImageSize, ValidSplit and Seed: the photos' side, the validation fraction and the seed
	// of the split, the shuffles, augmentation and the initial weights.
	ImageSize  int     `json:"image_size"`
	ValidSplit float64 `json:"valid_fraction"`
	Seed       int64   `json:"seed"`

	// Pooling is what the frozen base gives the head: "none" (its 7×7×2048 map, the article's),
	// "avg" or "max" (2048 pooled values).
	Pooling string `json:"pooling"`
	// Dropout is the built-in head's dropout after each hidden Dense (a head written in code
	// has its own).
	Dropout float64 `json:"dropout"`

	// Mode is "cached" (the base runs once, the head trains on its cached outputs) or
	// "augment" (augmented photos through the base every epoch, the article's way).
	Mode string `json:"mode"`
	// Augment is the augmentation's strength (1: the article's ImageDataGenerator, 0: none),
	// in augment mode and when fine-tuning; AugmentCopies > 0 caches that many augmented
	// copies of the training features ahead.
	Augment       float64 `json:"augment"`
	AugmentCopies int     `json:"augment_copies,omitempty"`

	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	// Schedule moves the rate each step ("constant", "one-cycle", "cosine" with WarmupSteps).
	Schedule    string `json:"schedule,omitempty"`
	WarmupSteps int    `json:"warmup_steps,omitempty"`
	// LabelSmoothing and ClassWeight are the loss's: Keras' label_smoothing, and its
	// class_weight, "" (none), "balanced" (scikit-learn's, from the training photos' counts) or
	// the weights in class order, "1,2.5,1,1,1".
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	ClassWeight    string  `json:"class_weight,omitempty"`
	// TTA also evaluates (and predicts) with test-time augmentation: the flip and five crops,
	// combined as fastai's learn.tta().
	TTA bool `json:"tta,omitempty"`

	// FineTune, when set, names the first layer (a stage like "conv5") that fine-tuning
	// unfreezes after the head has trained, for FineTuneEpochs at FineTuneLR.
	FineTune       string  `json:"fine_tune,omitempty"`
	FineTuneLR     float64 `json:"fine_tune_lr"`
	FineTuneEpochs int     `json:"fine_tune_epochs"`
	// LRMult gives the unfrozen stages rates from FineTuneLR/LRMult up to FineTuneLR for the
	// head (fastai's slice(lr/lr_mult, lr)); 1: one rate.
	LRMult float64 `json:"lr_mult,omitempty"`

	CheckpointSteps int    `json:"checkpoint_steps,omitempty"`
	EarlyStopping   int    `json:"early_stopping,omitempty"`
	KeepCheckpoints int    `json:"keep_checkpoints"`
	Monitor         string `json:"monitor"`
	RestoreBest     bool   `json:"restore_best,omitempty"`

	// RunDir is the run folder (checkpoints, history, run.json); "" names one after the
	// settings and the head under Work/run (RunFolder).
	RunDir string `json:"run_dir"`
	// Work holds the runs, labels and PerClass subsets of the notebooks (default "runs").
	Work string `json:"work"`
	// Cache holds downloads, weights and features (default $FLOWERS_CACHE, else
	// ~/.cache/flowers): shared by the notebooks and the command.
	Cache string `json:"cache"`
	// Backend is the GoMLX backend ("" = $GOMLX_BACKEND or the best installed).
	Backend string `json:"backend,omitempty"`

	// Auto says what Resolve chose for "auto" and why (not an input).
	Auto string `json:"-"`
}

// field binds one setting of flowerlib/defaults to a field of a Run.
type field struct {
	name, help string
	ptr        any // *int, *int64, *float64, *string or *bool
	def        any
	check      func() error
}

func intField(p *int, s defaults.Int) field {
	return field{s.Name, s.Help + " (" + s.Range() + ")", p, s.Default, func() error { return s.Check(*p) }}
}

func floatField(p *float64, s defaults.Float) field {
	return field{s.Name, s.Help + " (" + s.Range() + ")", p, s.Default, func() error { return s.Check(*p) }}
}

func choiceField(p *string, s defaults.Choice) field {
	return field{s.Name, s.Help + " (" + strings.Join(s.Values, ", ") + ")", p, s.Default, func() error { return s.Check(*p) }}
}

// fields lists every setting of r once, in the order the settings cell shows them.
func (r *Run) fields() []field {
	seed := field{defaults.Seed.Name, defaults.Seed.Help, &r.Seed, int64(defaults.Seed.Default),
		func() error { return defaults.Seed.Check(int(r.Seed)) }}
	return []field{
		{"data", "the photos: auto, embedded, sample, download, or a folder with one sub-folder per class", &r.Data, "auto", nil},
		{"weights", "ResNet50's weights: auto, imagenet, random[:SEED] (offline, NOT ImageNet) or a Keras .h5 file", &r.Weights, "auto", nil},
		intField(&r.PerClass, defaults.PerClass),
		intField(&r.ImageSize, defaults.ImageSize),
		floatField(&r.ValidSplit, defaults.ValidFraction),
		seed,
		choiceField(&r.Pooling, defaults.Pooling),
		floatField(&r.Dropout, defaults.Dropout),
		choiceField(&r.Mode, defaults.Mode),
		floatField(&r.Augment, defaults.Augment),
		intField(&r.AugmentCopies, defaults.AugmentCopies),
		intField(&r.Epochs, defaults.Epochs),
		intField(&r.BatchSize, defaults.BatchSize),
		floatField(&r.LearningRate, defaults.LearningRate),
		choiceField(&r.Schedule, defaults.Schedule),
		intField(&r.WarmupSteps, defaults.WarmupSteps),
		floatField(&r.LabelSmoothing, defaults.LabelSmoothing),
		{"class-weight", "Keras' class_weight: balanced (from the training photos' counts) or the weights in class order, e.g. 1,2.5,1,1,1", &r.ClassWeight, "",
			func() error { _, err := ParseClassWeight(r.ClassWeight); return err }},
		{"tta", "also evaluate with test-time augmentation (the flip and five crops, as fastai's learn.tta)", &r.TTA, false, nil},
		{"fine-tune", "after the head, unfreeze the base from this layer (e.g. conv5) and train both on the photos", &r.FineTune, "", nil},
		floatField(&r.FineTuneLR, defaults.FineTuneLearningRate),
		intField(&r.FineTuneEpochs, defaults.FineTuneEpochs),
		floatField(&r.LRMult, defaults.LRMult),
		intField(&r.CheckpointSteps, defaults.CheckpointSteps),
		intField(&r.EarlyStopping, defaults.EarlyStopping),
		intField(&r.KeepCheckpoints, defaults.KeepCheckpoints),
		choiceField(&r.Monitor, defaults.Monitor),
		{"restore-best", "end with the weights of the best epoch (by the monitored value)", &r.RestoreBest, false, nil},
		{"run", "run folder: checkpoints, history, run.json (default: named after the settings under the work folder); an existing run resumes", &r.RunDir, "", nil},
		{"work", "folder of the notebooks' runs, labels and subsets", &r.Work, "runs", nil},
		{"cache", "cache folder for downloads, weights and features ($FLOWERS_CACHE)", &r.Cache, defaults.CacheDir(), nil},
		{"backend", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)", &r.Backend, "", nil},
	}
}

// Defaults returns r with every zero field set to its default.
func (r Run) Defaults() Run {
	for _, f := range r.fields() {
		v := reflect.ValueOf(f.ptr).Elem()
		if v.IsZero() {
			v.Set(reflect.ValueOf(f.def))
		}
	}
	return r
}

// Validate reports the first setting out of its range (after Defaults), named as its flag.
func (r Run) Validate() error {
	for _, f := range r.fields() {
		if f.check != nil {
			if err := f.check(); err != nil {
				return err
			}
		}
	}
	if err := defaults.CheckBatch(r.BatchSize, r.ImageSize); err != nil {
		return err
	}
	if r.Data == "" || r.Weights == "" {
		return errors.New("data and weights must be set (auto, or see their help)")
	}
	if r.Mode == "augment" && r.Augment == 0 {
		return errors.New("mode augment: set augment, the augmentation's strength (1 is the article's ImageDataGenerator)")
	}
	return nil
}

// EnvName is the environment variable that sets the setting name: FLOWERS_<NAME>.
func EnvName(name string) string {
	return "FLOWERS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// EnvNames lists the environment variables FromEnv reads, sorted.
func EnvNames() []string {
	var r Run
	var out []string
	for _, f := range r.fields() {
		out = append(out, EnvName(f.name))
	}
	sort.Strings(out)
	return out
}

// FromEnv overrides r's fields with the FLOWERS_<NAME> environment variables that are set (the
// notebook tests use them for small runs), fills the defaults and resolves "auto" (Resolve,
// saying what it chose on os.Stdout when it falls back). It panics with an error naming the
// variable when a value is malformed or out of range: in a notebook cell that stops the cell.
func (r Run) FromEnv() Run {
	r, err := r.fromEnv(os.LookupEnv)
	if err == nil {
		r = r.Defaults()
		err = r.Validate()
	}
	if err != nil {
		panic(err)
	}
	return r.Resolve(os.Stdout)
}

func (r Run) fromEnv(lookup func(string) (string, bool)) (Run, error) {
	for _, f := range r.fields() {
		name := EnvName(f.name)
		val, ok := lookup(name)
		if !ok || val == "" {
			continue
		}
		if err := set(f.ptr, val); err != nil {
			return r, errors.Errorf("$%s=%q: %v", name, val, err)
		}
		// Checked now: after Defaults, a value such as 0 would have become the default.
		if f.check != nil {
			if err := f.check(); err != nil {
				return r, errors.Errorf("$%s=%q: %v", name, val, err)
			}
		}
	}
	return r, nil
}

// set parses val into the field p points to.
func set(p any, val string) error {
	switch p := p.(type) {
	case *string:
		*p = val
	case *int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return errors.New("want an integer")
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		*p = n
	case *float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return errors.New("want a number")
		}
		*p = x
	case *bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
	default:
		return errors.Errorf("config: field of type %T", p)
	}
	return nil
}

// String lists the settings one per line, as the settings cell prints them: name, value.
func (r Run) String() string {
	var b strings.Builder
	for _, f := range r.fields() {
		fmt.Fprintf(&b, "%-17s %v\n", f.name, reflect.ValueOf(f.ptr).Elem().Interface())
	}
	if r.Auto != "" {
		fmt.Fprintf(&b, "%-17s %s\n", "(auto)", r.Auto)
	}
	return b.String()
}

// ParseClassWeight reads a ClassWeight: nil for none or "balanced" (computed from the data),
// else the weights, each a finite number ≥ 0.
func ParseClassWeight(s string) ([]float64, error) {
	if s == "" || s == "balanced" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		w, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || w < 0 || math.IsInf(w, 0) || math.IsNaN(w) {
			return nil, errors.Errorf("class-weight %q: want balanced, or one weight ≥ 0 per class in class order (e.g. 1,2.5,1,1,1)", s)
		}
		out = append(out, w)
	}
	return out, nil
}
