//go:build amd64 && goexperiment.simd

package winograd

import "simd/archsimd"

// Vector reports whether the transforms use vector instructions (AVX2 here): see the package
// comment.
func Vector() bool { return vector }

var vector = archsimd.X86.AVX2()

// The vectors are kept in named variables, not arrays: Go copies arrays of vectors with SSE
// moves, and mixing those with AVX code costs more than the transform itself.

// load4 loads 8 channels of the 4 pixels of a patch row (pixels ch apart).
func load4(r []float32, ch int) (x0, x1, x2, x3 archsimd.Float32x8) {
	return archsimd.LoadFloat32x8Slice(r), archsimd.LoadFloat32x8Slice(r[ch:]),
		archsimd.LoadFloat32x8Slice(r[2*ch:]), archsimd.LoadFloat32x8Slice(r[3*ch:])
}

// storeRow stores row t of Bᵀ d multiplied by B: (t0 − t2, t1 + t2, t2 − t1, t1 − t3), the
// points plane apart.
func storeRow(t0, t1, t2, t3 archsimd.Float32x8, v []float32, plane int) {
	t0.Sub(t2).StoreSlice(v)
	t1.Add(t2).StoreSlice(v[plane:])
	t2.Sub(t1).StoreSlice(v[2*plane:])
	t1.Sub(t3).StoreSlice(v[3*plane:])
}

// inputTileVector is inputTile on 8 channels at a time; it returns how many channels it did.
// Row i of Bᵀ d needs rows (0, 2), (1, 2), (1, 2) and (1, 3) of d: each is loaded once.
func inputTileVector(d []float32, rowStride, ch int, v []float32, plane int) int {
	if !vector {
		return 0
	}
	k := 0
	for ; k+8 <= ch; k += 8 {
		a0, a1, a2, a3 := load4(d[k:], ch)
		c0, c1, c2, c3 := load4(d[2*rowStride+k:], ch)
		storeRow(a0.Sub(c0), a1.Sub(c1), a2.Sub(c2), a3.Sub(c3), v[k:], plane)
		b0, b1, b2, b3 := load4(d[rowStride+k:], ch)
		storeRow(b0.Add(c0), b1.Add(c1), b2.Add(c2), b3.Add(c3), v[4*plane+k:], plane)
		storeRow(c0.Sub(b0), c1.Sub(b1), c2.Sub(b2), c3.Sub(b3), v[8*plane+k:], plane)
		e0, e1, e2, e3 := load4(d[3*rowStride+k:], ch)
		storeRow(b0.Sub(e0), b1.Sub(e1), b2.Sub(e2), b3.Sub(e3), v[12*plane+k:], plane)
	}
	return k
}

// rowA is row i of m multiplied by A: (m0 + m1 + m2, m1 − m2 − m3), from points plane apart.
func rowA(m []float32, plane int) (r0, r1 archsimd.Float32x8) {
	m0, m1 := archsimd.LoadFloat32x8Slice(m), archsimd.LoadFloat32x8Slice(m[plane:])
	m2, m3 := archsimd.LoadFloat32x8Slice(m[2*plane:]), archsimd.LoadFloat32x8Slice(m[3*plane:])
	return m0.Add(m1).Add(m2), m1.Sub(m2).Sub(m3)
}

// outputTileVector is outputTile on a whole 2×2 tile, 8 channels at a time; it returns how
// many channels it did.
func outputTileVector(m []float32, plane int, dst []float32, rowStride, ch int, bias []float32, relu bool) int {
	if !vector {
		return 0
	}
	zero := archsimd.BroadcastFloat32x8(0)
	k := 0
	for ; k+8 <= ch; k += 8 {
		b := archsimd.LoadFloat32x8Slice(bias[k:])
		p0, p1 := rowA(m[k:], plane)
		q0, q1 := rowA(m[4*plane+k:], plane)
		r0, r1 := rowA(m[8*plane+k:], plane)
		y00, y01 := p0.Add(q0).Add(r0).Add(b), p1.Add(q1).Add(r1).Add(b)
		s0, s1 := rowA(m[12*plane+k:], plane)
		y10, y11 := q0.Sub(r0).Sub(s0).Add(b), q1.Sub(r1).Sub(s1).Add(b)
		if relu {
			y00, y01, y10, y11 = y00.Max(zero), y01.Max(zero), y10.Max(zero), y11.Max(zero)
		}
		y00.StoreSlice(dst[k:])
		y01.StoreSlice(dst[ch+k:])
		y10.StoreSlice(dst[rowStride+k:])
		y11.StoreSlice(dst[rowStride+ch+k:])
	}
	return k
}
