//go:build amd64 && goexperiment.simd

package main

import (
	"os"
	"strconv"

	"simd/archsimd"
)

// matmulVectorPath names the MatMul kernel compute v0.1.2's go backend registers on this
// machine, by the same test it makes at init (internal/gobackend/dot/matmul: AVX-512 unless
// $GOMLX_SIMD_AVX512 is false, else AVX2 unless $GOMLX_SIMD_AVX2 is false, else portable Go):
// the convolutions of flowerlib's fast path and every Dense layer run on it.
func matmulVectorPath() string {
	if os.Getenv("GOMLX_DOT_MATMUL") != "" && !envTrue("GOMLX_DOT_MATMUL") {
		return "generic dot (GOMLX_DOT_MATMUL off)"
	}
	switch {
	case archsimd.X86.AVX512() && envTrue("GOMLX_SIMD_AVX512"):
		return "avx512 (16 lanes)"
	case archsimd.X86.AVX2() && envTrue("GOMLX_SIMD_AVX2"):
		return "avx2 (8 lanes)"
	}
	return "scalar (no AVX2)"
}

// envTrue reads a boolean environment variable as compute's envutil does: unset is true.
func envTrue(name string) bool {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return true
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}
