// Package container is flowerlib's one file format for derived binary files: training
// checkpoints, the features cache and converted weights. A file is
//
//	[0, 8)              magic: 8 bytes naming the kind of file and its version ("FLWCKPT2", …)
//	[8, 16)             uint64 P: payload length in bytes
//	[16, 16+P)          payload: the tensors' raw little-endian values, one after another
//	[16+P, 16+P+H)      header: JSON {"meta": …, "tensors": [{"name", "dtype", "dims", "offset"}]}
//	then                uint64 H, uint32 CRC-32C of the payload, uint32 CRC-32C of the header, the magic again
//
// The payload comes first so that it can be streamed (features are written batch by batch,
// their count known only at the end) and memory-mapped at a fixed, aligned offset; the header
// comes last. Files are written through internal/atomicfile (temporary file, fsync, rename),
// so a reader never sees a partial file.
//
// Reading trusts nothing: the sizes must add up to the file size, both checksums must match,
// and every header field is range-checked (dtype known, dims non-negative, sizes without
// overflow, tensors inside the payload and not overlapping) before a value is read. Any
// mismatch is one *CorruptError naming the file, so callers can fall back (an older
// checkpoint) or rebuild (a cache).
package container

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"syscall"
	"unsafe"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// MagicLen is the length of a file kind's magic string.
const MagicLen = 8

const (
	prefixLen  = 16 // magic + payload length
	trailerLen = 8 + 4 + 4 + MagicLen
	// MaxHeader bounds the JSON header (checkpoint state with a long history, a features
	// cache's file list of a large dataset): a larger value is corruption, not data.
	MaxHeader = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DTypes and their sizes in bytes.
var dtypeSize = map[string]int64{"float32": 4, "float64": 8, "int32": 4, "int64": 8, "uint8": 1, "uint32": 4, "uint64": 8}

// Entry describes one tensor of a file.
type Entry struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Dims   []int  `json:"dims"`
	Offset int64  `json:"offset"` // byte offset in the payload
}

// Size returns the tensor's size in bytes (dims already checked by Open).
func (e Entry) Size() int64 {
	n := dtypeSize[e.DType]
	for _, d := range e.Dims {
		n *= int64(d)
	}
	return n
}

// Elements returns the number of values of the tensor.
func (e Entry) Elements() int {
	n := 1
	for _, d := range e.Dims {
		n *= d
	}
	return n
}

type header struct {
	Meta    json.RawMessage `json:"meta"`
	Tensors []Entry         `json:"tensors"`
}

// CorruptError is returned for any file that is not a complete, valid container of the kind asked for.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%q is corrupt or incomplete (%s)", e.Path, e.Reason)
}

// IsCorrupt reports whether err (or an error it wraps) is a *CorruptError.
func IsCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}

// Writer streams tensors into a new file; see Write.
type Writer struct {
	w       io.Writer
	crc     hash.Hash32
	offset  int64
	tensors []Entry
	meta    any
}

// Write creates (or atomically replaces) path as a container of the given magic: fill adds
// the tensors in payload order and sets the metadata; the header is written once fill returns
// nil. On any error path keeps its previous content.
func Write(path, magic string, perm os.FileMode, fill func(w *Writer) error) error {
	if len(magic) != MagicLen {
		return errors.Errorf("container.Write(%q): magic %q must be %d bytes", path, magic, MagicLen)
	}
	return atomicfile.WriteDirect(path, perm, func(f *os.File) error {
		// The payload length goes at byte 8 once known: reserve the prefix.
		if _, err := f.Write(make([]byte, prefixLen)); err != nil {
			return err
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		w := &Writer{w: bw, crc: crc32.New(castagnoli)}
		if err := fill(w); err != nil {
			return err
		}
		meta, err := json.Marshal(w.meta)
		if err != nil {
			return errors.Wrap(err, "encoding the metadata")
		}
		hdr, err := json.Marshal(header{Meta: meta, Tensors: w.tensors})
		if err != nil {
			return errors.Wrap(err, "encoding the header")
		}
		tail := make([]byte, 0, len(hdr)+trailerLen)
		tail = append(tail, hdr...)
		tail = binary.LittleEndian.AppendUint64(tail, uint64(len(hdr)))
		tail = binary.LittleEndian.AppendUint32(tail, w.crc.Sum32())
		tail = binary.LittleEndian.AppendUint32(tail, crc32.Checksum(hdr, castagnoli))
		tail = append(tail, magic...)
		if _, err := bw.Write(tail); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		var prefix [prefixLen]byte
		copy(prefix[:], magic)
		binary.LittleEndian.PutUint64(prefix[8:], uint64(w.offset))
		_, err = f.WriteAt(prefix[:], 0)
		return err
	})
}

// SetMeta sets the JSON metadata stored in the header (any JSON-encodable value).
func (w *Writer) SetMeta(v any) error {
	if _, err := json.Marshal(v); err != nil {
		return errors.Wrap(err, "encoding the metadata")
	}
	w.meta = v
	return nil
}

// Add appends a tensor's raw little-endian bytes (len(data) must match dtype and dims).
func (w *Writer) Add(name, dtype string, dims []int, data []byte) error {
	e := Entry{Name: name, DType: dtype, Dims: slices.Clone(dims), Offset: w.offset}
	size, ok := entrySize(e)
	if !ok || size != int64(len(data)) {
		return errors.Errorf("tensor %q: %d bytes for %s%v", name, len(data), dtype, dims)
	}
	if err := w.Stream(data); err != nil {
		return err
	}
	w.tensors = append(w.tensors, e)
	return nil
}

// AddFloat32 appends a float32 tensor.
func (w *Writer) AddFloat32(name string, dims []int, data []float32) error {
	return w.Add(name, "float32", dims, Float32Bytes(data))
}

// Stream appends raw payload bytes without an entry; Declare then names them. It lets a
// writer emit one tensor in pieces (features, batch by batch).
func (w *Writer) Stream(data []byte) error {
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	w.crc.Write(data)
	w.offset += int64(len(data))
	return nil
}

// Declare records a tensor made of the payload bytes [offset, offset+size) already streamed.
func (w *Writer) Declare(name, dtype string, dims []int, offset int64) error {
	e := Entry{Name: name, DType: dtype, Dims: slices.Clone(dims), Offset: offset}
	size, ok := entrySize(e)
	if !ok || offset < 0 || offset+size > w.offset {
		return errors.Errorf("tensor %q: %s%v at %d is not inside the %d bytes streamed", name, dtype, dims, offset, w.offset)
	}
	w.tensors = append(w.tensors, e)
	return nil
}

// Offset is the payload length written so far.
func (w *Writer) Offset() int64 { return w.offset }

// entrySize returns the size in bytes of e, and false for an unknown dtype, a negative
// dimension or a size that overflows.
func entrySize(e Entry) (int64, bool) {
	n, ok := dtypeSize[e.DType]
	if !ok || len(e.Dims) > 16 {
		return 0, false
	}
	for _, d := range e.Dims {
		if d < 0 || (d > 0 && n > math.MaxInt64/int64(d)) {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// File is an open, verified container, memory-mapped read-only.
type File struct {
	Path    string
	Tensors []Entry

	meta    json.RawMessage
	mapped  []byte
	payload []byte
	byName  map[string]int
}

// Open maps path and verifies it completely (see the package comment); magic must be the
// file kind's. The payload stays mapped until Close.
func Open(path, magic string) (*File, error) { return OpenSection(path, 0, -1, magic) }

// OpenSection is Open for a container stored as size bytes at offset inside path (size < 0:
// up to the end of the file), e.g. a model appended to an executable by flowerlib/export.
func OpenSection(path string, offset, size int64, magic string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "opening %q", path)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, errors.Wrapf(err, "reading %q", path)
	}
	bad := func(format string, args ...any) error {
		return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	if size < 0 {
		size = st.Size() - offset
	}
	if offset < 0 || size < 0 || offset > st.Size() || size > st.Size()-offset {
		return nil, bad("section of %d bytes at offset %d outside the %d-byte file", size, offset, st.Size())
	}
	if size < prefixLen+trailerLen {
		return nil, bad("%d bytes: too short", size)
	}
	// mmap wants a page-aligned offset: map from the page the section starts in.
	start := offset &^ int64(os.Getpagesize()-1)
	if size+offset-start > math.MaxInt {
		return nil, bad("too large to map")
	}
	mapped, err := syscall.Mmap(int(fh.Fd()), start, int(size+offset-start), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, errors.Wrapf(err, "mapping %q", path)
	}
	f := &File{Path: path, mapped: mapped}
	if err := f.verify(mapped[offset-start:], magic, bad); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) verify(m []byte, magic string, bad func(string, ...any) error) error {
	size := int64(len(m))
	if string(m[:MagicLen]) != magic || string(m[size-MagicLen:]) != magic {
		return bad("not a %s file", magic)
	}
	p := binary.LittleEndian.Uint64(m[8:16])
	t := m[size-trailerLen:]
	h := binary.LittleEndian.Uint64(t[:8])
	if p > uint64(size) || h > MaxHeader || uint64(prefixLen)+p+h+uint64(trailerLen) != uint64(size) {
		return bad("payload %d + header %d bytes do not add up to the file size %d", p, h, size)
	}
	payload := m[prefixLen : prefixLen+p]
	hdr := m[prefixLen+p : prefixLen+p+h]
	if crc32.Checksum(hdr, castagnoli) != binary.LittleEndian.Uint32(t[12:16]) {
		return bad("header checksum mismatch")
	}
	var hd header
	if err := json.Unmarshal(hdr, &hd); err != nil {
		return bad("header: %v", err)
	}
	// Tensors: known dtype, sane dims, inside the payload, in order and not overlapping.
	end := int64(0)
	f.byName = make(map[string]int, len(hd.Tensors))
	for i, e := range hd.Tensors {
		s, ok := entrySize(e)
		if !ok {
			return bad("tensor %q: invalid dtype %q or dims %v", e.Name, e.DType, e.Dims)
		}
		if e.Offset < end || e.Offset > int64(p) || s > int64(p)-e.Offset {
			return bad("tensor %q: %d bytes at offset %d outside the %d-byte payload or overlapping", e.Name, s, e.Offset, p)
		}
		if _, dup := f.byName[e.Name]; dup {
			return bad("tensor %q listed twice", e.Name)
		}
		f.byName[e.Name] = i
		end = e.Offset + s
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(t[8:12]) {
		return bad("payload checksum mismatch")
	}
	f.Tensors, f.meta, f.payload = hd.Tensors, hd.Meta, payload
	return nil
}

// Meta decodes the header's metadata into v (a pointer).
func (f *File) Meta(v any) error {
	if err := json.Unmarshal(f.meta, v); err != nil {
		return &CorruptError{Path: f.Path, Reason: "metadata: " + err.Error()}
	}
	return nil
}

// Lookup returns the entry of the named tensor.
func (f *File) Lookup(name string) (Entry, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Entry{}, false
	}
	return f.Tensors[i], true
}

// Bytes returns a tensor's raw bytes: a view of the mapping, valid until Close.
func (f *File) Bytes(e Entry) []byte { return f.payload[e.Offset : e.Offset+e.Size()] }

// Float32 returns a float32 tensor's values: a view of the mapping, valid until Close (do not
// modify). The payload starts 16 bytes into a page-aligned mapping and float32 tensors are
// written at multiples of 4, so the view is aligned.
func (f *File) Float32(e Entry) ([]float32, error) {
	if e.DType != "float32" {
		return nil, errors.Errorf("%q: tensor %q is %s, not float32", f.Path, e.Name, e.DType)
	}
	b := f.Bytes(e)
	if len(b) == 0 {
		return []float32{}, nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil
}

// Close unmaps the file; views returned by Bytes and Float32 become invalid.
func (f *File) Close() error {
	if f.mapped == nil {
		return nil
	}
	err := syscall.Munmap(f.mapped)
	f.mapped, f.payload = nil, nil
	return err
}

// Float32Bytes views a float32 slice as its little-endian bytes (flowerlib runs on
// little-endian machines: amd64, arm64).
func Float32Bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}
