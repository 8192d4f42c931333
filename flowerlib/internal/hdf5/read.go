// Package hdf5 reads and writes the small subset of HDF5 that h5py uses by default
// for Keras weights files: superblock version 0/1, version-1 object headers (with
// continuation blocks), groups stored as symbol tables (version-1 B-trees of any
// depth, local heaps, symbol-table nodes), attributes holding fixed- or
// variable-length strings or little-endian numbers, and contiguous or compact
// little-endian float/integer datasets.
//
// Anything outside that subset (version-2 object headers, new-style groups, chunked
// or filtered datasets, big-endian data, ...) is reported as
// "unsupported HDF5 feature X in FILE at offset N". Every size read from the file is
// checked against the file size before use, so a corrupt or hostile file gives an
// error, never a panic or a huge allocation.
//
// The format is described in "HDF5 File Format Specification Version 3.0"
// (https://docs.hdfgroup.org/hdf5/develop/_f_m_t3.html).
package hdf5

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// signature starts every HDF5 superblock.
var signature = []byte{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'}

// undef is HDF5's "undefined address" (all bits set) for 8-byte offsets.
const undef = ^uint64(0)

// Limits that keep corrupt files from causing runaway work.
const (
	maxRank          = 32      // HDF5's own H5S_MAX_RANK
	maxObjects       = 1 << 20 // groups + datasets in one file
	maxHeaderMsgs    = 1 << 16 // messages in one object header
	maxHeaderChunks  = 1 << 12 // continuation blocks in one object header
	maxBTreeNodes    = 1 << 20 // B-tree + symbol table nodes per file
	maxNameLen       = 1 << 16
	maxSuperblockOff = 1 << 30 // search for the signature at 0, 512, 1024, ...
	maxUnwritten     = 1 << 24 // bytes of fill values materialized for a never-written dataset
)

// File is an open HDF5 file. Its group tree (names, attributes, dataset shapes) is
// parsed by Open; dataset values are read on demand.
type File struct {
	Name string // file name used in error messages
	r    io.ReaderAt
	size uint64
	base uint64 // base address: all addresses are relative to it

	offSize, lenSize int
	leafK, nodeK     int

	root     *Group
	objects  map[uint64]any // parsed object headers by address (Group or Dataset)
	inFlight map[uint64]bool
	gheaps   map[uint64][]byte
	nodes    int // B-tree and SNOD nodes visited, bounded by maxBTreeNodes
	// MaxBTreeLevel is the highest group B-tree node level seen (0: single-level trees).
	MaxBTreeLevel int
	closer        io.Closer
}

// Group is an HDF5 group: attributes and named children (groups or datasets),
// children sorted by name as HDF5 stores them.
type Group struct {
	Path     string
	Attrs    []*Attribute
	Children []Child
	addr     uint64
}

// Child is one link in a group: exactly one of Group and Dataset is set.
type Child struct {
	Name    string
	Group   *Group
	Dataset *Dataset
}

// Dataset is an HDF5 dataset; read its values with Float32s or Float64s.
type Dataset struct {
	Path  string
	Shape []int
	Type  Datatype
	Attrs []*Attribute
	f     *File
	addr  uint64 // object header address (for messages)
	// data location: contiguous (dataAddr, dataSize) or compact (inline).
	dataAddr uint64
	dataSize uint64
	inline   []byte
}

// Attribute is a named value attached to a group or dataset. Shape is nil for a
// scalar attribute.
type Attribute struct {
	Name  string
	Shape []int
	Type  Datatype
	raw   []byte
	f     *File
	off   uint64 // where the attribute message is, for errors
}

// Class is an HDF5 datatype class.
type Class int

// Datatype classes this package understands.
const (
	ClassInteger Class = 0
	ClassFloat   Class = 1
	ClassString  Class = 3
	ClassVarLen  Class = 9
)

// Datatype describes the element type of an attribute or dataset.
type Datatype struct {
	Class  Class
	Size   int  // bytes per element (16 for variable-length strings on disk)
	Signed bool // integers only
	// VarString is set for variable-length strings (Class == ClassVarLen).
	VarString bool
}

// String returns a short description like "float32" or "string(19)".
func (t Datatype) String() string {
	switch t.Class {
	case ClassFloat:
		return fmt.Sprintf("float%d", 8*t.Size)
	case ClassInteger:
		if t.Signed {
			return fmt.Sprintf("int%d", 8*t.Size)
		}
		return fmt.Sprintf("uint%d", 8*t.Size)
	case ClassString:
		return fmt.Sprintf("string(%d)", t.Size)
	case ClassVarLen:
		return "vlen-string"
	}
	return fmt.Sprintf("class-%d", t.Class)
}

// Open opens and parses the HDF5 file at path. Close it when done.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "opening HDF5 file %q", path)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, errors.Wrapf(err, "opening HDF5 file %q", path)
	}
	f, err := newFile(path, fh, uint64(st.Size()))
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// OpenBytes parses an HDF5 file held in memory; name is used in error messages.
func OpenBytes(name string, data []byte) (*File, error) {
	return newFile(name, bytes.NewReader(data), uint64(len(data)))
}

// Close releases the underlying file.
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// Root returns the root group "/".
func (f *File) Root() *Group { return f.root }

func newFile(name string, r io.ReaderAt, size uint64) (*File, error) {
	f := &File{Name: name, r: r, size: size, objects: map[uint64]any{}, inFlight: map[uint64]bool{}, gheaps: map[uint64][]byte{}}
	if err := f.readSuperblock(); err != nil {
		return nil, err
	}
	return f, nil
}

// errf builds an error naming the file and the absolute offset.
func (f *File) errf(off uint64, format string, args ...any) error {
	return errors.Errorf("HDF5 file %q at offset %d: %s", f.Name, off, fmt.Sprintf(format, args...))
}

// unsupported reports a valid HDF5 feature outside the subset this package reads.
func (f *File) unsupported(off uint64, format string, args ...any) error {
	return errors.Errorf("unsupported HDF5 feature %s in %q at offset %d (this reader handles the h5py default format used by Keras weights files)",
		fmt.Sprintf(format, args...), f.Name, off)
}

// read returns n bytes at relative address addr (base-adjusted), bounds-checked.
func (f *File) read(addr, n uint64) ([]byte, error) {
	abs := f.base + addr
	if addr == undef || abs < f.base || n > f.size || abs > f.size-n {
		return nil, f.errf(abs, "read of %d bytes past the end of the file (size %d): file truncated or corrupt", n, f.size)
	}
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, int64(abs)); err != nil && !(err == io.EOF && n == 0) {
		return nil, errors.Wrapf(err, "reading HDF5 file %q at offset %d", f.Name, abs)
	}
	return b, nil
}

// decoder reads little-endian fields from a byte slice, remembering the first error.
type decoder struct {
	f   *File
	b   []byte
	pos int
	at  uint64 // absolute file offset of b[0], for errors
	err error
}

func (f *File) dec(b []byte, addr uint64) *decoder { return &decoder{f: f, b: b, at: f.base + addr} }

func (d *decoder) need(n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || d.pos+n > len(d.b) || d.pos+n < d.pos {
		d.err = d.f.errf(d.at+uint64(d.pos), "structure truncated: need %d more bytes, have %d", n, len(d.b)-d.pos)
		return false
	}
	return true
}
func (d *decoder) u8() uint8 {
	if !d.need(1) {
		return 0
	}
	d.pos++
	return d.b[d.pos-1]
}
func (d *decoder) u16() uint16 {
	if !d.need(2) {
		return 0
	}
	d.pos += 2
	return binary.LittleEndian.Uint16(d.b[d.pos-2:])
}
func (d *decoder) u32() uint32 {
	if !d.need(4) {
		return 0
	}
	d.pos += 4
	return binary.LittleEndian.Uint32(d.b[d.pos-4:])
}
func (d *decoder) uN(n int) uint64 {
	if !d.need(n) {
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(d.b[d.pos+i])
	}
	d.pos += n
	if n < 8 && v == (uint64(1)<<(8*n))-1 {
		return undef // all-ones is the undefined address at any width
	}
	return v
}
func (d *decoder) addr() uint64   { return d.uN(d.f.offSize) }
func (d *decoder) length() uint64 { return d.uN(d.f.lenSize) }
func (d *decoder) bytes(n int) []byte {
	if !d.need(n) {
		return nil
	}
	d.pos += n
	return d.b[d.pos-n : d.pos]
}
func (d *decoder) skip(n int) { d.bytes(n) }
func (d *decoder) align8()    { d.skip((8 - d.pos%8) % 8) }
func (d *decoder) offset() uint64 {
	return d.at + uint64(d.pos)
}

// Lookup returns the child at a slash-separated path relative to g.
func (g *Group) Lookup(path string) (Child, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	cur := g
	var c Child
	for i, p := range parts {
		if cur == nil {
			return Child{}, false
		}
		j := sort.Search(len(cur.Children), func(k int) bool { return cur.Children[k].Name >= p })
		if j == len(cur.Children) || cur.Children[j].Name != p {
			return Child{}, false
		}
		c = cur.Children[j]
		if i < len(parts)-1 {
			cur = c.Group
		}
	}
	return c, true
}

// Attr returns the attribute with the given name, or nil.
func (g *Group) Attr(name string) *Attribute { return findAttr(g.Attrs, name) }

// Attr returns the attribute with the given name, or nil.
func (ds *Dataset) Attr(name string) *Attribute { return findAttr(ds.Attrs, name) }

func findAttr(attrs []*Attribute, name string) *Attribute {
	for _, a := range attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}
