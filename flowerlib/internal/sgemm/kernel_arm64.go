//go:build arm64

package sgemm

//go:noescape
func kernelNEON(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int)

// nativeKernels: every ARM64 CPU has NEON (Advanced SIMD), 4 float32 lanes with FMA.
func nativeKernels(string) kernels { return kernels{name: "neon", one: kernelNEON} }
