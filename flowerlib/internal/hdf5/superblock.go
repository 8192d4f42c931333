package hdf5

// The superblock (versions 0 and 1) and symbol-table entries.

import (
	"bytes"
	"io"

	"github.com/pkg/errors"
)

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
	switch version {
	case 0, 1:
	case 2, 3:
		return f.unsupported(start+8, "superblock version %d (file written with libver='latest' or HDF5 >= 1.10 defaults; rewrite it with h5py's default libver)", version)
	default: // HDF5 has no such version: what follows the signature is not a superblock
		return f.errf(start+8, "corrupt file: the bytes after the HDF5 signature are not a superblock (version byte %d; HDF5 knows 0 to 3): the file is damaged, download or write it again", version)
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
