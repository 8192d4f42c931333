package reference

// Minimal .npy and sample-folder helpers: flowerlib/internal/npy and
// flowerlib/internal/testdata cannot be imported from outside flowerlib/.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeUint8NPY writes a C-order '|u1' .npy.
func writeUint8NPY(path string, shape []int, data []uint8) error {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	h := fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': (%s,), }", strings.Join(dims, ", "))
	h += strings.Repeat(" ", (64-(10+len(h)+1)%64)%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return os.WriteFile(path, b.Bytes(), 0o644)
}

var npyShape = regexp.MustCompile(`'shape': \(([^)]*)\)`)

// readFloat32NPY reads a C-order '<f4' .npy written by numpy (format 1.0).
func readFloat32NPY(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" || b[6] != 1 {
		return nil, fmt.Errorf("%s: not a version 1 .npy", path)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:]))
	if 10+hl > len(b) {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	h := string(b[10 : 10+hl])
	if !strings.Contains(h, "'<f4'") || !strings.Contains(h, "'fortran_order': False") || !npyShape.MatchString(h) {
		return nil, fmt.Errorf("%s: want C-order float32, header %q", path, h)
	}
	raw := b[10+hl:]
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

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
