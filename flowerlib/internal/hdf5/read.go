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
	"math"
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

func (f *File) readSuperblock() error {
	var start uint64
	for start = 0; ; start = max(512, start*2) {
		if start+8 > f.size || start > maxSuperblockOff {
			return errors.Errorf("%q is not an HDF5 file (no HDF5 signature found)", f.Name)
		}
		b := make([]byte, 8)
		if _, err := f.r.ReadAt(b, int64(start)); err != nil {
			return errors.Wrapf(err, "reading %q", f.Name)
		}
		if bytes.Equal(b, signature) {
			break
		}
	}
	n := min(f.size-start, 256)
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, int64(start)); err != nil && err != io.EOF {
		return errors.Wrapf(err, "reading %q", f.Name)
	}
	d := &decoder{f: f, b: b, at: start}
	d.skip(8)
	version := d.u8()
	if d.err != nil {
		return d.err
	}
	if version > 1 {
		return f.unsupported(start+8, "superblock version %d (file written with libver='latest' or HDF5 >= 1.10 defaults; rewrite it with h5py's default libver)", version)
	}
	d.skip(3) // free-space, root symbol table entry versions, reserved
	d.skip(1) // shared header message format version
	f.offSize, f.lenSize = int(d.u8()), int(d.u8())
	d.skip(1)
	f.leafK, f.nodeK = int(d.u16()), int(d.u16())
	d.skip(4) // consistency flags
	if version == 1 {
		d.skip(4) // indexed storage K + reserved
	}
	if d.err != nil {
		return d.err
	}
	if !(f.offSize == 2 || f.offSize == 4 || f.offSize == 8) || !(f.lenSize == 2 || f.lenSize == 4 || f.lenSize == 8) {
		return f.unsupported(start+13, "offset/length sizes %d/%d", f.offSize, f.lenSize)
	}
	if f.leafK == 0 || f.nodeK == 0 {
		return f.errf(start+16, "corrupt superblock: B-tree K values %d/%d must be positive", f.leafK, f.nodeK)
	}
	f.base = d.addr()
	if f.base != start {
		if f.base == undef || f.base > f.size {
			return f.errf(d.offset(), "corrupt superblock: base address %d", f.base)
		}
	}
	d.addr() // free-space info
	eof := d.addr()
	d.addr() // driver info block
	// Root group symbol table entry.
	_, rootAddr, cacheType, btree, heap := f.decodeEntry(d)
	if d.err != nil {
		return d.err
	}
	if eof != undef && f.base+eof > f.size {
		return f.errf(start, "file truncated: superblock says it ends at %d, but it is %d bytes", f.base+eof, f.size)
	}
	root, err := f.object(rootAddr, "/", cacheType, btree, heap)
	if err != nil {
		return err
	}
	g, ok := root.(*Group)
	if !ok {
		return f.errf(f.base+rootAddr, "root object is not a group")
	}
	f.root = g
	return nil
}

// decodeEntry reads a symbol table entry: link name offset, object header address,
// cache type and, for cache type 1, the group's B-tree and heap addresses.
func (f *File) decodeEntry(d *decoder) (nameOff, addr uint64, cacheType uint32, btree, heap uint64) {
	nameOff = d.length()
	addr = d.addr()
	cacheType = d.u32()
	d.skip(4)
	scratch := d.bytes(16)
	if cacheType == 1 && d.err == nil {
		sd := &decoder{f: f, b: scratch, at: d.offset() - 16}
		btree, heap = sd.addr(), sd.addr()
	}
	return
}

// message is one object header message.
type message struct {
	typ   uint16
	flags uint8
	data  []byte
	off   uint64 // absolute offset of data
}

// Object header message types used here.
const (
	msgNil          = 0x0000
	msgDataspace    = 0x0001
	msgLinkInfo     = 0x0002
	msgDatatype     = 0x0003
	msgFillOld      = 0x0004
	msgFill         = 0x0005
	msgLink         = 0x0006
	msgExternal     = 0x0007
	msgLayout       = 0x0008
	msgGroupInfo    = 0x000A
	msgFilters      = 0x000B
	msgAttribute    = 0x000C
	msgComment      = 0x000D
	msgModTimeOld   = 0x000E
	msgSharedTable  = 0x000F
	msgContinuation = 0x0010
	msgSymbolTable  = 0x0011
	msgModTime      = 0x0012
	msgBTreeK       = 0x0013
	msgDriverInfo   = 0x0014
	msgAttrInfo     = 0x0015
	msgRefCount     = 0x0016
)

// readHeader reads all messages of the version-1 object header at addr, following
// continuation messages.
func (f *File) readHeader(addr uint64) ([]message, error) {
	pre, err := f.read(addr, 16)
	if err != nil {
		return nil, errors.WithMessage(err, "reading object header")
	}
	if bytes.Equal(pre[:4], []byte("OHDR")) {
		return nil, f.unsupported(f.base+addr, "version-2 object header (file written with libver='latest')")
	}
	d := f.dec(pre, addr)
	if v := d.u8(); v != 1 {
		return nil, f.errf(f.base+addr, "corrupt object header: version %d, want 1", v)
	}
	d.skip(1)
	nmsgs := int(d.u16())
	d.skip(4) // reference count
	size := uint64(d.u32())
	type chunk struct{ addr, size uint64 }
	chunks := []chunk{{addr + 16, size}}
	seen := map[uint64]bool{addr + 16: true}
	var msgs []message
	for i := 0; i < len(chunks); i++ {
		if i >= maxHeaderChunks {
			return nil, f.errf(f.base+addr, "corrupt object header: more than %d continuation blocks", maxHeaderChunks)
		}
		c := chunks[i]
		b, err := f.read(c.addr, c.size)
		if err != nil {
			return nil, errors.WithMessagef(err, "reading object header at %d", f.base+addr)
		}
		cd := f.dec(b, c.addr)
		for cd.err == nil && len(b)-cd.pos >= 8 {
			if len(msgs) >= maxHeaderMsgs || len(msgs) > nmsgs+len(chunks) {
				return nil, f.errf(cd.offset(), "corrupt object header: more messages than the %d it declares", nmsgs)
			}
			typ := cd.u16()
			msize := int(cd.u16())
			flags := cd.u8()
			cd.skip(3)
			off := cd.offset()
			data := cd.bytes(msize)
			if cd.err != nil {
				return nil, cd.err
			}
			cd.align8()
			if flags&0x02 != 0 && typ != msgNil {
				return nil, f.unsupported(off, "shared object header message (type %#x)", typ)
			}
			msgs = append(msgs, message{typ: typ, flags: flags, data: data, off: off})
			if typ == msgContinuation {
				md := &decoder{f: f, b: data, at: off}
				caddr, clen := md.addr(), md.length()
				if md.err != nil {
					return nil, md.err
				}
				if seen[caddr] {
					return nil, f.errf(off, "corrupt object header: continuation loop")
				}
				seen[caddr] = true
				chunks = append(chunks, chunk{caddr, clen})
			}
		}
		if cd.err != nil {
			return nil, cd.err
		}
	}
	return msgs, nil
}

// object parses the object header at addr as a group or dataset (memoized by address).
// For groups, btree/heap from a cached symbol table entry are used only when the header
// has no symbol table message.
func (f *File) object(addr uint64, path string, cacheType uint32, btree, heap uint64) (any, error) {
	if addr == undef {
		return nil, f.errf(0, "object %q has an undefined header address", path)
	}
	if o, ok := f.objects[addr]; ok {
		return o, nil
	}
	if f.inFlight[addr] {
		return nil, f.errf(f.base+addr, "corrupt file: group %q contains itself", path)
	}
	if len(f.objects)+len(f.inFlight) >= maxObjects {
		return nil, f.errf(f.base+addr, "more than %d objects", maxObjects)
	}
	f.inFlight[addr] = true
	defer delete(f.inFlight, addr)
	msgs, err := f.readHeader(addr)
	if err != nil {
		return nil, errors.WithMessagef(err, "object %q", path)
	}
	var attrs []*Attribute
	var symtab, space, dtype, layout *message
	for i := range msgs {
		m := &msgs[i]
		switch m.typ {
		case msgAttribute:
			a, err := f.decodeAttribute(m)
			if err != nil {
				return nil, errors.WithMessagef(err, "object %q", path)
			}
			attrs = append(attrs, a)
		case msgSymbolTable:
			symtab = m
		case msgDataspace:
			space = m
		case msgDatatype:
			dtype = m
		case msgLayout:
			layout = m
		case msgFilters:
			return nil, f.unsupported(m.off, "filter pipeline (compressed dataset %q)", path)
		case msgExternal:
			return nil, f.unsupported(m.off, "external storage (dataset %q)", path)
		case msgLinkInfo, msgLink, msgGroupInfo:
			if symtab == nil {
				return nil, f.unsupported(m.off, "new-style (link message) group %q, written with libver='latest'", path)
			}
		case msgAttrInfo:
			return nil, f.unsupported(m.off, "dense attribute storage in %q", path)
		}
	}
	if symtab != nil || (cacheType == 1 && space == nil && layout == nil) {
		if symtab != nil {
			d := &decoder{f: f, b: symtab.data, at: symtab.off}
			btree, heap = d.addr(), d.addr()
			if d.err != nil {
				return nil, d.err
			}
		}
		g := &Group{Path: path, Attrs: attrs, addr: addr}
		children, err := f.readGroup(path, btree, heap)
		if err != nil {
			return nil, err
		}
		g.Children = children
		f.objects[addr] = g
		return g, nil
	}
	if space == nil || dtype == nil || layout == nil {
		return nil, f.unsupported(f.base+addr, "object %q that is neither a symbol-table group nor a dataset (e.g. a named datatype)", path)
	}
	ds := &Dataset{Path: path, Attrs: attrs, f: f, addr: addr}
	if ds.Type, err = f.decodeDatatype(dtype.data, dtype.off); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	if ds.Shape, err = f.decodeDataspace(space.data, space.off); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	if err := f.decodeLayout(ds, layout); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	f.objects[addr] = ds
	return ds, nil
}

// readGroup lists a symbol-table group's children, walking its B-tree.
func (f *File) readGroup(path string, btree, heapAddr uint64) ([]Child, error) {
	heap, err := f.readLocalHeap(heapAddr)
	if err != nil {
		return nil, errors.WithMessagef(err, "group %q", path)
	}
	var entries []entry
	if err := f.walkBTree(btree, -1, map[uint64]bool{}, &entries); err != nil {
		return nil, errors.WithMessagef(err, "group %q", path)
	}
	children := make([]Child, 0, len(entries))
	for _, e := range entries {
		name, err := f.heapString(heap, heapAddr, e.nameOff)
		if err != nil {
			return nil, errors.WithMessagef(err, "group %q", path)
		}
		if name == "" || strings.Contains(name, "/") {
			return nil, f.errf(f.base+e.at, "corrupt group %q: bad link name %q", path, name)
		}
		if e.cacheType == 2 {
			return nil, f.unsupported(f.base+e.at, "soft link %q in group %q", name, path)
		}
		childPath := strings.TrimSuffix(path, "/") + "/" + name
		o, err := f.object(e.addr, childPath, e.cacheType, e.btree, e.heap)
		if err != nil {
			return nil, err
		}
		c := Child{Name: name}
		switch o := o.(type) {
		case *Group:
			c.Group = o
		case *Dataset:
			c.Dataset = o
		}
		children = append(children, c)
	}
	sort.SliceStable(children, func(i, j int) bool { return children[i].Name < children[j].Name })
	for i := 1; i < len(children); i++ {
		if children[i].Name == children[i-1].Name {
			return nil, f.errf(0, "corrupt group %q: name %q appears twice", path, children[i].Name)
		}
	}
	return children, nil
}

type entry struct {
	nameOff, addr, btree, heap uint64
	cacheType                  uint32
	at                         uint64
}

// walkBTree collects symbol table entries from a version-1 group B-tree of any depth.
// wantLevel is -1 at the root; children must be exactly one level lower.
func (f *File) walkBTree(addr uint64, wantLevel int, seen map[uint64]bool, out *[]entry) error {
	if seen[addr] {
		return f.errf(f.base+addr, "corrupt group B-tree: node visited twice")
	}
	seen[addr] = true
	if f.nodes++; f.nodes > maxBTreeNodes {
		return f.errf(f.base+addr, "more than %d B-tree nodes", maxBTreeNodes)
	}
	hdr, err := f.read(addr, uint64(8+2*f.offSize))
	if err != nil {
		return errors.WithMessage(err, "reading group B-tree node")
	}
	if !bytes.Equal(hdr[:4], []byte("TREE")) {
		return f.errf(f.base+addr, "corrupt group B-tree: no TREE signature")
	}
	if hdr[4] != 0 {
		return f.unsupported(f.base+addr, "B-tree node type %d where a group B-tree (type 0) was expected", hdr[4])
	}
	level := int(hdr[5])
	f.MaxBTreeLevel = max(f.MaxBTreeLevel, level)
	if wantLevel >= 0 && level != wantLevel {
		return f.errf(f.base+addr, "corrupt group B-tree: node level %d, want %d", level, wantLevel)
	}
	n := int(binary.LittleEndian.Uint16(hdr[6:]))
	if n > 2*f.nodeK {
		return f.errf(f.base+addr, "corrupt group B-tree: %d entries, at most %d allowed", n, 2*f.nodeK)
	}
	// Keys and children interleaved: key0 child0 key1 ... child(n-1) key(n).
	body, err := f.read(addr+uint64(len(hdr)), uint64((n+1)*f.lenSize+n*f.offSize))
	if err != nil {
		return errors.WithMessage(err, "reading group B-tree node")
	}
	d := f.dec(body, addr+uint64(len(hdr)))
	for i := 0; i < n; i++ {
		d.length()
		child := d.addr()
		if d.err != nil {
			return d.err
		}
		if level > 0 {
			err = f.walkBTree(child, level-1, seen, out)
		} else {
			err = f.readSNOD(child, seen, out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readSNOD reads a symbol table node's entries.
func (f *File) readSNOD(addr uint64, seen map[uint64]bool, out *[]entry) error {
	if seen[addr] {
		return f.errf(f.base+addr, "corrupt group: symbol table node visited twice")
	}
	seen[addr] = true
	if f.nodes++; f.nodes > maxBTreeNodes {
		return f.errf(f.base+addr, "more than %d B-tree nodes", maxBTreeNodes)
	}
	hdr, err := f.read(addr, 8)
	if err != nil {
		return errors.WithMessage(err, "reading symbol table node")
	}
	if !bytes.Equal(hdr[:4], []byte("SNOD")) {
		return f.errf(f.base+addr, "corrupt group: no SNOD signature")
	}
	if hdr[4] != 1 {
		return f.unsupported(f.base+addr, "symbol table node version %d", hdr[4])
	}
	n := int(binary.LittleEndian.Uint16(hdr[6:]))
	if n > 2*f.leafK {
		return f.errf(f.base+addr, "corrupt symbol table node: %d entries, at most %d allowed", n, 2*f.leafK)
	}
	esize := 2*f.offSize + 24
	if f.lenSize != f.offSize {
		esize = f.lenSize + f.offSize + 24
	}
	body, err := f.read(addr+8, uint64(n*esize))
	if err != nil {
		return errors.WithMessage(err, "reading symbol table node")
	}
	d := f.dec(body, addr+8)
	for i := 0; i < n; i++ {
		at := addr + 8 + uint64(i*esize)
		nameOff, oaddr, ct, bt, hp := f.decodeEntry(d)
		if d.err != nil {
			return d.err
		}
		*out = append(*out, entry{nameOff: nameOff, addr: oaddr, btree: bt, heap: hp, cacheType: ct, at: at})
	}
	return nil
}

// readLocalHeap returns a local heap's data segment.
func (f *File) readLocalHeap(addr uint64) ([]byte, error) {
	hdr, err := f.read(addr, uint64(8+2*f.lenSize+f.offSize))
	if err != nil {
		return nil, errors.WithMessage(err, "reading local heap")
	}
	if !bytes.Equal(hdr[:4], []byte("HEAP")) {
		return nil, f.errf(f.base+addr, "corrupt group: no HEAP signature for the local heap")
	}
	if hdr[4] != 0 {
		return nil, f.unsupported(f.base+addr, "local heap version %d", hdr[4])
	}
	d := f.dec(hdr[8:], addr+8)
	size := d.length()
	d.length() // free list
	data := d.addr()
	if d.err != nil {
		return nil, d.err
	}
	b, err := f.read(data, size)
	return b, errors.WithMessage(err, "reading local heap data")
}

func (f *File) heapString(heap []byte, heapAddr, off uint64) (string, error) {
	if off >= uint64(len(heap)) {
		return "", f.errf(f.base+heapAddr, "corrupt local heap: name offset %d beyond its %d bytes", off, len(heap))
	}
	s := heap[off:]
	end := bytes.IndexByte(s, 0)
	if end < 0 || end > maxNameLen {
		return "", f.errf(f.base+heapAddr, "corrupt local heap: unterminated name at offset %d", off)
	}
	return string(s[:end]), nil
}

// decodeDatatype parses a datatype message.
func (f *File) decodeDatatype(b []byte, at uint64) (Datatype, error) {
	d := &decoder{f: f, b: b, at: at}
	cv := d.u8()
	bits := d.bytes(3)
	size := d.u32()
	if d.err != nil {
		return Datatype{}, d.err
	}
	t := Datatype{Class: Class(cv & 0x0f), Size: int(size)}
	switch t.Class {
	case ClassInteger:
		if bits[0]&1 != 0 {
			return t, f.unsupported(at, "big-endian integer datatype")
		}
		t.Signed = bits[0]&0x08 != 0
		if !(size == 1 || size == 2 || size == 4 || size == 8) {
			return t, f.unsupported(at, "%d-byte integer datatype", size)
		}
	case ClassFloat:
		if bits[0]&1 != 0 || bits[0]&0x40 != 0 {
			return t, f.unsupported(at, "big-endian or VAX floating-point datatype")
		}
		if size != 4 && size != 8 {
			return t, f.unsupported(at, "%d-byte floating-point datatype", size)
		}
	case ClassString:
		if size == 0 || size > 1<<20 {
			return t, f.errf(at, "corrupt string datatype of size %d", size)
		}
	case ClassVarLen:
		if bits[0]&0x0f != 1 {
			return t, f.unsupported(at, "variable-length sequence datatype")
		}
		t.VarString = true
		if size != uint32(4+f.offSize+4) {
			return t, f.errf(at, "corrupt variable-length string datatype of size %d", size)
		}
	default:
		return t, f.unsupported(at, "datatype class %d", t.Class)
	}
	return t, nil
}

// decodeDataspace parses a dataspace message; nil shape means scalar.
func (f *File) decodeDataspace(b []byte, at uint64) ([]int, error) {
	d := &decoder{f: f, b: b, at: at}
	version := d.u8()
	rank := int(d.u8())
	flags := d.u8()
	switch version {
	case 1:
		d.skip(5)
	case 2:
		if typ := d.u8(); typ == 2 {
			return []int{0}, d.err // null dataspace: no elements
		}
	default:
		if d.err == nil {
			return nil, f.unsupported(at, "dataspace version %d", version)
		}
	}
	if rank > maxRank {
		return nil, f.errf(at, "corrupt dataspace: rank %d", rank)
	}
	if flags&0x02 != 0 && version == 1 {
		return nil, f.unsupported(at, "dataspace permutation index")
	}
	var shape []int
	for i := 0; i < rank; i++ {
		dim := d.length()
		if d.err == nil && dim > math.MaxInt32*uint64(math.MaxInt32) {
			return nil, f.errf(at, "corrupt dataspace: dimension %d", dim)
		}
		shape = append(shape, int(dim))
	}
	return shape, d.err
}

// numElements returns the element count of shape, or an error on overflow.
func (f *File) numElements(shape []int, at uint64) (uint64, error) {
	n := uint64(1)
	for _, s := range shape {
		if s == 0 {
			return 0, nil
		}
	}
	for _, s := range shape {
		if s < 0 || n > math.MaxUint64/uint64(s) {
			return 0, f.errf(at, "corrupt dataspace: shape %v overflows", shape)
		}
		n *= uint64(s)
	}
	return n, nil
}

// decodeLayout parses a data layout message (versions 1-3, contiguous or compact).
func (f *File) decodeLayout(ds *Dataset, m *message) error {
	d := &decoder{f: f, b: m.data, at: m.off}
	version := d.u8()
	n, err := f.numElements(ds.Shape, m.off)
	if err != nil {
		return err
	}
	if ds.Type.Size != 0 && n > math.MaxInt64/uint64(ds.Type.Size) {
		return f.errf(m.off, "corrupt dataset: %d elements overflow", n)
	}
	want := n * uint64(ds.Type.Size)
	var class uint8
	switch version {
	case 1, 2:
		rank := int(d.u8())
		class = d.u8()
		d.skip(5)
		if class != 0 {
			ds.dataAddr = d.addr()
		}
		d.skip(4 * rank) // dimension sizes in elements (last is the element size)
		switch class {
		case 0:
			sz := d.u32()
			ds.inline = d.bytes(int(min(uint64(sz), uint64(len(m.data)))))
			if d.err == nil && uint64(sz) != uint64(len(ds.inline)) {
				return f.errf(m.off, "corrupt compact layout: %d bytes declared", sz)
			}
		case 1:
			ds.dataSize = want
		}
	case 3:
		class = d.u8()
		switch class {
		case 0:
			sz := int(d.u16())
			ds.inline = d.bytes(sz)
		case 1:
			ds.dataAddr = d.addr()
			ds.dataSize = d.length()
		}
	default:
		if d.err == nil {
			return f.unsupported(m.off, "data layout message version %d", version)
		}
	}
	if d.err != nil {
		return d.err
	}
	switch class {
	case 0:
		if uint64(len(ds.inline)) != want {
			return f.errf(m.off, "corrupt compact dataset: %d bytes for shape %v of %s", len(ds.inline), ds.Shape, ds.Type)
		}
	case 1:
		if ds.dataAddr != undef && ds.dataSize != want {
			return f.errf(m.off, "corrupt dataset: %d bytes stored for shape %v of %s (%d bytes)", ds.dataSize, ds.Shape, ds.Type, want)
		}
		if ds.dataAddr != undef && (f.base+ds.dataAddr < f.base || want > f.size || f.base+ds.dataAddr > f.size-want) {
			return f.errf(m.off, "dataset data (%d bytes at %d) lies past the end of the file (size %d): file truncated", want, f.base+ds.dataAddr, f.size)
		}
		ds.dataSize = want
	case 2:
		return f.unsupported(m.off, "chunked dataset storage")
	default:
		return f.unsupported(m.off, "data layout class %d", class)
	}
	return nil
}

// decodeAttribute parses an attribute message (versions 1-3).
func (f *File) decodeAttribute(m *message) (*Attribute, error) {
	d := &decoder{f: f, b: m.data, at: m.off}
	version := d.u8()
	d.skip(1)
	nameSize := int(d.u16())
	typeSize := int(d.u16())
	spaceSize := int(d.u16())
	if version == 3 {
		d.skip(1) // name character set
	}
	if d.err != nil {
		return nil, d.err
	}
	if version < 1 || version > 3 {
		return nil, f.unsupported(m.off, "attribute message version %d", version)
	}
	pad := func(n int) int {
		if version == 1 {
			return (n + 7) &^ 7
		}
		return n
	}
	nameb := d.bytes(pad(nameSize))
	typeAt := d.offset()
	typeb := d.bytes(pad(typeSize))
	spaceAt := d.offset()
	spaceb := d.bytes(pad(spaceSize))
	if d.err != nil {
		return nil, d.err
	}
	name := string(nameb[:min(nameSize, len(nameb))])
	name = strings.TrimRight(name, "\x00")
	a := &Attribute{Name: name, f: f, off: m.off}
	var err error
	if a.Type, err = f.decodeDatatype(typeb[:typeSize], typeAt); err != nil {
		return nil, errors.WithMessagef(err, "attribute %q", name)
	}
	if a.Shape, err = f.decodeDataspace(spaceb[:spaceSize], spaceAt); err != nil {
		return nil, errors.WithMessagef(err, "attribute %q", name)
	}
	n, err := f.numElements(a.Shape, spaceAt)
	if err != nil {
		return nil, err
	}
	rest := uint64(len(m.data) - d.pos)
	if n > rest || n*uint64(a.Type.Size) > rest {
		return nil, f.errf(m.off, "corrupt attribute %q: shape %v of %s does not fit its %d bytes", name, a.Shape, a.Type, rest)
	}
	a.raw = d.bytes(int(n) * a.Type.Size)
	return a, d.err
}

// Len returns the number of elements (1 for a scalar).
func (a *Attribute) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// Strings returns a string attribute's values (fixed-length strings with trailing
// NULs or spaces removed, or variable-length strings). An empty numeric attribute
// (how Keras stores an empty name list) gives an empty slice.
func (a *Attribute) Strings() ([]string, error) {
	n := a.Len()
	if n == 0 {
		return []string{}, nil
	}
	switch a.Type.Class {
	case ClassString:
		out := make([]string, n)
		for i := range out {
			s := a.raw[i*a.Type.Size : (i+1)*a.Type.Size]
			if z := bytes.IndexByte(s, 0); z >= 0 {
				s = s[:z]
			}
			out[i] = strings.TrimRight(string(s), " ")
		}
		return out, nil
	case ClassVarLen:
		out := make([]string, n)
		for i := range out {
			d := &decoder{f: a.f, b: a.raw[i*a.Type.Size : (i+1)*a.Type.Size], at: a.off}
			length := uint64(d.u32())
			coll := d.addr()
			idx := d.u32()
			if d.err != nil {
				return nil, d.err
			}
			s, err := a.f.globalHeapObject(coll, idx, length)
			if err != nil {
				return nil, errors.WithMessagef(err, "attribute %q", a.Name)
			}
			out[i] = string(s)
		}
		return out, nil
	}
	return nil, errors.Errorf("HDF5 file %q: attribute %q is %s, not a string", a.f.Name, a.Name, a.Type)
}

// Float64s returns a numeric attribute's values.
func (a *Attribute) Float64s() ([]float64, error) {
	v, err := decodeNumbers(a.raw, a.Type)
	if err != nil {
		return nil, errors.Errorf("HDF5 file %q: attribute %q: %v", a.f.Name, a.Name, err)
	}
	return v, nil
}

func decodeNumbers(raw []byte, t Datatype) ([]float64, error) {
	if t.Class != ClassFloat && t.Class != ClassInteger {
		return nil, errors.Errorf("%s is not numeric", t)
	}
	n := len(raw) / t.Size
	out := make([]float64, n)
	for i := range out {
		b := raw[i*t.Size:]
		switch {
		case t.Class == ClassFloat && t.Size == 4:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case t.Class == ClassFloat:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
		default:
			var u uint64
			for j := t.Size - 1; j >= 0; j-- {
				u = u<<8 | uint64(b[j])
			}
			if t.Signed {
				shift := 64 - 8*uint(t.Size)
				out[i] = float64(int64(u<<shift) >> shift)
			} else {
				out[i] = float64(u)
			}
		}
	}
	return out, nil
}

// globalHeapObject returns object idx of the global heap collection at addr.
func (f *File) globalHeapObject(addr uint64, idx uint32, length uint64) ([]byte, error) {
	coll, ok := f.gheaps[addr]
	if !ok {
		hdr, err := f.read(addr, uint64(8+f.lenSize))
		if err != nil {
			return nil, errors.WithMessage(err, "reading global heap")
		}
		if !bytes.Equal(hdr[:4], []byte("GCOL")) || hdr[4] != 1 {
			return nil, f.errf(f.base+addr, "corrupt global heap collection (no GCOL version 1)")
		}
		size := f.dec(hdr[8:], addr+8).length()
		if size < uint64(len(hdr)) {
			return nil, f.errf(f.base+addr, "corrupt global heap collection size %d", size)
		}
		if coll, err = f.read(addr, size); err != nil {
			return nil, errors.WithMessage(err, "reading global heap")
		}
		f.gheaps[addr] = coll
	}
	d := f.dec(coll, addr)
	d.skip(8 + f.lenSize)
	for d.err == nil && len(coll)-d.pos >= 8+f.lenSize {
		id := d.u16()
		d.skip(6)
		size := d.length()
		if id == 0 {
			break
		}
		if size > uint64(len(coll)-d.pos) {
			return nil, f.errf(d.offset(), "corrupt global heap object of %d bytes", size)
		}
		obj := d.bytes(int(size))
		d.align8()
		if uint32(id) == idx {
			if length > uint64(len(obj)) {
				return nil, f.errf(f.base+addr, "corrupt variable-length string: length %d, heap object has %d bytes", length, len(obj))
			}
			return obj[:length], nil
		}
	}
	return nil, f.errf(f.base+addr, "global heap object %d not found", idx)
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

// Len returns the number of elements.
func (ds *Dataset) Len() int {
	n := 1
	for _, s := range ds.Shape {
		n *= s
	}
	return n
}

func (ds *Dataset) raw() ([]byte, error) {
	if ds.inline != nil {
		return ds.inline, nil
	}
	if ds.dataAddr == undef || ds.dataSize == 0 {
		if ds.dataSize > maxUnwritten {
			return nil, errors.Errorf("HDF5 file %q: dataset %q was never written and its %d bytes of fill values exceed %d", ds.f.Name, ds.Path, ds.dataSize, maxUnwritten)
		}
		return make([]byte, ds.dataSize), nil // never written: HDF5's default fill value is 0
	}
	b, err := ds.f.read(ds.dataAddr, ds.dataSize)
	return b, errors.WithMessagef(err, "dataset %q", ds.Path)
}

// Float32s returns the dataset's values as float32 (float64 and integer data are converted).
func (ds *Dataset) Float32s() ([]float32, error) {
	raw, err := ds.raw()
	if err != nil {
		return nil, err
	}
	if ds.Type.Class == ClassFloat && ds.Type.Size == 4 {
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	v, err := decodeNumbers(raw, ds.Type)
	if err != nil {
		return nil, errors.Errorf("HDF5 file %q: dataset %q: %v", ds.f.Name, ds.Path, err)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out, nil
}

// Float64s returns the dataset's values as float64.
func (ds *Dataset) Float64s() ([]float64, error) {
	raw, err := ds.raw()
	if err != nil {
		return nil, err
	}
	v, err := decodeNumbers(raw, ds.Type)
	if err != nil {
		return nil, errors.Errorf("HDF5 file %q: dataset %q: %v", ds.f.Name, ds.Path, err)
	}
	return v, nil
}
