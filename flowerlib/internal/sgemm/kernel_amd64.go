//go:build amd64

package sgemm

import "golang.org/x/sys/cpu"

//go:noescape
func kernelAVX2(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int)

//go:noescape
func kernelAVX512(k int, a *float32, lda int, b *float32, bStride int, c *float32, ldc int, bias *float32, flags int)

// nativeKernels: AVX-512 computes 6×32 tiles (two strips at once, 12 sixteen-lane
// accumulators) and AVX2 the odd strips and edge tiles; AVX2/FMA alone, 6×16 tiles.
// $FLOWERS_SGEMM=avx2 keeps an AVX-512 CPU on the AVX2 kernel (for comparisons).
func nativeKernels(want string) kernels {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return kernels{}
	}
	if cpu.X86.HasAVX512F && want != "avx2" {
		return kernels{name: "avx512f", one: kernelAVX2, two: kernelAVX512}
	}
	return kernels{name: "avx2+fma", one: kernelAVX2}
}
