package config

import (
	"context"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/pkg/errors"
)

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
func (s Run) Resolve(log io.Writer) Run {
	s = s.Defaults()
	if s.Data != "auto" && s.Weights != "auto" {
		return s
	}
	cache := s.cacheDir()
	_, dataCached := download.FlowerPhotos.Cached(cache)
	dataCached = dataCached || envPath(download.DataEnv) != ""
	weightsCached := envPath(weights.EnvWeights) != ""
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

// envPath is $name when it is a path: $FLOWERS_DATA and $FLOWERS_WEIGHTS are the settings'
// variables (FromEnv), whose values may be keywords ("auto", "download", "imagenet",
// "random:7"), and also, for flowerlib/download and flowerlib/weights, where a copy of
// flower_photos or of Keras' weights file is. A keyword is the setting, not a copy.
func envPath(name string) string {
	v := os.Getenv(name)
	switch {
	case v == "auto", v == "embedded", v == "sample", v == "download", v == "imagenet", v == "random", strings.HasPrefix(v, "random:"):
		return ""
	}
	return v
}

// Random reports whether the weights are random ones (not ImageNet's): results then mean
// nothing, and say so.
func (s Run) Random() bool {
	w := s.Defaults().Weights
	return w == "random" || strings.HasPrefix(w, "random:")
}

// WorkDir returns the absolute work folder, created if needed.
func (s Run) WorkDir() (string, error) {
	dir, err := filepath.Abs(s.Defaults().Work)
	if err != nil {
		return "", errors.Wrapf(err, "work folder %q", s.Work)
	}
	return dir, errors.Wrapf(os.MkdirAll(dir, 0o755), "creating the work folder %q", dir)
}

// cacheDir is the absolute cache folder (see Cache), created if needed ("" on failure: the
// step that writes there says why).
func (s Run) cacheDir() string {
	dir, err := s.CacheDir()
	if err != nil {
		return ""
	}
	return dir
}

// CacheDir is the absolute cache folder (see Cache), created if needed.
func (s Run) CacheDir() (string, error) {
	dir, err := filepath.Abs(s.Defaults().Cache)
	if err != nil {
		return "", errors.Wrapf(err, "cache folder %q", s.Cache)
	}
	return dir, errors.Wrapf(os.MkdirAll(dir, 0o755), "creating the cache folder %q", dir)
}

// WeightsSpec is the weights argument flowerlib/resnet50 loads: "random:SEED" (the run's
// seed for plain "random"), "imagenet" or a file; "auto" is resolved first.
func (s Run) WeightsSpec() string {
	if s = s.Defaults(); s.Weights == "auto" {
		s = s.Resolve(nil)
	}
	if s.Weights == "random" {
		return fmt.Sprintf("random:%d", s.Seed)
	}
	return s.Weights
}

// SampleEnv overrides where the 200 sample photos are (Data "sample").
const SampleEnv = "FLOWERS_SAMPLE_DIR"

// SampleDir returns the folder of the 200 real sample photos that ship beside the repository
// on the project's machines (../shared/data/flower_photos_small, or $FLOWERS_SAMPLE_DIR), or ""
// when absent.
func SampleDir() string {
	if dir := os.Getenv(SampleEnv); dir != "" {
		return dir
	}
	_, file, _, _ := runtime.Caller(0) // this source file: <repo>/flowerlib/config/data.go
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data", "flower_photos_small")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return filepath.Clean(dir)
	}
	return ""
}

// DataDir returns the dataset folder the settings name: the embedded or the shipped sample, the
// downloaded flower_photos (fetched into the cache the first time, with a progress bar on
// progress), or the given folder; with PerClass > 0, a copy of the first PerClass photos
// of each class (in file-name order) under <Work>/data-<name>-<N>, made once.
func (s Run) DataDir(progress io.Writer) (string, error) {
	if s = s.Defaults(); s.Data == "auto" {
		s = s.Resolve(nil)
	}
	var dir string
	var err error
	switch s.Data {
	case "sample":
		dir = SampleDir()
		if dir == "" {
			return "", errors.Errorf("data \"sample\": the 200 sample photos are not in ../shared/data/flower_photos_small "+
				"(nor $%s): use \"auto\", \"embedded\" (%d photos built in), \"download\" (needs internet) or a dataset folder",
				SampleEnv, sample.Count())
		}
	case "embedded":
		if dir, err = sample.Dir(s.cacheDir()); err != nil {
			return "", err
		}
	case "download":
		if dir = envPath(download.DataEnv); dir == "" {
			if dir, err = download.FlowerPhotos.Fetch(s.cacheDir(), progress); err != nil {
				return "", err
			}
		}
	default:
		dir = s.Data
	}
	if s.PerClass <= 0 {
		return dir, nil
	}
	work, err := s.WorkDir()
	if err != nil {
		return "", err
	}
	return subset(dir, filepath.Join(work, fmt.Sprintf("data-%s-%d", filepath.Base(dir), s.PerClass)), s.PerClass)
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
