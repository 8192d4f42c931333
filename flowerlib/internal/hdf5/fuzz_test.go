package hdf5

import (
	"os"
	"testing"
)

// FuzzOpen feeds corrupt variants of valid files to the reader: it must return an
// error or a usable tree, never panic or allocate beyond the file size.
func FuzzOpen(f *testing.F) {
	for _, n := range []int{0, 3, 40} {
		b, err := Encode(sampleTree(f, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if b, err := os.ReadFile("testdata/h5py_small.h5"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := OpenBytes("fuzz.h5", data)
		if err != nil {
			return
		}
		walk(file.Root(), 0)
	})
}

// walk reads every attribute and dataset value.
func walk(g *Group, depth int) {
	if depth > 64 {
		return
	}
	for _, a := range g.Attrs {
		a.Strings()
		a.Float64s()
	}
	for _, c := range g.Children {
		if c.Group != nil {
			walk(c.Group, depth+1)
		}
		if c.Dataset != nil {
			c.Dataset.Float32s()
			c.Dataset.Float64s()
			for _, a := range c.Dataset.Attrs {
				a.Strings()
			}
		}
	}
}
