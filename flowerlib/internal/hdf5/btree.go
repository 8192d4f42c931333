package hdf5

// Groups stored as symbol tables: version-1 B-trees, symbol-table nodes (SNOD), local heaps,
// and the global heap that holds variable-length strings.

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

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
