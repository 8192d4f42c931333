// Package testdata finds the data tests share — the 200 real sample photos that ship beside
// the repository in ../shared/data/flower_photos_small, else the 50 photos embedded in
// flowerlib/sample — and says which tests run where:
//
//   - A test that needs something this machine lacks (the 200-photo sample, PyTorch, Keras,
//     Jupyter, Chromium, XLA's plugin) skips with one line saying what it needs (Need), except
//     under CI=true, where it fails: CI must run everything.
//   - A slow test (minutes: the notebooks in a browser, the 200-photo parity, the Keras oracles)
//     runs only in the full suite (Slow): CI=true (bash .ci/run) or FLOWERS_TEST=full. The
//     README's `go test ./...` runs the rest, in minutes, on any fresh clone.
package testdata

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/sample"
)

// FullEnv set to "full" runs the slow tests too (as CI=true does).
const FullEnv = "FLOWERS_TEST"

// CI reports whether the tests run under CI=true: every prerequisite must be there, and the
// slow tests run.
func CI() bool { return os.Getenv("CI") == "true" }

// Full reports whether the full suite runs: CI=true or FLOWERS_TEST=full.
func Full() bool { return CI() || os.Getenv(FullEnv) == "full" }

// Need skips the test with the message (what is missing and how to get it), or fails it under
// CI=true, where a missing prerequisite is a failure.
func Need(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", msg)
	}
	t.Skip(msg)
}

// Slow skips a test that takes minutes unless the full suite runs (Full); what says what it
// does, e.g. "executes both notebooks in JupyterLab and classic Notebook".
func Slow(t testing.TB, what string) {
	t.Helper()
	if !Full() {
		t.Skipf("slow (%s): runs in the full suite, bash .ci/run or %s=full go test -timeout 60m ./...", what, FullEnv)
	}
}

// SampleEnv overrides where the sample photos are.
const SampleEnv = "FLOWERS_SAMPLE_DIR"

// RepoRoot returns the repository's root folder (where go.mod is).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SampleDir returns the folder of the real sample photos, or "" when absent.
func SampleDir() string {
	if dir := os.Getenv(SampleEnv); dir != "" {
		return dir
	}
	dir := filepath.Join(RepoRoot(), "..", "shared", "data", "flower_photos_small")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	return ""
}

// RequireSample returns SampleDir, or skips the test (Need: fails under CI=true) saying where it
// looked.
func RequireSample(t testing.TB) string {
	t.Helper()
	dir := SampleDir()
	if dir == "" {
		Need(t, "needs the 200 sample photos (looked in ../shared/data/flower_photos_small and $%s)", SampleEnv)
	}
	return dir
}

// Photos returns a dataset folder of real photos, one sub-folder per class: the 200-photo
// sample (SampleDir, 40 per class) when there, else the 50 photos embedded in flowerlib/sample
// (10 per class), written under the test's temporary folder. For tests whose assertions hold
// on either.
func Photos(t testing.TB) string {
	t.Helper()
	if dir := SampleDir(); dir != "" {
		return dir
	}
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// SamplePhotos returns up to n sample photos (RequireSample's), taking the class folders in
// turn, each in name order: a few from every class, in a fixed order.
func SamplePhotos(t testing.TB, n int) []string {
	t.Helper()
	return spread(t, RequireSample(t), n)
}

// SomePhotos is SamplePhotos from Photos' folder: the 200-photo sample when there, else the
// embedded 50.
func SomePhotos(t testing.TB, n int) []string {
	t.Helper()
	return spread(t, Photos(t), n)
}

// spread returns up to n photos of root, taking the class folders in turn.
func spread(t testing.TB, root string, n int) []string {
	t.Helper()
	classes, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var perClass [][]string
	for _, c := range classes {
		if !c.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, c.Name(), "*.jpg"))
		sort.Strings(files)
		perClass = append(perClass, files)
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		added := false
		for _, files := range perClass {
			if i < len(files) && len(out) < n {
				out = append(out, files[i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	return out
}
