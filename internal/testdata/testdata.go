// Package testdata finds the data tests share: the 200 real sample photos that ship
// beside the repository in ../shared/data/flower_photos_small.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

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

// RequireSample returns SampleDir or skips the test with a message saying where it looked.
func RequireSample(t testing.TB) string {
	t.Helper()
	dir := SampleDir()
	if dir == "" {
		t.Skipf("sample photos not found (looked in ../shared/data/flower_photos_small and $%s): skipping", SampleEnv)
	}
	return dir
}

// SamplePhotos returns up to n sample photos (RequireSample's), taking the class folders in
// turn, each in name order: a few from every class, in a fixed order.
func SamplePhotos(t testing.TB, n int) []string {
	t.Helper()
	root := RequireSample(t)
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
