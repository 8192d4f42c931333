package reference

// Sample-folder helpers: flowerlib/internal/testdata cannot be imported from outside flowerlib/.

import (
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is the repository root (tests run in tools/reference).
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// requireSample returns the sample photo folder (as flowerlib/internal/testdata finds it) or skips.
func requireSample(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("FLOWERS_SAMPLE_DIR"); dir != "" {
		return dir
	}
	dir := filepath.Join(repoRoot(), "..", "shared", "data", "flower_photos_small")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir
	}
	t.Skipf("sample photos not found (looked in %s and $FLOWERS_SAMPLE_DIR): skipping", dir)
	return ""
}
