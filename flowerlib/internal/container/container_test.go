package container

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/internal/container/containertest"
)

const testMagic = "FLWTEST1"

type meta struct {
	Step  int64    `json:"step"`
	Names []string `json:"names"`
}

func writeSample(t testing.TB, path string) {
	t.Helper()
	err := Write(path, testMagic, 0o644, func(w *Writer) error {
		if err := w.AddFloat32("a", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}); err != nil {
			return err
		}
		if err := w.Add("step", "int64", []int{}, binary.LittleEndian.AppendUint64(nil, 42)); err != nil {
			return err
		}
		// Streamed in two pieces, declared afterwards.
		off := w.Offset()
		for _, part := range [][]float32{{7, 8}, {9}} {
			if err := w.Stream(Float32Bytes(part)); err != nil {
				return err
			}
		}
		if err := w.Declare("b", "float32", []int{3}, off); err != nil {
			return err
		}
		return w.SetMeta(meta{Step: 7, Names: []string{"x", "y\xff"}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.bin")
	writeSample(t, path)
	f, err := Open(path, testMagic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m meta
	if err := f.Meta(&m); err != nil {
		t.Fatal(err)
	}
	// JSON replaces invalid UTF-8 with U+FFFD: callers that need byte-exact names encode them.
	if m.Step != 7 || len(m.Names) != 2 {
		t.Fatalf("meta %+v", m)
	}
	a, _ := f.Lookup("a")
	av, err := f.Float32(a)
	if err != nil || !slices.Equal(av, []float32{1, 2, 3, 4, 5, 6}) || !slices.Equal(a.Dims, []int{2, 3}) {
		t.Fatalf("a = %v %v (%v)", av, a.Dims, err)
	}
	b, _ := f.Lookup("b")
	bv, _ := f.Float32(b)
	if !slices.Equal(bv, []float32{7, 8, 9}) {
		t.Fatalf("b = %v", bv)
	}
	s, _ := f.Lookup("step")
	if binary.LittleEndian.Uint64(f.Bytes(s)) != 42 {
		t.Fatalf("step = %v", f.Bytes(s))
	}
	if _, err := f.Float32(s); err == nil || !strings.Contains(err.Error(), "is int64, not float32") {
		t.Fatalf("Float32 of an int64 tensor: %v", err)
	}
	if _, ok := f.Lookup("nope"); ok {
		t.Fatal("found a tensor that is not there")
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.bin")
	for name, fill := range map[string]func(w *Writer) error{
		"size":    func(w *Writer) error { return w.AddFloat32("a", []int{4}, []float32{1}) },
		"dtype":   func(w *Writer) error { return w.Add("a", "complex64", []int{1}, make([]byte, 8)) },
		"negdim":  func(w *Writer) error { return w.Add("a", "float32", []int{-1}, nil) },
		"declare": func(w *Writer) error { return w.Declare("a", "float32", []int{10}, 0) },
		"meta":    func(w *Writer) error { return w.SetMeta(func() {}) },
	} {
		if err := Write(path, testMagic, 0o644, fill); err == nil {
			t.Errorf("%s: Write accepted a bad tensor", name)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%s: a failed Write left %s", name, path)
		}
	}
	if err := Write(path, "short", 0o644, func(*Writer) error { return nil }); err == nil {
		t.Error("a 5-byte magic was accepted")
	}
}

// TestEveryTruncationAndFlip: a file cut at any length, or with any single byte changed, is
// reported as corrupt (never a panic, never silently read).
func TestEveryTruncationAndFlip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.bin")
	writeSample(t, path)
	good, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "bad.bin")
	for n := 0; n < len(good); n++ {
		os.WriteFile(bad, good[:n], 0o644)
		if f, err := Open(bad, testMagic); err == nil || !IsCorrupt(err) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range good {
		b := slices.Clone(good)
		b[i] ^= 0x20
		os.WriteFile(bad, b, 0o644)
		if f, err := Open(bad, testMagic); err == nil || !IsCorrupt(err) {
			if f != nil {
				f.Close()
			}
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	if _, err := Open(path, "FLWOTHER"); err == nil || !strings.Contains(err.Error(), "not a FLWOTHER file") {
		t.Fatalf("wrong kind: %v", err)
	}
}

func craft(t testing.TB, path string, payload []byte, hdr string) {
	t.Helper()
	if err := containertest.Craft(path, testMagic, payload, hdr); err != nil {
		t.Fatal(err)
	}
}

func TestCraftedHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.bin")
	payload := make([]byte, 16)
	cases := map[string]string{
		`dims [-1]`:        `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[-1],"offset":0}]}`,
		`negative offset`:  `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[1],"offset":-4}]}`,
		`beyond payload`:   `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[5],"offset":0}]}`,
		`overflowing dims`: `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[4611686018427387904,4],"offset":0}]}`,
		`huge offset`:      `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[1],"offset":9223372036854775807}]}`,
		`overlapping`:      `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[2],"offset":0},{"name":"b","dtype":"float32","dims":[2],"offset":4}]}`,
		`duplicate`:        `{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[1],"offset":0},{"name":"a","dtype":"float32","dims":[1],"offset":4}]}`,
		`unknown dtype`:    `{"meta":{},"tensors":[{"name":"a","dtype":"float128","dims":[1],"offset":0}]}`,
		`not JSON`:         `{"meta":`,
	}
	for name, hdr := range cases {
		craft(t, path, payload, hdr)
		f, err := Open(path, testMagic)
		if err == nil || !IsCorrupt(err) {
			if f != nil {
				f.Close()
			}
			t.Errorf("%s: want a CorruptError, got %v", name, err)
		}
	}
	craft(t, path, payload, `{"meta":{"step":3},"tensors":[{"name":"a","dtype":"float32","dims":[2],"offset":0},{"name":"b","dtype":"uint8","dims":[8],"offset":8}]}`)
	f, err := Open(path, testMagic)
	if err != nil {
		t.Fatalf("a valid crafted file: %v", err)
	}
	var m meta
	if err := f.Meta(&m); err != nil || m.Step != 3 {
		t.Fatalf("meta %+v %v", m, err)
	}
	f.Close()
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.bin")
	writeSample(f, path)
	good, _ := os.ReadFile(path)
	f.Add(good)
	for _, hdr := range []string{
		`{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[-1],"offset":0}]}`,
		`{"meta":{},"tensors":[{"name":"a","dtype":"float32","dims":[1],"offset":-8}]}`,
		`{"meta":{},"tensors":[{"name":"a","dtype":"int64","dims":[2305843009213693952],"offset":0}]}`,
	} {
		craft(f, path, make([]byte, 8), hdr)
		b, _ := os.ReadFile(path)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.bin")
		os.WriteFile(p, data, 0o644)
		c, err := Open(p, testMagic)
		if err != nil {
			return
		}
		defer c.Close()
		var m json.RawMessage
		_ = c.Meta(&m)
		for _, e := range c.Tensors {
			_ = c.Bytes(e)
			if e.DType == "float32" {
				if _, err := c.Float32(e); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
