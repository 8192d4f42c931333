package container

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOpenSection reads a container stored inside a larger file at an offset that is not
// page-aligned (as flowerlib/export appends a model to an executable), and refuses sections
// that do not fit the file or do not hold the whole container.
func TestOpenSection(t *testing.T) {
	dir := t.TempDir()
	inner := filepath.Join(dir, "inner.bin")
	writeSample(t, inner)
	body, err := os.ReadFile(inner)
	if err != nil {
		t.Fatal(err)
	}
	prefix := make([]byte, 5000) // more than a page, not a multiple of one
	outer := filepath.Join(dir, "outer.bin")
	if err := os.WriteFile(outer, append(append(prefix, body...), "trailing bytes"...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenSection(outer, int64(len(prefix)), int64(len(body)), testMagic)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := f.Lookup("b")
	if v, err := f.Float32(e); err != nil || !slices.Equal(v, []float32{7, 8, 9}) {
		t.Errorf("b = %v, %v; want [7 8 9]", v, err)
	}
	f.Close()
	for _, c := range []struct{ off, size int64 }{
		{int64(len(prefix)) + 1, int64(len(body))}, // shifted by a byte
		{int64(len(prefix)), int64(len(body)) - 1}, // one byte short
		{int64(len(prefix)), 1 << 40},              // past the end of the file
		{-1, 10},
	} {
		if _, err := OpenSection(outer, c.off, c.size, testMagic); err == nil || !IsCorrupt(err) {
			t.Errorf("OpenSection(offset %d, size %d) = %v, want a corrupt-file error", c.off, c.size, err)
		}
	}
}
