package nb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
	"github.com/pkg/errors"
)

// Settings are the notebooks' hyperparameters and data choices, set in one cell:
//
//	var settings = nb.Settings{Data: "auto", Weights: "auto", Epochs: 30, ...}.FromEnv()
//
// Each GoNB cell is a fresh program that re-evaluates that declaration, so every cell
// sees the same values. Zero values take the seed article's settings.
type Settings struct {
	// Data is "auto" (the default: the official flower_photos when it is in the cache or
	// can be downloaded, else "embedded"), "embedded" (50 photos built into flowerlib:
	// flowerlib/sample, offline anywhere), "sample" (the 200 photos beside the repository on
	// the project's machines, ../shared/data/flower_photos_small or $FLOWERS_SAMPLE_DIR),
	// "download" (flower_photos.tgz, 3670 photos, 218 MB: needs internet once), or a dataset
	// folder with one sub-folder per class.
	Data string `env:"FLOWERS_NB_DATA"`
	// Weights is "auto" (the default: Keras' ImageNet weights when cached or downloadable,
	// else "random"), "imagenet" (the official Keras file, 94 MB, downloaded once), "random"
	// (seeded random ResNet50 weights in the Keras layout: runs offline, but they are NOT
	// ImageNet features, so the accuracy means nothing), or a Keras .h5 file.
	Weights string `env:"FLOWERS_NB_WEIGHTS"`
	// Auto says what "auto" chose and why (set by FromEnv; not an input).
	Auto string
	// Work holds the runs (checkpoints, history), the labels CSV and PerClass subsets;
	// relative paths are relative to the notebook's folder. Default "runs".
	Work string `env:"FLOWERS_WORK"`
	// Cache holds what is downloaded or derived once (dataset, weights, features); default
	// the folder the flowers command uses too ($FLOWERS_CACHE, else ~/.cache/flowers), so
	// notebooks and command share downloads.
	Cache string `env:"FLOWERS_CACHE"`
	// Head is "flatten" (the seed: Flatten over 7×7×2048, ~205M weights), "avg" or "max"
	// (global pooling to 2048: ~50× faster on a CPU).
	Head string `env:"FLOWERS_HEAD"`
	// Mode is "cached" (run the frozen base once, train on cached features) or "augment"
	// (the seed's way: augmented images through the base every epoch; slow on a CPU).
	Mode         string  `env:"FLOWERS_MODE"`
	Epochs       int     `env:"FLOWERS_EPOCHS"`     // default 30
	BatchSize    int     `env:"FLOWERS_BATCH"`      // default 32
	LearningRate float64 `env:"FLOWERS_LR"`         // Adam; default 1e-3
	Dropout      float64 `env:"FLOWERS_DROPOUT"`    // after each hidden Dense; default 0 (the seed)
	Augment      float64 `env:"FLOWERS_AUGMENT"`    // strength: 1 = the seed's ImageDataGenerator ranges, 0 = none
	PerClass     int     `env:"FLOWERS_PER_CLASS"`  // use only the first N photos of each class (0: all)
	ImageSize    int     `env:"FLOWERS_IMAGE_SIZE"` // default 224
	Seed         int64   `env:"FLOWERS_SEED"`       // split, shuffle, initialisation; default 42
	// MyPhoto is a photo of your own for the last step ("" uses a validation photo).
	MyPhoto string `env:"FLOWERS_MY_PHOTO"`
	// Backend is the GoMLX backend ("" = $GOMLX_BACKEND or the best installed: see flowerlib/backend).
	Backend string `env:"FLOWERS_BACKEND"`
}

// Defaults fills zero fields with the article's values (flowerlib/defaults).
func (s Settings) Defaults() Settings {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.Data, "auto")
	def(&s.Weights, "auto")
	def(&s.Work, "runs")
	def(&s.Head, "flatten")
	def(&s.Mode, "cached")
	if s.Epochs == 0 {
		s.Epochs = defaults.Epochs
	}
	if s.BatchSize == 0 {
		s.BatchSize = defaults.BatchSize
	}
	if s.LearningRate == 0 {
		s.LearningRate = defaults.LearningRate
	}
	if s.ImageSize == 0 {
		s.ImageSize = defaults.ImageSize
	}
	if s.Seed == 0 {
		s.Seed = defaults.Seed
	}
	return s
}

// FromEnv overrides fields with the FLOWERS_* environment variables named in the struct
// tags (the notebook tests use them for small CI runs), fills defaults and resolves "auto"
// (see Resolve). A malformed value stops the cell with an error naming the variable.
func (s Settings) FromEnv() Settings {
	s, err := s.fromEnv(os.LookupEnv)
	Check(err)
	return s.Defaults().Resolve(Out)
}

// ProbeTimeout bounds the check that the official downloads are reachable ("auto").
const ProbeTimeout = 3 * time.Second

// OfflineEnv set to 1 makes "auto" skip that check: offline on purpose.
const OfflineEnv = "FLOWERS_OFFLINE"

// offlineMemory is how long a failed check is remembered (a file in the cache folder), so
// that the cells after the first do not wait for it again.
const offlineMemory = 10 * time.Minute

// Resolve turns Data and Weights "auto" into what this machine has: "download" when the
// official flower_photos is in the cache ($FLOWERS_DATA counts) or reachable, else
// "embedded"; "imagenet" when Keras' weights are in the cache ($FLOWERS_WEIGHTS counts) or
// reachable, else "random". Reachable means that a HEAD request answers within
// ProbeTimeout. When it falls back it writes one line saying so on log (nil: silent) and
// notes the choice in Auto. Other values are returned unchanged.
func (s Settings) Resolve(log io.Writer) Settings {
	s = s.Defaults()
	if s.Data != "auto" && s.Weights != "auto" {
		return s
	}
	cache := s.CacheDir()
	_, dataCached := download.FlowerPhotos.Cached(cache)
	dataCached = dataCached || os.Getenv(download.DataEnv) != ""
	weightsCached := os.Getenv(weights.EnvWeights) != ""
	if st, err := os.Stat(filepath.Join(defaults.WeightsDir(cache), filepath.Base(weights.NoTopURL))); err == nil && st.Size() > 0 {
		weightsCached = true
	}
	online, why := true, ""
	if (s.Data == "auto" && !dataCached) || (s.Weights == "auto" && !weightsCached) {
		var probed bool
		online, why, probed = reachable(download.FlowersURL, cache)
		if !probed {
			log = nil // said when it was checked; Auto keeps it
		}
	}
	var notes []string
	if s.Data == "auto" {
		if dataCached || online {
			s.Data = "download"
			notes = append(notes, "Data: flower_photos")
		} else {
			s.Data = "embedded"
			notes = append(notes, fmt.Sprintf("Data: the %d embedded photos", sample.Count()))
		}
	}
	if s.Weights == "auto" {
		if weightsCached || online {
			s.Weights = "imagenet"
			notes = append(notes, "Weights: ImageNet")
		} else {
			s.Weights = "random"
			notes = append(notes, "Weights: random, so the accuracy means nothing")
		}
	}
	s.Auto = "auto → " + strings.Join(notes, "; ")
	if !online {
		s.Auto += "; offline: " + why
	}
	if !online && log != nil {
		fmt.Fprintf(log, "auto: the official downloads are not reachable (%s), so: %s. Set Data and Weights to choose.\n",
			why, strings.Join(notes, "; "))
	}
	return s
}

// reachable reports whether url answers a HEAD request within ProbeTimeout, and if not
// why; a failure is remembered in cacheDir for offlineMemory (probed is false then, and
// when $FLOWERS_OFFLINE says so).
func reachable(url, cacheDir string) (ok bool, why string, probed bool) {
	if os.Getenv(OfflineEnv) == "1" {
		return false, "$" + OfflineEnv + "=1", false
	}
	memo := filepath.Join(cacheDir, ".offline")
	if st, err := os.Stat(memo); err == nil && time.Since(st.ModTime()) < offlineMemory {
		reason, _ := os.ReadFile(memo)
		return false, strings.TrimSpace(string(reason)), false
	}
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err == nil {
		var resp *http.Response
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				_ = os.Remove(memo)
				return true, "", true
			}
			err = errors.Errorf("HTTP %s", resp.Status)
		}
	}
	why = shortNetError(err)
	_ = os.WriteFile(memo, []byte(why+"\n"), 0o644)
	return false, why, true
}

// shortNetError keeps the end of a network error ("dial tcp: lookup host: no such host").
func shortNetError(err error) string {
	var ue *neturl.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", ProbeTimeout)
	}
	return err.Error()
}

// Banner is the warning every result carries when it means nothing ("" when it does):
// the accuracy of random ResNet50 weights.
func (s Settings) Banner() string {
	s = s.Defaults()
	if s.Weights == "random" || strings.HasPrefix(s.Weights, "random:") {
		return "random ResNet50 weights, not ImageNet's: this accuracy means nothing (see Weights in the settings cell)"
	}
	return ""
}

// Show displays a result figure, under the settings' Banner when there is one.
func (s Settings) Show(fig *plots.Figure) {
	if b := s.Banner(); b != "" {
		fig = plots.WithBanner(fig, b)
	}
	Show(fig)
}

func (s Settings) fromEnv(lookup func(string) (string, bool)) (Settings, error) {
	v := reflect.ValueOf(&s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("env")
		val, ok := lookup(name)
		if name == "" || !ok || val == "" {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(val)
		case reflect.Int, reflect.Int64:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return s, errors.Errorf("$%s=%q: want an integer", name, val)
			}
			f.SetInt(n)
		case reflect.Float64:
			x, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return s, errors.Errorf("$%s=%q: want a number", name, val)
			}
			f.SetFloat(x)
		}
	}
	return s, nil
}

// EnvNames lists the environment variables FromEnv reads, sorted.
func EnvNames() []string {
	var out []string
	t := reflect.TypeOf(Settings{})
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("env"); name != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// String lists the settings in one line per field (what the settings cell prints).
func (s Settings) String() string {
	var b strings.Builder
	v := reflect.ValueOf(s)
	for i := range v.NumField() {
		fmt.Fprintf(&b, "%-13s %v\n", v.Type().Field(i).Name, v.Field(i).Interface())
	}
	return b.String()
}

// WorkDir returns the absolute work folder, created if needed.
func (s Settings) WorkDir() string {
	s = s.Defaults()
	dir, err := filepath.Abs(s.Work)
	Check(err)
	Check(os.MkdirAll(dir, 0o755))
	return dir
}

// CacheDir is the absolute cache folder (see Cache), created if needed.
func (s Settings) CacheDir() string {
	dir := s.Cache
	if dir == "" {
		dir = defaults.CacheDir()
	}
	dir, err := filepath.Abs(dir)
	Check(err)
	Check(os.MkdirAll(dir, 0o755))
	return dir
}

// RunDir is the run folder for the current training settings: changing the head, mode,
// learning rate, batch size, dropout, augmentation, data or weights starts another run,
// while running again with the same ones (or more epochs) resumes the existing one.
func (s Settings) RunDir() string {
	s = s.Resolve(nil)
	data := s.Data
	if data != "sample" && data != "download" && data != "embedded" {
		data = filepath.Base(filepath.Clean(data))
	}
	weights := s.Weights
	if weights != "random" && weights != "imagenet" {
		weights = strings.TrimSuffix(filepath.Base(weights), filepath.Ext(weights))
	}
	name := fmt.Sprintf("%s-%s-%s-%s-lr%g-b%d", data, weights, s.Head, s.Mode, s.LearningRate, s.BatchSize)
	if s.PerClass > 0 {
		name += fmt.Sprintf("-n%d", s.PerClass)
	}
	if s.Dropout > 0 {
		name += fmt.Sprintf("-drop%g", s.Dropout)
	}
	if s.Mode == "augment" {
		name += fmt.Sprintf("-aug%g", s.Augment)
	}
	if s.ImageSize != defaults.ImageSize {
		name += fmt.Sprintf("-s%d", s.ImageSize)
	}
	if s.Seed != defaults.Seed {
		name += fmt.Sprintf("-seed%d", s.Seed)
	}
	return filepath.Join(s.WorkDir(), "run", name)
}

// WeightsSpec is the weights argument flowerlib/learner takes: "random:SEED", "imagenet" or a file.
func (s Settings) WeightsSpec() string {
	if s = s.Defaults(); s.Weights == "auto" {
		s = s.Resolve(nil)
	}
	if s.Weights == "random" {
		return fmt.Sprintf("random:%d", s.Seed)
	}
	return s.Weights
}

// DataDir returns the dataset folder the settings name: the embedded or the shipped sample, the
// downloaded flower_photos (fetched into the cache the first time, with a progress bar on
// progress), or the given folder; with PerClass > 0, a copy of the first PerClass photos
// of each class (in file-name order) under <Work>/data-<name>-<N>, made once.
func (s Settings) DataDir(progress io.Writer) (string, error) {
	if s = s.Defaults(); s.Data == "auto" {
		s = s.Resolve(nil)
	}
	var dir string
	switch s.Data {
	case "sample":
		dir = testdata.SampleDir()
		if dir == "" {
			return "", errors.Errorf("Data \"sample\": the 200 sample photos are not in ../shared/data/flower_photos_small "+
				"(nor $%s): set Data to \"auto\", \"embedded\" (%d photos built in), \"download\" (needs internet) or a dataset folder",
				testdata.SampleEnv, sample.Count())
		}
	case "embedded":
		var err error
		if dir, err = sample.Dir(s.CacheDir()); err != nil {
			return "", err
		}
	case "download":
		var err error
		dir, err = download.ResolveData("", s.CacheDir(), progress)
		if err != nil {
			return "", err
		}
	default:
		dir = s.Data
	}
	if s.PerClass <= 0 {
		return dir, nil
	}
	return subset(dir, filepath.Join(s.WorkDir(), fmt.Sprintf("data-%s-%d", filepath.Base(dir), s.PerClass)), s.PerClass)
}

// subset copies the first n images (by name) of each class folder of src into dst, keeping
// modification times (the feature cache keys on them), and LICENSE.txt. Files already
// there with the same size are kept, so calling it again is cheap.
func subset(src, dst string, n int) (string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", errors.Wrapf(err, "reading dataset folder %q", src)
	}
	copyFile := func(from, to string) error {
		st, err := os.Stat(from)
		if err != nil {
			return errors.Wrapf(err, "reading %q", from)
		}
		if dst, err := os.Stat(to); err == nil && dst.Size() == st.Size() {
			return nil
		}
		data, err := os.ReadFile(from)
		if err != nil {
			return errors.Wrapf(err, "reading %q", from)
		}
		tmp := to + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return errors.Wrapf(err, "writing %q", tmp)
		}
		if err := os.Chtimes(tmp, st.ModTime(), st.ModTime()); err != nil {
			return errors.Wrapf(err, "setting the time of %q", tmp)
		}
		return errors.Wrapf(os.Rename(tmp, to), "renaming %q", tmp)
	}
	for _, e := range entries {
		from := filepath.Join(src, e.Name())
		if !e.IsDir() {
			if strings.HasPrefix(strings.ToUpper(e.Name()), "LICENSE") {
				if err := os.MkdirAll(dst, 0o755); err != nil {
					return "", errors.Wrapf(err, "creating %q", dst)
				}
				if err := copyFile(from, filepath.Join(dst, e.Name())); err != nil {
					return "", err
				}
			}
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(from)
		if err != nil {
			return "", errors.Wrapf(err, "reading class folder %q", from)
		}
		if err := os.MkdirAll(filepath.Join(dst, e.Name()), 0o755); err != nil {
			return "", errors.Wrapf(err, "creating %q", filepath.Join(dst, e.Name()))
		}
		kept := 0
		for _, f := range files {
			if kept == n {
				break
			}
			if f.IsDir() || strings.HasPrefix(f.Name(), ".") || !images.IsImageExt(f.Name()) {
				continue
			}
			if err := copyFile(filepath.Join(from, f.Name()), filepath.Join(dst, e.Name(), f.Name())); err != nil {
				return "", err
			}
			kept++
		}
	}
	return dst, nil
}
