// Package sample embeds a small slice of the flower_photos dataset in flowerlib itself, so
// that a fresh clone runs the whole pipeline offline, anywhere: 50 photos (the first 10 of
// each class, by file name, of the project's 200-photo sample), shrunk to at most 320
// pixels, about 1.1 MB, with their CC-BY 2.0 credits in LICENSE.txt (see gen.go, which
// made them).
//
// It is a demonstration set: 40 training and 10 validation photos give a noisy accuracy
// even with ImageNet weights.
package sample

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/pkg/errors"
)

//go:generate go run gen.go

//go:embed photos
var photos embed.FS

// Classes are the class folders of the sample, sorted.
var Classes = []string{"daisy", "dandelion", "roses", "sunflowers", "tulips"}

// Key is the first 12 hex digits of the SHA-256 of the sample's names and bytes: the
// folder Dir writes changes when the embedded photos do.
func Key() string {
	h := sha256.New()
	for _, name := range files() {
		data, _ := photos.ReadFile(name)
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// files lists the embedded files ("photos/daisy/x.jpg", "photos/LICENSE.txt"), sorted.
func files() []string {
	var out []string
	_ = fs.WalkDir(photos, "photos", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	sort.Strings(out)
	return out
}

// Count is the number of photos embedded.
func Count() int { return len(files()) - 1 } // all but LICENSE.txt

// Dir returns a dataset folder with the embedded sample (one sub-folder per class and
// LICENSE.txt) under cacheDir, named by Key: written the first time (into a temporary
// folder, then renamed into place, so a crash never leaves half a sample), reused after.
func Dir(cacheDir string) (string, error) {
	final := filepath.Join(cacheDir, "sample-"+Key())
	if st, err := os.Stat(filepath.Join(final, "LICENSE.txt")); err == nil && st.Mode().IsRegular() {
		return final, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", errors.Wrapf(err, "creating the cache folder %q", cacheDir)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".sample-*")
	if err != nil {
		return "", errors.Wrapf(err, "writing the embedded sample into %q", cacheDir)
	}
	defer os.RemoveAll(tmp) // nothing left after the rename
	for _, name := range files() {
		data, err := photos.ReadFile(name)
		if err != nil {
			return "", errors.Wrapf(err, "reading embedded %s", name)
		}
		rel, _ := filepath.Rel("photos", filepath.FromSlash(name))
		dst := filepath.Join(tmp, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", errors.Wrapf(err, "creating %q", filepath.Dir(dst))
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return "", errors.Wrapf(err, "writing %q", dst)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if st, err2 := os.Stat(filepath.Join(final, "LICENSE.txt")); err2 == nil && st.Mode().IsRegular() {
			return final, nil // another process wrote it meanwhile
		}
		return "", errors.Wrapf(err, "moving the embedded sample to %q", final)
	}
	return final, nil
}
