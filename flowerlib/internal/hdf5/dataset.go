package hdf5

// Datatypes, dataspaces, data layouts, attributes, and the values of datasets and attributes.

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"

	"github.com/pkg/errors"
)

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
