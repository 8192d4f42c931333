package config

import (
	"bytes"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/defaults"
)

// lookupIn is an environment of the given variables only.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestRunEnv(t *testing.T) {
	env := map[string]string{"FLOWERS_EPOCHS": "2", "FLOWERS_LR": "0.01", "FLOWERS_POOLING": "avg", "FLOWERS_PER_CLASS": "",
		"FLOWERS_SIZE": "96", "FLOWERS_RESTORE_BEST": "true", "FLOWERS_SEED": "7"}
	s, err := Run{Epochs: 30, Pooling: "none", PerClass: 7}.fromEnv(lookupIn(env))
	if err != nil {
		t.Fatal(err)
	}
	s = s.Defaults()
	if s.Epochs != 2 || s.LearningRate != 0.01 || s.Pooling != "avg" || s.PerClass != 7 || s.BatchSize != 32 || s.Seed != 7 ||
		s.Data != "auto" || s.Weights != "auto" || s.ImageSize != 96 || !s.RestoreBest {
		t.Errorf("settings %+v", s)
	}
	for _, c := range []struct{ name, val, want string }{
		{"FLOWERS_EPOCHS", "two", `$FLOWERS_EPOCHS="two": want an integer`},
		{"FLOWERS_EPOCHS", "3.5", `$FLOWERS_EPOCHS="3.5": want an integer`},
		{"FLOWERS_LR", "fast", `$FLOWERS_LR="fast": want a number`},
		{"FLOWERS_RESTORE_BEST", "maybe", `$FLOWERS_RESTORE_BEST="maybe": want true or false`},
		// An explicit value out of range is refused, not replaced by the default that a zero
		// field takes.
		{"FLOWERS_EPOCHS", "0", `$FLOWERS_EPOCHS="0": epochs 0: must be 1 to 1e+06`},
		{"FLOWERS_LR", "0", `$FLOWERS_LR="0": lr 0: must be a number > 0 and ≤ 10`},
		{"FLOWERS_BATCH", "-1", `$FLOWERS_BATCH="-1": batch -1: must be 1 to 4096`},
		{"FLOWERS_POOLING", "mean", `$FLOWERS_POOLING="mean": pooling "mean": must be one of none, avg, max`},
		{"FLOWERS_SCHEDULE", "step", `$FLOWERS_SCHEDULE="step": schedule "step": must be one of constant, one-cycle, cosine`},
		{"FLOWERS_CLASS_WEIGHT", "1,x", `$FLOWERS_CLASS_WEIGHT="1,x": class-weight "1,x": want balanced, or one weight ≥ 0 per class in class order (e.g. 1,2.5,1,1,1)`},
	} {
		if _, err := (Run{}).fromEnv(lookupIn(map[string]string{c.name: c.val})); err == nil || err.Error() != c.want {
			t.Errorf("%s=%s: %v, want %s", c.name, c.val, err, c.want)
		}
	}
	want := []string{"FLOWERS_AUGMENT", "FLOWERS_AUGMENT_COPIES", "FLOWERS_BACKEND", "FLOWERS_BATCH", "FLOWERS_CACHE",
		"FLOWERS_CHECKPOINT_STEPS", "FLOWERS_CLASS_WEIGHT", "FLOWERS_DATA", "FLOWERS_DROPOUT", "FLOWERS_EARLY_STOPPING", "FLOWERS_EPOCHS",
		"FLOWERS_FINE_TUNE", "FLOWERS_FINE_TUNE_EPOCHS", "FLOWERS_FINE_TUNE_LR", "FLOWERS_KEEP_CHECKPOINTS", "FLOWERS_LABEL_SMOOTHING",
		"FLOWERS_LR", "FLOWERS_LR_MULT", "FLOWERS_MODE", "FLOWERS_MONITOR", "FLOWERS_PER_CLASS", "FLOWERS_POOLING",
		"FLOWERS_RESTORE_BEST", "FLOWERS_RUN", "FLOWERS_SCHEDULE", "FLOWERS_SEED", "FLOWERS_SIZE", "FLOWERS_TTA", "FLOWERS_VALID",
		"FLOWERS_WARMUP_STEPS", "FLOWERS_WEIGHTS", "FLOWERS_WORK"}
	if got := EnvNames(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("EnvNames\n %q\nwant\n %q", got, want)
	}
	if got := (Run{Weights: "random", Seed: 7}).WeightsSpec(); got != "random:7" {
		t.Errorf("WeightsSpec %q", got)
	}
	if got := (Run{Weights: "random:3", Seed: 7}).WeightsSpec(); got != "random:3" {
		t.Errorf("WeightsSpec of random:3 %q", got)
	}
}

// TestFromEnv: the settings cell's declaration, with the environment's overrides, defaults
// and "auto" resolved; a bad variable stops the cell with an error naming it.
func TestFromEnv(t *testing.T) {
	for _, name := range EnvNames() {
		t.Setenv(name, "")
	}
	t.Setenv(OfflineEnv, "1")
	t.Setenv("FLOWERS_CACHE", t.TempDir())
	t.Setenv("FLOWERS_EPOCHS", "3")
	s := Run{Epochs: 30, Pooling: "avg"}.FromEnv()
	if s.Epochs != 3 || s.Pooling != "avg" || s.Data != "embedded" || s.Weights != "random" || !strings.Contains(s.Auto, "offline") {
		t.Errorf("FromEnv: %+v", s)
	}
	t.Setenv("FLOWERS_SIZE", "16")
	defer func() {
		err, _ := recover().(error)
		if err == nil || err.Error() != `$FLOWERS_SIZE="16": size 16: must be 32 to 1024` {
			t.Errorf("FromEnv with a size out of range: %v", err)
		}
	}()
	Run{}.FromEnv()
	t.Error("FromEnv accepted FLOWERS_SIZE=16")
}

// TestDefaults: zero fields take the defaults of flowerlib/defaults; set ones are kept.
func TestDefaults(t *testing.T) {
	t.Setenv(defaults.CacheEnv, "")
	in := Run{Data: "sample", Epochs: 3, LearningRate: 0.01, Pooling: "avg", Seed: 7, RestoreBest: true, Dropout: 0.3,
		Mode: "augment", Augment: 0.5, Work: "w", Cache: "c", KeepCheckpoints: 5, Monitor: "val_accuracy"}
	s := in.Defaults()
	if s.Data != "sample" || s.Epochs != 3 || s.LearningRate != 0.01 || s.Pooling != "avg" || s.Seed != 7 || !s.RestoreBest ||
		s.Dropout != 0.3 || s.Mode != "augment" || s.Augment != 0.5 || s.Work != "w" || s.Cache != "c" || s.KeepCheckpoints != 5 ||
		s.Monitor != "val_accuracy" {
		t.Errorf("explicit values changed: %+v", s)
	}
	if s.Weights != "auto" || s.BatchSize != 32 || s.ImageSize != 224 || s.ValidSplit != 0.2 || s.FineTuneLR != 1e-5 ||
		s.FineTuneEpochs != 5 || s.PerClass != 0 || s.AugmentCopies != 0 || s.RunDir != "" || s.Backend != "" {
		t.Errorf("defaults not filled: %+v", s)
	}
	if in.Epochs != 3 || in.BatchSize != 0 {
		t.Error("Defaults changed its receiver")
	}
	if again := s.Defaults(); again != s {
		t.Errorf("Defaults twice: %+v", again)
	}
	z := Run{}.Defaults()
	if z.Data != "auto" || z.Weights != "auto" || z.Pooling != "none" || z.Mode != "cached" || z.Epochs != 30 || z.Seed != 42 ||
		z.LearningRate != 1e-3 || z.Augment != 0 || z.Dropout != 0 || z.Work != "runs" || z.Cache != defaults.CacheDir() ||
		z.Monitor != "val_loss" || z.KeepCheckpoints != 2 {
		t.Errorf("zero run's defaults: %+v", z)
	}
	if err := z.Validate(); err != nil {
		t.Errorf("the defaults are refused: %v", err)
	}
}

// TestValidate: the first setting out of its range, named as its flag, with the range.
func TestValidate(t *testing.T) {
	ok := Run{Data: "embedded", Weights: "random"}.Defaults()
	with := func(f func(*Run)) Run { r := ok; f(&r); return r }
	for _, c := range []struct {
		r    Run
		want string
	}{
		{with(func(r *Run) { r.Epochs = 0 }), "epochs 0: must be 1 to 1e+06"},
		{with(func(r *Run) { r.ImageSize = 2048 }), "size 2048: must be 32 to 1024"},
		{with(func(r *Run) { r.ValidSplit = 1 }), "valid 1: must be a number > 0 and < 1"},
		{with(func(r *Run) { r.Dropout = 1 }), "dropout 1: must be a number 0 to 0.99"},
		{with(func(r *Run) { r.LearningRate = -1e-3 }), "lr -0.001: must be a number > 0 and ≤ 10"},
		{with(func(r *Run) { r.Seed = 0 }), "seed 0: must be ≥ 1"},
		{with(func(r *Run) { r.Pooling = "flatten" }), `pooling "flatten": must be one of none, avg, max`},
		{with(func(r *Run) { r.Mode = "fast" }), `mode "fast": must be one of cached, augment`},
		{with(func(r *Run) { r.Monitor = "loss" }), `monitor "loss": must be one of val_loss, val_accuracy`},
		{with(func(r *Run) { r.KeepCheckpoints = 0 }), "keep-checkpoints 0: must be 1 to 1000"},
		{with(func(r *Run) { r.Data = "" }), "data and weights must be set (auto, or see their help)"},
		// Augment mode trains on augmented photos: with augmentation 0 (its default) it would
		// only be slower than cached mode, so it says what to set.
		{with(func(r *Run) { r.Mode = "augment" }), "mode augment: set augment, the augmentation's strength (1 is the article's ImageDataGenerator)"},
	} {
		if err := c.r.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("Validate: %v, want %q", err, c.want)
		}
	}
	if err := with(func(r *Run) { r.Mode, r.Augment = "augment", 1 }).Validate(); err != nil {
		t.Errorf("augment mode at strength 1: %v", err)
	}
	// Memory: a batch whose forward pass cannot fit.
	huge := with(func(r *Run) { r.ImageSize, r.BatchSize = 1024, 4096 })
	if err := huge.Validate(); err == nil || !strings.HasPrefix(err.Error(), "batch 4096: at size 1024 a forward pass needs about ") {
		t.Errorf("huge batch: %v", err)
	}
}

// TestBindFlags: one flag per setting from the run's values, strict parsing, the head alias.
func TestBindFlags(t *testing.T) {
	parse := func(args ...string) (Run, *flag.FlagSet, error) {
		r := Run{}.Defaults()
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if err := BindFlags(fs, &r, "epochs", "lr", "batch", "head", "seed", "restore-best", "data", "valid"); err != nil {
			t.Fatal(err)
		}
		return r, fs, fs.Parse(args)
	}
	r, fs, err := parse("-epochs", "3", "-lr", "3e-4", "-head", "avg", "-seed", "7", "-restore-best", "-data", "/photos", "-valid", "0.25")
	if err != nil {
		t.Fatal(err)
	}
	if r.Epochs != 3 || r.LearningRate != 3e-4 || r.Pooling != "avg" || r.Seed != 7 || !r.RestoreBest || r.Data != "/photos" ||
		r.ValidSplit != 0.25 || r.BatchSize != 32 {
		t.Errorf("parsed %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
	// The flags show the run's values as their defaults; the head by its name.
	for name, def := range map[string]string{"epochs": "30", "lr": "0.001", "batch": "32", "head": "flatten", "seed": "42", "restore-best": "false", "data": "auto"} {
		if f := fs.Lookup(name); f == nil || f.DefValue != def {
			t.Errorf("flag -%s: %+v, want default %q", name, f, def)
		}
	}
	if fs.Lookup("pooling") != nil || fs.Lookup("mode") != nil {
		t.Error("unnamed settings were bound")
	}
	if help := fs.Lookup("epochs").Usage; help != "passes over the training photos (the article's 30) (1 to 1e+06)" {
		t.Errorf("epochs help %q", help)
	}
	for head, pooling := range map[string]string{"flatten": "none", "avg": "avg", "max": "max"} {
		if r, _, err := parse("-head", head); err != nil || r.Pooling != pooling {
			t.Errorf("-head %s: pooling %q, %v", head, r.Pooling, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-epochs", "two"}, `invalid value "two" for flag -epochs: want an integer`},
		{[]string{"-epochs", "3.5"}, `invalid value "3.5" for flag -epochs: want an integer`},
		{[]string{"-lr", "1e-3x"}, `invalid value "1e-3x" for flag -lr: want a number`},
		{[]string{"-seed", "9223372036854775808"}, `invalid value "9223372036854775808" for flag -seed: want an integer`},
		{[]string{"-head", "mean"}, `invalid value "mean" for flag -head: must be one of flatten, avg, max`},
		{[]string{"-head", "none"}, `invalid value "none" for flag -head: must be one of flatten, avg, max`},
		{[]string{"-restore-best=maybe"}, `invalid boolean value "maybe" for -restore-best: parse error`},
		{[]string{"-pooling", "avg"}, "flag provided but not defined: -pooling"},
	} {
		if _, _, err := parse(c.args...); err == nil || err.Error() != c.want {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
	// Ranges are Validate's, after parsing, naming the flag.
	r, _, err = parse("-epochs", "0")
	if err != nil || r.Epochs != 0 {
		t.Fatalf("-epochs 0: %v, %d", err, r.Epochs)
	}
	if err := r.Validate(); err == nil || err.Error() != "epochs 0: must be 1 to 1e+06" {
		t.Errorf("-epochs 0: %v", err)
	}
	// Every setting binds when none is named (the head alias only when named).
	all := Run{}.Defaults()
	fs = flag.NewFlagSet("all", flag.ContinueOnError)
	if err := BindFlags(fs, &all); err != nil {
		t.Fatal(err)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n != len(EnvNames()) || fs.Lookup(HeadFlag) != nil || Names() != strings.Join(flagNames(fs), ", ") {
		t.Errorf("%d flags bound of %d settings: %s", n, len(EnvNames()), Names())
	}
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	if !strings.Contains(usage.String(), "-pooling value\n") || !strings.Contains(usage.String(), "(default none)") {
		t.Errorf("usage:\n%s", usage.String())
	}
	if err := BindFlags(flag.NewFlagSet("x", flag.ContinueOnError), &all, "epochs", "nope"); err == nil || err.Error() != `config.BindFlags: no setting "nope"` {
		t.Errorf("unknown setting: %v", err)
	}
}

// flagNames lists fs's flags in the order they were defined.
func flagNames(fs *flag.FlagSet) []string {
	var r Run
	var out []string
	for _, f := range r.fields() {
		if fs.Lookup(f.name) != nil {
			out = append(out, f.name)
		}
	}
	return out
}

func TestHeadNames(t *testing.T) {
	for head, pooling := range map[string]string{"flatten": "none", "avg": "avg", "max": "max"} {
		if got := PoolingOf(head); got != pooling {
			t.Errorf("PoolingOf(%q) = %q, want %q", head, got, pooling)
		}
		if got := HeadName(pooling); got != head {
			t.Errorf("HeadName(%q) = %q, want %q", pooling, got, head)
		}
	}
	if PoolingOf("mine") != "mine" || HeadName("mine") != "mine" {
		t.Error("other names are not returned as they are")
	}
}

func TestRunFolderNames(t *testing.T) {
	work := t.TempDir()
	const head = "article-1a2b3c"
	folder := func(r Run) string {
		t.Helper()
		r.Work = work
		d, err := r.RunFolder(head)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := folder(Run{Data: "sample", Weights: "random"})
	if want := filepath.Join(work, "run", "sample-random-article-1a2b3c-flatten-cached-lr0.001-b32"); a != want {
		t.Errorf("RunFolder %q, want %q", a, want)
	}
	// More epochs resume the same run; another learning rate is another run. Dropout is the
	// built-in head's: it changes the head's fingerprint (in head), not the rest of the name.
	if b := folder(Run{Data: "sample", Weights: "random", Epochs: 50, Dropout: 0.2}); b != a {
		t.Errorf("epochs changed the run folder: %q", b)
	}
	if b := folder(Run{Data: "sample", Weights: "random", LearningRate: 1e-4, PerClass: 10, Pooling: "avg"}); b != filepath.Join(work, "run", "sample-random-article-1a2b3c-avg-cached-lr0.0001-b32-n10") {
		t.Errorf("RunFolder %q", b)
	}
	if b := folder(Run{Data: "/data/flowers/", Weights: "/w/my.weights.h5", Mode: "augment", Augment: 0.5, ImageSize: 96, Seed: 7, Pooling: "max"}); b != filepath.Join(work, "run", "flowers-my.weights-article-1a2b3c-max-augment-lr0.001-b32-aug0.5-s96-seed7") {
		t.Errorf("RunFolder %q", b)
	}
	// A named run folder is used as it is (absolute).
	if b, err := (Run{RunDir: "myrun"}).RunFolder(head); err != nil || !filepath.IsAbs(b) || filepath.Base(b) != "myrun" {
		t.Errorf("RunDir: %q, %v", b, err)
	}
	// "auto" names the run by what it chose.
	t.Setenv(OfflineEnv, "1")
	t.Setenv("FLOWERS_DATA", "")
	t.Setenv("FLOWERS_WEIGHTS", "")
	if b := folder(Run{Cache: t.TempDir()}); b != filepath.Join(work, "run", "embedded-random-article-1a2b3c-flatten-cached-lr0.001-b32") {
		t.Errorf("auto RunFolder %q", b)
	}
}
