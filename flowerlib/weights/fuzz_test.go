package weights

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadH5 feeds corrupt Keras weights files to ReadH5 (and the cache reader):
// errors are fine, panics are not.
func FuzzReadH5(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.h5")
	small := &File{Layers: []Layer{{Name: "input_1"},
		{Name: "c", Weights: []Tensor{{Name: "c/kernel:0", Shape: []int{1, 1, 2, 2}, Data: []float32{1, 2, 3, 4}}, {Name: "c/bias:0", Shape: []int{2}, Data: []float32{5, 6}}}}}}
	if err := WriteH5(p, small); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	if b, err := os.ReadFile("../internal/hdf5/testdata/h5py_small.h5"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.h5")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if w, err := ReadH5(path); err == nil {
			Describe(w)
		}
		readCache(path, "00")
	})
}
