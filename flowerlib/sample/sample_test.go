package sample

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/labels"
)

func TestDir(t *testing.T) {
	cache := t.TempDir()
	dir, err := Dir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "sample-"+Key() || len(Key()) != 12 {
		t.Errorf("folder %q, key %q", dir, Key())
	}
	tab, rep, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 50 || Count() != 50 || strings.Join(tab.Classes, ",") != strings.Join(Classes, ",") {
		t.Fatalf("%d photos (Count %d) in classes %v", len(tab.Rows), Count(), tab.Classes)
	}
	for _, c := range tab.Counts() {
		if c.Count != 10 {
			t.Errorf("class %s: %d photos, want 10", c.Class, c.Count)
		}
	}
	// Only the licence is skipped, and labels reads its 50 credits.
	if len(rep.Skipped) != 1 || rep.License == nil || !strings.Contains(rep.Skipped[0].Reason, "50 image credits") {
		t.Errorf("skipped: %v", rep.Skipped)
	}
	// Every photo has its credit line, and the licence is the dataset's.
	lic, err := os.ReadFile(filepath.Join(dir, "LICENSE.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lic), "https://creativecommons.org/licenses/by/2.0/") {
		t.Error("LICENSE.txt lacks the CC-BY 2.0 link")
	}
	total := int64(0)
	for _, r := range tab.Rows {
		rel, _ := filepath.Rel(dir, r.Path)
		if !strings.Contains(string(lic), filepath.ToSlash(rel)+" CC") {
			t.Errorf("%s has no credit line", rel)
		}
		st, _ := os.Stat(r.Path)
		total += st.Size()
	}
	if total > 2<<20 {
		t.Errorf("sample is %d bytes, want ≤ 2 MiB", total)
	}
	// A second call reuses the folder; a missing cache folder is created.
	st1, _ := os.Stat(tab.Rows[0].Path)
	if again, err := Dir(cache); err != nil || again != dir {
		t.Fatalf("second Dir: %q, %v", again, err)
	}
	if st2, _ := os.Stat(tab.Rows[0].Path); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second Dir rewrote the photos")
	}
	if _, err := Dir(filepath.Join(cache, "a", "b")); err != nil {
		t.Errorf("nested cache folder: %v", err)
	}
	// An unwritable place is a clear error naming it.
	blocker := filepath.Join(cache, "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := Dir(blocker); err == nil || !strings.Contains(err.Error(), blocker) {
		t.Errorf("cache folder is a file: %v", err)
	}
}
