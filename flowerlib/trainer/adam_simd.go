//go:build amd64 && goexperiment.simd

package trainer

import "simd/archsimd"

// detectAdamPath picks AVX-512 (16 lanes) or AVX2 with FMA (8 lanes) when the CPU has them
// (Go's CPU detection: GODEBUG=cpu.avx512f=off hides AVX-512), else the portable path.
func detectAdamPath() VectorPath {
	switch {
	case archsimd.X86.AVX512():
		return PathAVX512
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		return PathAVX2
	}
	return PathScalar
}

// adamUpdate is adamKernel on adamPath's vectors: the update is then bound by memory
// bandwidth rather than by scalar sqrt and division.
func adamUpdate(w, g, m, v []float32, lrT float32, beta1 float64) {
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	i := 0
	switch adamPath {
	case PathAVX512:
		i = adamUpdate16(w, g, m, v, lrT, beta1)
	case PathAVX2:
		i = adamUpdate8(w, g, m, v, lrT, beta1)
	}
	adamKernel(w[i:], g[i:], m[i:], v[i:], lrT, beta1)
}

// adamUpdate16 updates the first multiple of 16 elements with AVX-512 and returns how many.
func adamUpdate16(w, g, m, v []float32, lrT float32, beta1 float64) int {
	beta, gain := adamBeta1(beta1)
	b1, b2 := archsimd.BroadcastFloat32x16(beta), archsimd.BroadcastFloat32x16(AdamBeta2)
	c1, c2 := archsimd.BroadcastFloat32x16(gain), archsimd.BroadcastFloat32x16(1-AdamBeta2)
	eps, lr := archsimd.BroadcastFloat32x16(AdamEpsilon), archsimd.BroadcastFloat32x16(lrT)
	i := 0
	for ; i+16 <= len(w); i += 16 {
		gi := archsimd.LoadFloat32x16Slice(g[i:])
		mi := archsimd.LoadFloat32x16Slice(m[i:]).Mul(b1).Add(gi.Mul(c1))
		vi := archsimd.LoadFloat32x16Slice(v[i:]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
		mi.StoreSlice(m[i:])
		vi.StoreSlice(v[i:])
		archsimd.LoadFloat32x16Slice(w[i:]).Sub(lr.Mul(mi).Div(vi.Sqrt().Add(eps))).StoreSlice(w[i:])
	}
	return i
}

// adamUpdate8 is adamUpdate16 with AVX2's 8 lanes.
func adamUpdate8(w, g, m, v []float32, lrT float32, beta1 float64) int {
	beta, gain := adamBeta1(beta1)
	b1, b2 := archsimd.BroadcastFloat32x8(beta), archsimd.BroadcastFloat32x8(AdamBeta2)
	c1, c2 := archsimd.BroadcastFloat32x8(gain), archsimd.BroadcastFloat32x8(1-AdamBeta2)
	eps, lr := archsimd.BroadcastFloat32x8(AdamEpsilon), archsimd.BroadcastFloat32x8(lrT)
	i := 0
	for ; i+8 <= len(w); i += 8 {
		gi := archsimd.LoadFloat32x8Slice(g[i:])
		mi := archsimd.LoadFloat32x8Slice(m[i:]).Mul(b1).Add(gi.Mul(c1))
		vi := archsimd.LoadFloat32x8Slice(v[i:]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
		mi.StoreSlice(m[i:])
		vi.StoreSlice(v[i:])
		archsimd.LoadFloat32x8Slice(w[i:]).Sub(lr.Mul(mi).Div(vi.Sqrt().Add(eps))).StoreSlice(w[i:])
	}
	return i
}

// adamOuterRows updates rows [lo, hi) of w [m, n] with the gradient Aᵀ·B (see adamApplyOuter)
// on adamPath's vectors; the columns past the last full vector take the portable path.
func adamOuterRows(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi int, lrT float32, beta1 float64) {
	done := 0
	switch {
	case adamPath == PathAVX512 && n >= 16:
		done = adamOuterRows16(w, mo, vo, in, outGrad, k, m, n, lo, hi, lrT, beta1)
	case adamPath == PathAVX2 && n >= 8:
		done = adamOuterRows8(w, mo, vo, in, outGrad, k, m, n, lo, hi, lrT, beta1)
	}
	if done < n {
		adamOuterRowsScalar(w, mo, vo, in, outGrad, k, m, n, lo, hi, done, lrT, beta1)
	}
}

// adamOuterRows16 updates the first multiple of 16 columns, 16 at a time in AVX-512
// registers, and returns that multiple.
func adamOuterRows16(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi int, lrT float32, beta1 float64) int {
	beta, gain := adamBeta1(beta1)
	b1, b2 := archsimd.BroadcastFloat32x16(beta), archsimd.BroadcastFloat32x16(AdamBeta2)
	c1, c2 := archsimd.BroadcastFloat32x16(gain), archsimd.BroadcastFloat32x16(1-AdamBeta2)
	eps, lr := archsimd.BroadcastFloat32x16(AdamEpsilon), archsimd.BroadcastFloat32x16(lrT)
	zero := archsimd.BroadcastFloat32x16(0)
	coef := make([]archsimd.Float32x16, k)
	n16 := n - n%16
	for d := lo; d < hi; d++ {
		for bi := 0; bi < k; bi++ {
			coef[bi] = archsimd.BroadcastFloat32x16(in[bi*m+d])
		}
		row := d * n
		for j := 0; j < n16; j += 16 {
			gi := zero
			for bi := 0; bi < k; bi++ {
				gi = archsimd.LoadFloat32x16Slice(outGrad[bi*n+j:]).MulAdd(coef[bi], gi)
			}
			p := row + j
			mi := archsimd.LoadFloat32x16Slice(mo[p:]).Mul(b1).Add(gi.Mul(c1))
			vi := archsimd.LoadFloat32x16Slice(vo[p:]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
			mi.StoreSlice(mo[p:])
			vi.StoreSlice(vo[p:])
			archsimd.LoadFloat32x16Slice(w[p:]).Sub(lr.Mul(mi).Div(vi.Sqrt().Add(eps))).StoreSlice(w[p:])
		}
	}
	return n16
}

// adamOuterRows8 is adamOuterRows16 with AVX2's 8 lanes. It accumulates 32 columns at a time
// in four independent registers: one chain of k dependent FMAs per 8 columns would wait on
// the FMA latency (4–5 cycles) at every step.
func adamOuterRows8(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi int, lrT float32, beta1 float64) int {
	beta, gain := adamBeta1(beta1)
	coef := make([]archsimd.Float32x8, k)
	n8, n32 := n-n%8, n-n%32
	for d := lo; d < hi; d++ {
		for bi := 0; bi < k; bi++ {
			coef[bi] = archsimd.BroadcastFloat32x8(in[bi*m+d])
		}
		row := d * n
		j := 0
		for ; j < n32; j += 32 {
			g0, g1, g2, g3 := archsimd.Float32x8{}, archsimd.Float32x8{}, archsimd.Float32x8{}, archsimd.Float32x8{}
			for bi, c := range coef {
				r := outGrad[bi*n+j : bi*n+j+32]
				g0 = archsimd.LoadFloat32x8Slice(r).MulAdd(c, g0)
				g1 = archsimd.LoadFloat32x8Slice(r[8:]).MulAdd(c, g1)
				g2 = archsimd.LoadFloat32x8Slice(r[16:]).MulAdd(c, g2)
				g3 = archsimd.LoadFloat32x8Slice(r[24:]).MulAdd(c, g3)
			}
			p := row + j
			adamStep8(w[p:], mo[p:], vo[p:], g0, lrT, beta, gain)
			adamStep8(w[p+8:], mo[p+8:], vo[p+8:], g1, lrT, beta, gain)
			adamStep8(w[p+16:], mo[p+16:], vo[p+16:], g2, lrT, beta, gain)
			adamStep8(w[p+24:], mo[p+24:], vo[p+24:], g3, lrT, beta, gain)
		}
		for ; j < n8; j += 8 {
			g := archsimd.Float32x8{}
			for bi, c := range coef {
				g = archsimd.LoadFloat32x8Slice(outGrad[bi*n+j:]).MulAdd(c, g)
			}
			p := row + j
			adamStep8(w[p:], mo[p:], vo[p:], g, lrT, beta, gain)
		}
	}
	return n8
}

// adamStep8 applies Adam with gradient g to the first 8 elements of w, m and v (β1 = beta,
// 1−β1 = gain: adamBeta1).
func adamStep8(w, m, v []float32, g archsimd.Float32x8, lrT, beta, gain float32) {
	mi := archsimd.LoadFloat32x8Slice(m).Mul(archsimd.BroadcastFloat32x8(beta)).Add(g.Mul(archsimd.BroadcastFloat32x8(gain)))
	vi := archsimd.LoadFloat32x8Slice(v).Mul(archsimd.BroadcastFloat32x8(AdamBeta2)).Add(g.Mul(g).Mul(archsimd.BroadcastFloat32x8(1 - AdamBeta2)))
	mi.StoreSlice(m)
	vi.StoreSlice(v)
	step := archsimd.BroadcastFloat32x8(lrT).Mul(mi).Div(vi.Sqrt().Add(archsimd.BroadcastFloat32x8(AdamEpsilon)))
	archsimd.LoadFloat32x8Slice(w).Sub(step).StoreSlice(w)
}
