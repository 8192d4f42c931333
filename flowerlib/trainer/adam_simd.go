//go:build amd64 && goexperiment.simd

package trainer

import "simd/archsimd"

// adamUpdate is adamKernel with AVX-512 (16 lanes) or AVX2 (8 lanes) when the CPU has them:
// the update is then bound by memory bandwidth rather than by scalar sqrt and division.
func adamUpdate(w, g, m, v []float32, lrT float32, beta1 float64) {
	beta, gain := adamBeta1(beta1)
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	i := 0
	switch {
	case archsimd.X86.AVX512():
		b1, b2 := archsimd.BroadcastFloat32x16(beta), archsimd.BroadcastFloat32x16(AdamBeta2)
		c1, c2 := archsimd.BroadcastFloat32x16(gain), archsimd.BroadcastFloat32x16(1-AdamBeta2)
		eps, lr := archsimd.BroadcastFloat32x16(AdamEpsilon), archsimd.BroadcastFloat32x16(lrT)
		for ; i+16 <= n; i += 16 {
			gi := archsimd.LoadFloat32x16Slice(g[i:])
			mi := archsimd.LoadFloat32x16Slice(m[i:]).Mul(b1).Add(gi.Mul(c1))
			vi := archsimd.LoadFloat32x16Slice(v[i:]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
			mi.StoreSlice(m[i:])
			vi.StoreSlice(v[i:])
			wi := archsimd.LoadFloat32x16Slice(w[i:]).Sub(lr.Mul(mi).Div(vi.Sqrt().Add(eps)))
			wi.StoreSlice(w[i:])
		}
	case archsimd.X86.AVX2():
		b1, b2 := archsimd.BroadcastFloat32x8(beta), archsimd.BroadcastFloat32x8(AdamBeta2)
		c1, c2 := archsimd.BroadcastFloat32x8(gain), archsimd.BroadcastFloat32x8(1-AdamBeta2)
		eps, lr := archsimd.BroadcastFloat32x8(AdamEpsilon), archsimd.BroadcastFloat32x8(lrT)
		for ; i+8 <= n; i += 8 {
			gi := archsimd.LoadFloat32x8Slice(g[i:])
			mi := archsimd.LoadFloat32x8Slice(m[i:]).Mul(b1).Add(gi.Mul(c1))
			vi := archsimd.LoadFloat32x8Slice(v[i:]).Mul(b2).Add(gi.Mul(gi).Mul(c2))
			mi.StoreSlice(m[i:])
			vi.StoreSlice(v[i:])
			wi := archsimd.LoadFloat32x8Slice(w[i:]).Sub(lr.Mul(mi).Div(vi.Sqrt().Add(eps)))
			wi.StoreSlice(w[i:])
		}
	}
	adamKernel(w[i:], g[i:], m[i:], v[i:], lrT, beta1)
}

// adamOuterRows updates rows [lo, hi) of w [m, n] with the gradient Aᵀ·B (see UpdateOuter),
// 16 columns at a time in AVX-512 registers.
func adamOuterRows(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi int, lrT float32, beta1 float64) {
	if !archsimd.X86.AVX512() || n < 16 {
		adamOuterRowsScalar(w, mo, vo, in, outGrad, k, m, n, lo, hi, 0, lrT, beta1)
		return
	}
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
	if n16 < n {
		adamOuterRowsScalar(w, mo, vo, in, outGrad, k, m, n, lo, hi, n16, lrT, beta1)
	}
}
