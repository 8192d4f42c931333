//go:build !(amd64 && goexperiment.simd)

package main

// matmulVectorPath: compute v0.1.2 has vector MatMul kernels only on amd64 with
// GOEXPERIMENT=simd (archsimd); elsewhere (ARM64 included) its portable Go kernel runs.
func matmulVectorPath() string {
	return "scalar (portable Go: build with GOEXPERIMENT=simd on amd64 for AVX2/AVX-512)"
}
