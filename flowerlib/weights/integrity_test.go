package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// flipInTensor flips one bit of a byte in the middle of tensor t's values in the file at path.
func flipInTensor(tb testing.TB, path string, t Tensor) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	raw := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	at := bytes.Index(b, raw)
	if at < 0 || bytes.Index(b[at+1:], raw) >= 0 {
		tb.Fatalf("tensor %s not found once in %s", t.Name, path)
	}
	b[at+len(raw)/2] ^= 0x08
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// TestFlippedByteRefused (BAD_INPUTS 28): a weights file flowers wrote carries a checksum of
// its tensors; one flipped byte inside a tensor is refused by ReadH5 and Load, in both layouts,
// naming the file; the intact file reads as verified.
func TestFlippedByteRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		f     *File
		write func(string, *File, ...Attr) error
	}{{"w.h5", smallFile(), WriteH5}, {"w.weights.h5", smallKeras3(), WriteKeras3}} {
		path := filepath.Join(dir, c.name)
		if err := c.write(path, c.f); err != nil {
			t.Fatal(err)
		}
		got, err := ReadH5(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Integrity{Verified: true, How: "the checksum flowers wrote into it"}); got.Integrity != want {
			t.Errorf("%s: integrity %+v, want %+v", c.name, got.Integrity, want)
		}
		var kernel Tensor
		for _, l := range c.f.Layers {
			if l.Name == "conv1_conv" {
				kernel = l.Weights[0]
			}
		}
		flipInTensor(t, path, kernel)
		for what, read := range map[string]func() error{
			"ReadH5": func() error { _, err := ReadH5(path); return err },
			"Load":   func() error { _, err := Load(path, filepath.Join(dir, "cache")); return err },
		} {
			err := read()
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "is damaged: its tensors do not match the checksum flowers wrote into it") {
				t.Errorf("%s of %s with a flipped byte: %v", what, c.name, err)
			}
		}
	}
}

// TestUnverifiedWeights: a file neither published by Keras (md5) nor written by flowers (here
// rewritten by h5py) reads as unverified, saying why; through the converted cache too.
func TestUnverifiedWeights(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import h5py").Run() != nil {
		t.Skip("/usr/bin/python3 with h5py not available")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "w.h5")
	if err := WriteH5(path, smallFile()); err != nil {
		t.Fatal(err)
	}
	script := "import h5py, sys\nwith h5py.File(sys.argv[1], 'a') as f:\n    del f.attrs['" + ChecksumAttr + "']\n"
	if out, err := exec.Command("/usr/bin/python3", "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := Integrity{How: "neither a file Keras published (md5) nor one flowers wrote (no " + ChecksumAttr + " attribute)"}
	for range 2 { // parsed, then from the converted cache
		f, err := Load(path, filepath.Join(dir, "cache"))
		if err != nil {
			t.Fatal(err)
		}
		if f.Integrity != want {
			t.Errorf("integrity %+v, want %+v", f.Integrity, want)
		}
	}
}

// TestPublishedMD5s: the files Keras publishes are known by the md5 Keras checks them with.
func TestPublishedMD5s(t *testing.T) {
	for _, top := range []bool{false, true} {
		_, name, sum := URL(top)
		if got := publishedMD5[sum]; !strings.Contains(got, name) {
			t.Errorf("md5 %s: %q, want the name %s", sum, got, name)
		}
	}
}
