package hdf5

import (
	"bytes"
	"encoding/binary"
	"math"
	"sort"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// Writer parameters: the same as h5py's defaults, so that files look like h5py's.
const (
	wLeafK = 4  // symbol table nodes hold up to 2*wLeafK entries
	wNodeK = 16 // group B-tree nodes hold up to 2*wNodeK children
)

// WGroup is a group being built for writing: attributes, sub-groups and float32
// datasets. Build the tree with NewRoot, Group, CreateDataset and the SetAttr
// methods, then write it with WriteFile or Encode.
type WGroup struct {
	attrs []wAttr
	kids  map[string]any // *WGroup or *wDataset
}

type wDataset struct {
	shape []int
	data  []float32
	attrs []wAttr
}

type wAttr struct {
	name         string
	dtype, space []byte
	data         []byte
	vlen         []string // variable-length strings: data is written by encoder.attr
}

// NewRoot returns an empty root group.
func NewRoot() *WGroup { return &WGroup{kids: map[string]any{}} }

func splitPath(path string) ([]string, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.IndexByte(p, 0) >= 0 {
			return nil, errors.Errorf("hdf5: invalid path %q", path)
		}
	}
	return parts, nil
}

// Group returns the group at the slash-separated path below g, creating it and any
// intermediate groups. It fails if a dataset is in the way.
func (g *WGroup) Group(path string) (*WGroup, error) {
	parts, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	cur := g
	for _, p := range parts {
		switch k := cur.kids[p].(type) {
		case nil:
			ng := NewRoot()
			cur.kids[p] = ng
			cur = ng
		case *WGroup:
			cur = k
		default:
			return nil, errors.Errorf("hdf5: %q in path %q is a dataset, not a group", p, path)
		}
	}
	return cur, nil
}

// CreateDataset adds a float32 dataset at path (intermediate groups are created, as
// h5py does for names like "conv1_conv/kernel:0"). data is row-major; its length
// must equal the product of shape. The slice is kept, not copied.
func (g *WGroup) CreateDataset(path string, shape []int, data []float32) error {
	parts, err := splitPath(path)
	if err != nil {
		return err
	}
	n := 1
	for _, s := range shape {
		if s < 0 {
			return errors.Errorf("hdf5: dataset %q: negative dimension in %v", path, shape)
		}
		n *= s
	}
	if n != len(data) || len(shape) > maxRank {
		return errors.Errorf("hdf5: dataset %q: shape %v holds %d values, got %d", path, shape, n, len(data))
	}
	parent := g
	if len(parts) > 1 {
		if parent, err = g.Group(strings.Join(parts[:len(parts)-1], "/")); err != nil {
			return err
		}
	}
	name := parts[len(parts)-1]
	if parent.kids[name] != nil {
		return errors.Errorf("hdf5: %q already exists", path)
	}
	parent.kids[name] = &wDataset{shape: append([]int(nil), shape...), data: data}
	return nil
}

func (g *WGroup) setAttr(a wAttr) {
	for i := range g.attrs {
		if g.attrs[i].name == a.name {
			g.attrs[i] = a
			return
		}
	}
	g.attrs = append(g.attrs, a)
}

// SetAttrStrings sets a 1-D fixed-length (NUL-padded ASCII/UTF-8 bytes) string array
// attribute, like h5py does for a numpy 'S' array.
func (g *WGroup) SetAttrStrings(name string, values []string) {
	size := 1
	for _, v := range values {
		size = max(size, len(v))
	}
	data := make([]byte, size*len(values))
	for i, v := range values {
		copy(data[i*size:], v)
	}
	g.setAttr(wAttr{name: name, dtype: stringType(size), space: simpleSpace([]int{len(values)}), data: data})
}

// SetAttrString sets a scalar fixed-length string attribute.
func (g *WGroup) SetAttrString(name, value string) {
	size := max(1, len(value))
	data := make([]byte, size)
	copy(data, value)
	g.setAttr(wAttr{name: name, dtype: stringType(size), space: simpleSpace(nil), data: data})
}

// SetAttrFloat64s sets a 1-D float64 attribute; an empty slice gives shape (0,),
// which is how Keras stores the weight_names of a layer without weights.
func (g *WGroup) SetAttrFloat64s(name string, values []float64) {
	data := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(data[8*i:], math.Float64bits(v))
	}
	g.setAttr(wAttr{name: name, dtype: float64Type(), space: simpleSpace([]int{len(values)}), data: data})
}

func stringType(size int) []byte {
	b := []byte{0x13, 0x01, 0, 0, 0, 0, 0, 0} // class 3 version 1, NUL-padded, ASCII
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	return b
}

func floatType(size, precision, expLoc, expSize, mantSize, bias int) []byte {
	b := make([]byte, 20)
	b[0] = 0x11                // class 1 version 1
	b[1] = 0x20                // little-endian, implied msb mantissa normalization
	b[2] = byte(precision - 1) // sign bit location
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	binary.LittleEndian.PutUint16(b[8:], 0) // bit offset
	binary.LittleEndian.PutUint16(b[10:], uint16(precision))
	b[12], b[13], b[14], b[15] = byte(expLoc), byte(expSize), 0, byte(mantSize)
	binary.LittleEndian.PutUint32(b[16:], uint32(bias))
	return b
}

func float32Type() []byte { return floatType(4, 32, 23, 8, 23, 127) }
func float64Type() []byte { return floatType(8, 64, 52, 11, 52, 1023) }

// simpleSpace encodes a version-1 dataspace with max dims equal to dims; nil is scalar.
func simpleSpace(shape []int) []byte {
	b := make([]byte, 8+16*len(shape))
	b[0] = 1
	b[1] = byte(len(shape))
	if len(shape) > 0 {
		b[2] = 1 // max dims present
	}
	for i, s := range shape {
		binary.LittleEndian.PutUint64(b[8+8*i:], uint64(s))
		binary.LittleEndian.PutUint64(b[8+8*(len(shape)+i):], uint64(s))
	}
	return b
}

func pad8(n int) int { return (n + 7) &^ 7 }

// encoder lays the file out in memory; every block starts 8-byte aligned.
type encoder struct{ buf []byte }

func (e *encoder) alloc(n int) int {
	off := pad8(len(e.buf))
	e.buf = append(e.buf, make([]byte, off-len(e.buf)+n)...)
	return off
}

func (e *encoder) put(b []byte) int {
	off := e.alloc(len(b))
	copy(e.buf[off:], b)
	return off
}

type wMsg struct {
	typ   uint16
	flags uint8
	data  []byte
}

// header writes a version-1 object header holding msgs and returns its address.
func (e *encoder) header(msgs []wMsg) (int, error) {
	size := 0
	for _, m := range msgs {
		if len(m.data) > 0xffff-8 {
			return 0, errors.Errorf("hdf5: object header message of %d bytes is larger than HDF5's 64 KiB limit", len(m.data))
		}
		size += 8 + pad8(len(m.data))
	}
	b := make([]byte, 16+size)
	b[0] = 1
	binary.LittleEndian.PutUint16(b[2:], uint16(len(msgs)))
	binary.LittleEndian.PutUint32(b[4:], 1) // reference count
	binary.LittleEndian.PutUint32(b[8:], uint32(size))
	p := 16
	for _, m := range msgs {
		binary.LittleEndian.PutUint16(b[p:], m.typ)
		binary.LittleEndian.PutUint16(b[p+2:], uint16(pad8(len(m.data))))
		b[p+4] = m.flags
		copy(b[p+8:], m.data)
		p += 8 + pad8(len(m.data))
	}
	return e.put(b), nil
}

func attrMessage(a wAttr) wMsg {
	name := append([]byte(a.name), 0)
	var b bytes.Buffer
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(name)))
	binary.Write(&b, binary.LittleEndian, uint16(len(a.dtype)))
	binary.Write(&b, binary.LittleEndian, uint16(len(a.space)))
	for _, part := range [][]byte{name, a.dtype, a.space} {
		b.Write(part)
		b.Write(make([]byte, pad8(len(part))-len(part)))
	}
	b.Write(a.data)
	return wMsg{typ: msgAttribute, data: b.Bytes()}
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// dataset writes the data then the object header; returns the header address.
func (e *encoder) dataset(ds *wDataset) (int, error) {
	addr := undef
	if len(ds.data) > 0 {
		off := e.alloc(4 * len(ds.data))
		for i, v := range ds.data {
			binary.LittleEndian.PutUint32(e.buf[off+4*i:], math.Float32bits(v))
		}
		addr = uint64(off)
	}
	layout := append([]byte{3, 1}, u64(addr)...)
	layout = append(layout, u64(uint64(4*len(ds.data)))...)
	msgs := []wMsg{
		{typ: msgDataspace, data: simpleSpace(ds.shape)},
		{typ: msgDatatype, flags: 1, data: float32Type()},
		// Fill value v2: allocation time late, fill time "if set", no fill value defined.
		{typ: msgFill, flags: 1, data: []byte{2, 2, 2, 0}},
		{typ: msgLayout, data: layout},
	}
	for _, a := range ds.attrs {
		msgs = append(msgs, e.attr(a))
	}
	return e.header(msgs)
}

type wEntry struct {
	name              string
	nameOff           int
	addr, btree, heap int
	isGroup           bool
}

// wChild is a symbol table node or B-tree node as its parent B-tree node points to it: its
// address and the local-heap offset of the largest name under it.
type wChild struct{ addr, lastKey int }

// group writes g's children, its local heap, symbol table nodes, B-tree and object
// header, in that order; returns the header, B-tree and heap addresses.
func (e *encoder) group(g *WGroup, depth int) (hdr, btree, heap int, err error) {
	if depth > 1000 {
		return 0, 0, 0, errors.New("hdf5: groups nested too deep")
	}
	entries, heapData, err := e.children(g, depth)
	if err != nil {
		return 0, 0, 0, err
	}
	heap = e.localHeap(heapData)
	btree = e.btree(e.symbolNodes(entries))
	msgs := []wMsg{{typ: msgSymbolTable, data: append(u64(uint64(btree)), u64(uint64(heap))...)}}
	for _, a := range g.attrs {
		msgs = append(msgs, e.attr(a))
	}
	hdr, err = e.header(msgs)
	return hdr, btree, heap, err
}

// children writes g's sub-groups and datasets in name order and returns their symbol
// table entries with the local heap's data that holds their names: "" at offset 0, then
// each NUL-terminated name padded to 8.
func (e *encoder) children(g *WGroup, depth int) (entries []wEntry, heapData []byte, err error) {
	names := make([]string, 0, len(g.kids))
	for n := range g.kids {
		names = append(names, n)
	}
	sort.Strings(names) // byte order, as HDF5's strcmp
	entries = make([]wEntry, len(names))
	heapData = make([]byte, 8)
	for i, n := range names {
		entries[i] = wEntry{name: n, nameOff: len(heapData)}
		heapData = append(heapData, n...)
		heapData = append(heapData, make([]byte, pad8(len(n)+1)-len(n))...)
		switch k := g.kids[n].(type) {
		case *WGroup:
			entries[i].addr, entries[i].btree, entries[i].heap, err = e.group(k, depth+1)
			entries[i].isGroup = true
		case *wDataset:
			entries[i].addr, err = e.dataset(k)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return entries, heapData, nil
}

// localHeap writes a local heap holding data (no free space) and returns its address.
func (e *encoder) localHeap(data []byte) int {
	hdr := make([]byte, 32)
	copy(hdr, "HEAP")
	binary.LittleEndian.PutUint64(hdr[8:], uint64(len(data)))
	binary.LittleEndian.PutUint64(hdr[16:], 1) // free list: H5HL_FREE_NULL (none)
	heap := e.alloc(32 + len(data))
	binary.LittleEndian.PutUint64(hdr[24:], uint64(heap+32))
	copy(e.buf[heap:], hdr)
	copy(e.buf[heap+32:], data)
	return heap
}

// symbolNodes writes the symbol table nodes (up to 2*wLeafK entries each) and returns
// them as the B-tree's leaves.
func (e *encoder) symbolNodes(entries []wEntry) []wChild {
	var leaves []wChild
	for start := 0; start < len(entries); start += 2 * wLeafK {
		chunk := entries[start:min(len(entries), start+2*wLeafK)]
		node := make([]byte, 8+2*wLeafK*40)
		copy(node, "SNOD")
		node[4] = 1
		binary.LittleEndian.PutUint16(node[6:], uint16(len(chunk)))
		for i, en := range chunk {
			p := node[8+40*i:]
			binary.LittleEndian.PutUint64(p[0:], uint64(en.nameOff))
			binary.LittleEndian.PutUint64(p[8:], uint64(en.addr))
			if en.isGroup {
				binary.LittleEndian.PutUint32(p[16:], 1)
				binary.LittleEndian.PutUint64(p[24:], uint64(en.btree))
				binary.LittleEndian.PutUint64(p[32:], uint64(en.heap))
			}
		}
		leaves = append(leaves, wChild{e.put(node), chunk[len(chunk)-1].nameOff})
	}
	return leaves
}

// btree writes the group B-tree over leaves, level by level up to a single root node
// (written even when there are no leaves), and returns the root's address.
func (e *encoder) btree(leaves []wChild) int {
	level := leaves
	for lvl := 0; ; lvl++ {
		next := e.btreeLevel(level, lvl)
		if len(next) == 1 {
			return next[0].addr
		}
		level = next
	}
}

// btreeLevel writes the B-tree nodes of level lvl (up to 2*wNodeK children each, linked
// to their siblings) over the nodes of the level below, and returns them. Keys: key[0]
// is "" (heap offset 0) for the first node, else the last key of the node before; key[i+1]
// is the largest name under child i.
func (e *encoder) btreeLevel(below []wChild, lvl int) []wChild {
	nodeSize := 24 + (2*wNodeK+1)*8 + 2*wNodeK*8
	nNodes := max(1, (len(below)+2*wNodeK-1)/(2*wNodeK))
	addrs := make([]int, nNodes)
	for i := range addrs {
		addrs[i] = e.alloc(nodeSize)
	}
	nodes := make([]wChild, 0, nNodes)
	for i := 0; i < nNodes; i++ {
		kids := below[min(len(below), i*2*wNodeK):min(len(below), (i+1)*2*wNodeK)]
		b := e.buf[addrs[i] : addrs[i]+nodeSize]
		copy(b, "TREE")
		b[4], b[5] = 0, byte(lvl)
		binary.LittleEndian.PutUint16(b[6:], uint16(len(kids)))
		left, right := undef, undef
		if i > 0 {
			left = uint64(addrs[i-1])
		}
		if i < nNodes-1 {
			right = uint64(addrs[i+1])
		}
		binary.LittleEndian.PutUint64(b[8:], left)
		binary.LittleEndian.PutUint64(b[16:], right)
		firstKey := 0
		if i > 0 {
			firstKey = below[i*2*wNodeK-1].lastKey
		}
		binary.LittleEndian.PutUint64(b[24:], uint64(firstKey))
		for j, k := range kids {
			binary.LittleEndian.PutUint64(b[32+16*j:], uint64(k.addr))
			binary.LittleEndian.PutUint64(b[40+16*j:], uint64(k.lastKey))
		}
		last := 0
		if len(kids) > 0 {
			last = kids[len(kids)-1].lastKey
		}
		nodes = append(nodes, wChild{addrs[i], last})
	}
	return nodes
}

// Encode returns the HDF5 file (superblock version 0, h5py's default layout) for the
// tree rooted at root.
func Encode(root *WGroup) ([]byte, error) {
	e := &encoder{buf: make([]byte, 96)}
	hdr, btree, heap, err := e.group(root, 0)
	if err != nil {
		return nil, err
	}
	e.alloc(0)
	sb := e.buf[:96]
	copy(sb, signature)
	// versions 0 (superblock, free space, root entry, reserved, shared header), sizes of offsets and lengths
	copy(sb[8:], []byte{0, 0, 0, 0, 0, 8, 8, 0})
	binary.LittleEndian.PutUint16(sb[16:], wLeafK)
	binary.LittleEndian.PutUint16(sb[18:], wNodeK)
	binary.LittleEndian.PutUint64(sb[24:], 0)     // base address
	binary.LittleEndian.PutUint64(sb[32:], undef) // free-space info
	binary.LittleEndian.PutUint64(sb[40:], uint64(len(e.buf)))
	binary.LittleEndian.PutUint64(sb[48:], undef) // driver info
	// Root symbol table entry, with the group's B-tree and heap cached.
	binary.LittleEndian.PutUint64(sb[56:], 0)
	binary.LittleEndian.PutUint64(sb[64:], uint64(hdr))
	binary.LittleEndian.PutUint32(sb[72:], 1)
	binary.LittleEndian.PutUint64(sb[80:], uint64(btree))
	binary.LittleEndian.PutUint64(sb[88:], uint64(heap))
	return e.buf, nil
}

// WriteFile writes the tree to path (mode 0644) atomically: a temporary file in the same
// folder is written, synced and renamed, so a crash never leaves a partial file at path.
func WriteFile(path string, root *WGroup) error {
	b, err := Encode(root)
	if err != nil {
		return errors.WithMessagef(err, "writing %q", path)
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
