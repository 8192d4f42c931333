package download

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/defaults"

	"github.com/pkg/errors"
)

// FlowersURL is the official location of the flower_photos archive (3670 JPEGs in 5
// class folders plus LICENSE.txt), as used by TensorFlow's tutorials and Keras' get_file.
const FlowersURL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"

// FlowersSize is the archive's size in bytes, as printed by Keras' get_file progress
// ("228813984/228813984") in TensorFlow's published tutorials; it could not be checked
// from this build machine (no internet). No SHA-256 is published for the file (Keras'
// get_file uses none for it), so none is pinned here: FlowerPhotos uses trust on first use
// (see File) — the first complete download's SHA-256 is recorded next to the archive and
// every later use is checked against it.
const FlowersSize = 228813984

// DataEnv names the environment variable that points at an extracted flower_photos folder.
const DataEnv = "FLOWERS_DATA"

// Archive is a .tar.gz dataset: where to get it and the folder it unpacks to.
type Archive struct {
	URL      string
	Checksum string // "sha256:HEX", "md5:HEX" or "" (trust on first use)
	Size     int64  // expected size in bytes; 0 = unknown
	Top      string // the folder the archive holds, e.g. "flower_photos"
}

// FlowerPhotos is the article's dataset.
var FlowerPhotos = Archive{URL: FlowersURL, Size: FlowersSize, Top: "flower_photos"}

// Fetch makes sure cacheDir/<Top> holds the extracted archive and returns that path. It
// downloads cacheDir/<base of URL> with File (temporary file, checksum, rename), then
// extracts into a temporary folder inside cacheDir and renames it into place, so an
// interrupted run never leaves a half-extracted dataset. When cacheDir/<Top> is there,
// it does nothing. Offline, the error names the URL and the ways to use a local copy.
func (a Archive) Fetch(cacheDir string, progress io.Writer) (string, error) {
	if dir, ok := a.Cached(cacheDir); ok {
		return dir, nil
	}
	final := filepath.Join(cacheDir, a.Top)
	marker := filepath.Join(cacheDir, "."+a.Top+".complete")
	archive := filepath.Join(cacheDir, filepath.Base(a.URL))
	if err := File(a.URL, archive, a.Checksum, &Options{Size: a.Size, Progress: progress}); err != nil {
		return "", errors.WithMessagef(err, "the %s dataset is not available offline: download %s elsewhere and copy it to %s, or point at an extracted copy with -data DIR or %s=DIR",
			a.Top, a.URL, archive, DataEnv)
	}
	tmp, err := os.MkdirTemp(cacheDir, "."+a.Top+".extract-*")
	if err != nil {
		return "", errors.Wrapf(err, "extracting into %q", cacheDir)
	}
	defer os.RemoveAll(tmp)
	if progress != nil {
		fmt.Fprintf(progress, "extracting %s\n", archive)
	}
	if err := ExtractTarGz(archive, tmp); err != nil {
		return "", err
	}
	top := filepath.Join(tmp, a.Top)
	if st, err := os.Stat(top); err != nil || !st.IsDir() {
		return "", errors.Errorf("archive %q has no top folder %q: not the expected dataset (delete it to download again)", archive, a.Top)
	}
	_ = os.RemoveAll(final) // a stale partial copy from an older run
	if err := os.Rename(top, final); err != nil {
		return "", errors.Wrapf(err, "moving the extracted dataset to %q", final)
	}
	if err := os.WriteFile(marker, []byte(a.URL+"\n"), 0o644); err != nil {
		return "", errors.Wrapf(err, "marking %q complete", final)
	}
	return final, nil
}

// Cached returns cacheDir/<Top> and true when Fetch extracted it there completely (no
// network needed).
func (a Archive) Cached(cacheDir string) (string, bool) {
	final := filepath.Join(cacheDir, a.Top)
	if _, err := os.Stat(filepath.Join(cacheDir, "."+a.Top+".complete")); err != nil {
		return final, false
	}
	st, err := os.Stat(final)
	return final, err == nil && st.IsDir()
}

// ResolveData returns the dataset folder to use: dataFlag when set, else $FLOWERS_DATA,
// else FlowerPhotos fetched into cacheDir (defaults.CacheDir() when empty).
func ResolveData(dataFlag, cacheDir string, progress io.Writer) (string, error) {
	if dataFlag != "" {
		return dataFlag, nil
	}
	if env := os.Getenv(DataEnv); env != "" && !isDataKeyword(env) {
		return env, nil
	}
	if cacheDir == "" {
		cacheDir = defaults.CacheDir()
	}
	return FlowerPhotos.Fetch(cacheDir, progress)
}

// isDataKeyword reports a data setting that names no folder ("auto", "embedded", "sample",
// "download"): $FLOWERS_DATA holds one when it sets the notebooks' setting (flowerlib/config).
func isDataKeyword(s string) bool {
	return s == "auto" || s == "embedded" || s == "sample" || s == "download"
}
