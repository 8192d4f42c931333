//go:build amd64 && goexperiment.simd

package train

import "simd/archsimd"

// adamUpdate is adamKernel with AVX-512 (16 lanes) or AVX2 (8 lanes) when the CPU has them:
// the update is then bound by memory bandwidth rather than by scalar sqrt and division.
func adamUpdate(w, g, m, v []float32, lrT float32) {
	n := len(w)
	g, m, v = g[:n], m[:n], v[:n]
	i := 0
	switch {
	case archsimd.X86.AVX512():
		b1, b2 := archsimd.BroadcastFloat32x16(AdamBeta1), archsimd.BroadcastFloat32x16(AdamBeta2)
		c1, c2 := archsimd.BroadcastFloat32x16(1-AdamBeta1), archsimd.BroadcastFloat32x16(1-AdamBeta2)
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
		b1, b2 := archsimd.BroadcastFloat32x8(AdamBeta1), archsimd.BroadcastFloat32x8(AdamBeta2)
		c1, c2 := archsimd.BroadcastFloat32x8(1-AdamBeta1), archsimd.BroadcastFloat32x8(1-AdamBeta2)
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
	adamKernel(w[i:], g[i:], m[i:], v[i:], lrT)
}
