package hdf5

import "encoding/binary"

// gheapMinSize is HDF5's smallest global heap collection (H5HG_MINSIZE).
const gheapMinSize = 4096

// SetAttrVarString sets a scalar variable-length UTF-8 string attribute, as h5py stores a
// Python str: the text goes to a global heap collection and the attribute holds its heap ID,
// so it may be longer than the 64 KiB an object header message holds (e.g. Keras' model_config).
func (g *WGroup) SetAttrVarString(name, value string) {
	g.setAttr(wAttr{name: name, dtype: vlenStringType(), space: simpleSpace(nil), vlen: []string{value}})
}

// vlenStringType is a variable-length UTF-8 string datatype (class 9, type string, NUL
// terminated), whose base type is the 1-byte unsigned integer HDF5 uses for strings.
func vlenStringType() []byte {
	b := []byte{0x19, 0x01, 0x01, 0x00, 0, 0, 0, 0} // version 1 class 9; string; UTF-8
	binary.LittleEndian.PutUint32(b[4:], 4+8+4)     // length, collection address, object index
	base := []byte{0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 8, 0}
	return append(b, base...)
}

// attr encodes an attribute message; a variable-length one first gets its strings written
// into a new global heap collection.
func (e *encoder) attr(a wAttr) wMsg {
	if a.vlen != nil {
		a.data = e.globalHeap(a.vlen)
	}
	return attrMessage(a)
}

// globalHeap writes the strings as objects 1, 2, … of a new global heap collection ("GCOL"
// version 1) and returns their heap IDs as attribute data: per string, its length, the
// collection's address and the object's index.
func (e *encoder) globalHeap(values []string) []byte {
	used := 16
	for _, v := range values {
		used += 16 + pad8(len(v))
	}
	size := max(gheapMinSize, pad8(used+16)) // room for the free-space object's header
	addr := e.alloc(size)
	b := e.buf[addr : addr+size]
	copy(b, "GCOL")
	b[4] = 1
	binary.LittleEndian.PutUint64(b[8:], uint64(size))
	p := 16
	ids := make([]byte, 0, 16*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint16(b[p:], uint16(i+1))
		binary.LittleEndian.PutUint16(b[p+2:], 1) // reference count
		binary.LittleEndian.PutUint64(b[p+8:], uint64(len(v)))
		copy(b[p+16:], v)
		p += 16 + pad8(len(v))
		ids = binary.LittleEndian.AppendUint32(ids, uint32(len(v)))
		ids = binary.LittleEndian.AppendUint64(ids, uint64(addr))
		ids = binary.LittleEndian.AppendUint32(ids, uint32(i+1))
	}
	// Object 0 is the free space: the rest of the collection, its own header included.
	binary.LittleEndian.PutUint64(b[p+8:], uint64(size-p))
	return ids
}
