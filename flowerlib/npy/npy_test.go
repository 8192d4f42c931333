package npy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.npy")
	data := []float32{1.5, -2, 3.25, 0, 1e-7, 6}
	if err := WriteFloat32(p, []int{2, 3}, data); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	if (len(raw)-4*len(data))%64 != 0 {
		t.Errorf("header not 64-byte aligned: file size %d", len(raw))
	}
	shape, got, err := ReadFloat32(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 2 || shape[1] != 3 {
		t.Fatalf("shape %v", shape)
	}
	for i := range data {
		if got[i] != data[i] {
			t.Fatalf("data[%d]=%v want %v", i, got[i], data[i])
		}
	}
	pu := filepath.Join(dir, "u.npy")
	if err := WriteUint8(pu, []int{4}, []uint8{0, 1, 254, 255}); err != nil {
		t.Fatal(err)
	}
	shape, u, err := ReadUint8(pu)
	if err != nil || len(shape) != 1 || shape[0] != 4 || u[2] != 254 {
		t.Fatalf("uint8 round trip: %v %v %v", shape, u, err)
	}
	if _, _, err := ReadFloat32(pu); err == nil || !strings.Contains(err.Error(), "u1") {
		t.Errorf("want dtype error, got %v", err)
	}
	if err := WriteFloat32(p, []int{4}, data); err == nil {
		t.Errorf("want count error")
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"empty":     "",
		"text":      "hello world",
		"truncated": "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }",
		"hugeshape": "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }      \n",
		"fortran":   "\x93NUMPY\x01\x00\x45\x00{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }            \n\x00\x00\x00\x00",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		if _, _, err := ReadFloat32(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

// TestNumPy cross-checks with NumPy when Debian's python3 has it.
func TestNumPy(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("/usr/bin/python3 with numpy not available")
	}
	dir := t.TempDir()
	gp := filepath.Join(dir, "go.npy")
	if err := WriteFloat32(gp, []int{3, 1, 2}, []float32{1, 2, 3, 4, 5, 6.5}); err != nil {
		t.Fatal(err)
	}
	pp := filepath.Join(dir, "py.npy")
	out, err := exec.Command(py, "-c", `
import numpy as np, sys
a = np.load(sys.argv[1])
assert a.dtype == np.float32 and a.shape == (3,1,2), (a.dtype, a.shape)
assert a[2,0,1] == 6.5
np.save(sys.argv[2], np.arange(24, dtype=np.uint8).reshape(2,3,4))
`, gp, pp).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	shape, u, err := ReadUint8(pp)
	if err != nil || len(shape) != 3 || shape[2] != 4 || u[23] != 23 {
		t.Fatalf("reading numpy file: %v %v %v", shape, len(u), err)
	}
}
