// Package npy reads and writes NumPy .npy files (format version 1.0/2.0/3.0 on read,
// 1.0 on write) for the two dtypes flowerlib exchanges with Python: little-endian
// float32 ('<f4') and uint8 ('|u1'), C order only.
//
// Writes are atomic: a temporary file in the same folder is synced and renamed.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

var magic = []byte("\x93NUMPY")

// WriteFloat32 writes data as a '<f4' array of the given shape (row-major).
// len(data) must equal the product of shape.
func WriteFloat32(path string, shape []int, data []float32) error {
	if err := checkCount(shape, len(data)); err != nil {
		return errors.Wrapf(err, "npy.WriteFloat32(%q)", path)
	}
	buf := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	return write(path, "<f4", shape, buf)
}

// WriteUint8 writes data as a '|u1' array of the given shape (row-major).
func WriteUint8(path string, shape []int, data []uint8) error {
	if err := checkCount(shape, len(data)); err != nil {
		return errors.Wrapf(err, "npy.WriteUint8(%q)", path)
	}
	return write(path, "|u1", shape, data)
}

// ReadFloat32 reads a float32 .npy file (also accepts '<f8', converted to float32).
func ReadFloat32(path string) (shape []int, data []float32, err error) {
	descr, shape, raw, err := read(path)
	if err != nil {
		return nil, nil, err
	}
	switch descr {
	case "<f4":
		data = make([]float32, len(raw)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case "<f8":
		data = make([]float32, len(raw)/8)
		for i := range data {
			data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	default:
		return nil, nil, errors.Errorf("npy: %q has dtype %q, want float32 ('<f4')", path, descr)
	}
	return shape, data, nil
}

// ReadUint8 reads a uint8 .npy file.
func ReadUint8(path string) (shape []int, data []uint8, err error) {
	descr, shape, raw, err := read(path)
	if err != nil {
		return nil, nil, err
	}
	if descr != "|u1" && descr != "<u1" {
		return nil, nil, errors.Errorf("npy: %q has dtype %q, want uint8 ('|u1')", path, descr)
	}
	return shape, raw, nil
}

func checkCount(shape []int, n int) error {
	count := 1
	for _, d := range shape {
		if d < 0 {
			return errors.Errorf("negative dimension in shape %v", shape)
		}
		count *= d
	}
	if count != n {
		return errors.Errorf("shape %v holds %d values, got %d", shape, count, n)
	}
	return nil
}

func header(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	// Pad with spaces so that magic(6)+version(2)+len(2)+header+'\n' is a multiple of 64.
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	h := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.Write(magic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	return b.Bytes()
}

func write(path, descr string, shape []int, payload []byte) error {
	h := header(descr, shape)
	if len(h) > 65535+10 {
		return errors.Errorf("npy: shape %v too long for a version 1.0 header", shape)
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write(h); err != nil {
			return err
		}
		_, err := w.Write(payload)
		return err
	})
	return errors.WithMessage(err, "npy")
}

var (
	reDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	reFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	reShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// readHeader reads the header of the .npy file f (named path in messages): dtype, shape and
// the number of elements.
func readHeader(f *os.File, path string) (descr string, shape []int, count int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return "", nil, 0, errors.Wrapf(err, "npy: %q", path)
	}
	bad := func(format string, args ...any) error {
		return errors.Errorf("npy: %q is not a valid .npy file: %s", path, fmt.Sprintf(format, args...))
	}
	pre := make([]byte, 8)
	if _, err := io.ReadFull(f, pre); err != nil || !bytes.Equal(pre[:6], magic) {
		return "", nil, 0, bad("missing \\x93NUMPY magic")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(f, b[:]); err != nil {
			return "", nil, 0, bad("truncated header")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(f, b[:]); err != nil {
			return "", nil, 0, bad("truncated header")
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return "", nil, 0, bad("unknown format version %d.%d", pre[6], pre[7])
	}
	if int64(hlen) > st.Size() {
		return "", nil, 0, bad("header length %d beyond file size %d", hlen, st.Size())
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(f, hb); err != nil {
		return "", nil, 0, bad("truncated header")
	}
	h := string(hb)
	m := reDescr.FindStringSubmatch(h)
	if m == nil {
		return "", nil, 0, bad("no 'descr' in header %q", h)
	}
	descr = m[1]
	if m := reFortran.FindStringSubmatch(h); m == nil || m[1] == "True" {
		return "", nil, 0, bad("only C-order (fortran_order False) arrays are supported")
	}
	m = reShape.FindStringSubmatch(h)
	if m == nil {
		return "", nil, 0, bad("no 'shape' in header %q", h)
	}
	count = 1
	for _, s := range strings.Split(m[1], ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 {
			return "", nil, 0, bad("bad dimension %q", s)
		}
		shape = append(shape, d)
		count *= int64(d)
		if count > st.Size() {
			return "", nil, 0, bad("shape %v larger than the file", shape)
		}
	}
	if shape == nil {
		shape = []int{}
	}
	return descr, shape, count, nil
}

// Header returns the dtype and shape of the .npy file at path, reading only its header (the
// data is not checked).
func Header(path string) (descr string, shape []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, errors.Wrapf(err, "npy: opening %q", path)
	}
	defer f.Close()
	descr, shape, _, err = readHeader(f, path)
	return descr, shape, err
}

func read(path string) (descr string, shape []int, raw []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, errors.Wrapf(err, "npy: opening %q", path)
	}
	defer f.Close()
	descr, shape, count, err := readHeader(f, path)
	if err != nil {
		return "", nil, nil, err
	}
	bad := func(format string, args ...any) error {
		return errors.Errorf("npy: %q is not a valid .npy file: %s", path, fmt.Sprintf(format, args...))
	}
	var size int64
	switch descr {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	case "|u1", "<u1":
		size = 1
	default:
		return "", nil, nil, errors.Errorf("npy: %q has unsupported dtype %q (want '<f4' or '|u1')", path, descr)
	}
	want := count * size
	raw = make([]byte, want)
	if _, err := io.ReadFull(f, raw); err != nil {
		return "", nil, nil, bad("data truncated: shape %v needs %d bytes", shape, want)
	}
	return descr, shape, raw, nil
}
