package hdf5

// Version-1 object headers, their messages, and the objects (groups, datasets) they describe.

import (
	"bytes"

	"github.com/pkg/errors"
)

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
	om, err := f.objectMessages(msgs, path)
	if err != nil {
		return nil, err
	}
	var o any
	if om.symtab != nil || (cacheType == 1 && om.space == nil && om.layout == nil) {
		o, err = f.group(addr, path, om, btree, heap)
	} else {
		o, err = f.dataset(addr, path, om)
	}
	if err != nil {
		return nil, err
	}
	f.objects[addr] = o
	return o, nil
}

// objectMsgs are the messages of an object header that say what the object is, and its
// attributes.
type objectMsgs struct {
	attrs                        []*Attribute
	symtab, space, dtype, layout *message
}

// objectMessages decodes the attributes of the object at path and picks out the messages
// that say what it is; features this reader does not support are errors naming them.
func (f *File) objectMessages(msgs []message, path string) (objectMsgs, error) {
	var om objectMsgs
	for i := range msgs {
		m := &msgs[i]
		switch m.typ {
		case msgAttribute:
			a, err := f.decodeAttribute(m)
			if err != nil {
				return om, errors.WithMessagef(err, "object %q", path)
			}
			om.attrs = append(om.attrs, a)
		case msgSymbolTable:
			om.symtab = m
		case msgDataspace:
			om.space = m
		case msgDatatype:
			om.dtype = m
		case msgLayout:
			om.layout = m
		case msgFilters:
			return om, f.unsupported(m.off, "filter pipeline (compressed dataset %q)", path)
		case msgExternal:
			return om, f.unsupported(m.off, "external storage (dataset %q)", path)
		case msgLinkInfo, msgLink, msgGroupInfo:
			if om.symtab == nil {
				return om, f.unsupported(m.off, "new-style (link message) group %q, written with libver='latest'", path)
			}
		case msgAttrInfo:
			return om, f.unsupported(m.off, "dense attribute storage in %q", path)
		}
	}
	return om, nil
}

// group reads the symbol-table group at addr: its B-tree and local heap are the symbol
// table message's, else (no message) btree and heap from the cached symbol table entry.
func (f *File) group(addr uint64, path string, om objectMsgs, btree, heap uint64) (*Group, error) {
	if om.symtab != nil {
		d := &decoder{f: f, b: om.symtab.data, at: om.symtab.off}
		btree, heap = d.addr(), d.addr()
		if d.err != nil {
			return nil, d.err
		}
	}
	g := &Group{Path: path, Attrs: om.attrs, addr: addr}
	children, err := f.readGroup(path, btree, heap)
	if err != nil {
		return nil, err
	}
	g.Children = children
	return g, nil
}

// dataset reads the dataset at addr: its type, shape and where its data lies.
func (f *File) dataset(addr uint64, path string, om objectMsgs) (*Dataset, error) {
	if om.space == nil || om.dtype == nil || om.layout == nil {
		return nil, f.unsupported(f.base+addr, "object %q that is neither a symbol-table group nor a dataset (e.g. a named datatype)", path)
	}
	ds := &Dataset{Path: path, Attrs: om.attrs, f: f, addr: addr}
	var err error
	if ds.Type, err = f.decodeDatatype(om.dtype.data, om.dtype.off); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	if ds.Shape, err = f.decodeDataspace(om.space.data, om.space.off); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	if err := f.decodeLayout(ds, om.layout); err != nil {
		return nil, errors.WithMessagef(err, "dataset %q", path)
	}
	return ds, nil
}
