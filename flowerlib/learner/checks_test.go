package learner

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunInsideDataRefused (BAD_INPUTS 34): a run folder inside the dataset folder (its
// checkpoints would be scanned as photos, a stray class folder next time) is refused before
// anything is created.
func TestRunInsideDataRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 2, 32)
	for _, run := range []string{filepath.Join(data, "run"), data, filepath.Join(data, "red", "run")} {
		var log bytes.Buffer
		cfg := smallConfig(dir, data, 1, &log)
		cfg.RunDir = run
		_, err := New(cfg)
		want := "learner: the run folder " + run + " is inside the dataset folder " + data
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "use a run folder outside it") {
			t.Errorf("run %s: %v", run, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "red")); len(entries) != 2 {
		t.Errorf("the dataset changed: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(data, "run")); !os.IsNotExist(err) {
		t.Errorf("the refused run folder was created")
	}
}

// TestSplitProblemsEarly (BAD_INPUTS 30): a one-class dataset is refused before any feature is
// extracted; a class with one photo trains with a warning naming it.
func TestSplitProblemsEarly(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one")
	writeClassImages(t, filepath.Join(dir, "all"), 3, 32)
	os.MkdirAll(one, 0o755)
	os.Rename(filepath.Join(dir, "all", "red"), filepath.Join(one, "red"))
	var log bytes.Buffer
	cfg := smallConfig(dir, one, 1, &log)
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "only one class (red)") {
		t.Fatalf("one class: %v", err)
	}
	if _, err := os.Stat(cfg.Cache); !os.IsNotExist(err) || strings.Contains(log.String(), "features") {
		t.Errorf("features were extracted for a one-class dataset:\n%s", log.String())
	}

	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	os.MkdirAll(filepath.Join(data, "zlone"), 0o755)
	b, _ := os.ReadFile(filepath.Join(data, "red", "aa.png"))
	os.WriteFile(filepath.Join(data, "zlone", "only.png"), b, 0o644)
	log.Reset()
	l, err := New(smallConfig(dir, data, 1, &log))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if !strings.Contains(log.String(), "warning: class zlone has no ") || !strings.Contains(log.String(), " photo (1 photo in all") {
		t.Errorf("no warning for the lone photo:\n%s", log.String())
	}
}
