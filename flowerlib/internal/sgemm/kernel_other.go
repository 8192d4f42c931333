//go:build !amd64 && !arm64

package sgemm

// nativeKernels: no assembly kernel for this architecture yet (the portable one is used).
func nativeKernels(string) kernels { return kernels{} }
