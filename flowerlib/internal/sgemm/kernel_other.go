//go:build !amd64 && !arm64

package sgemm

// nativeKernel: no assembly kernel for this architecture yet (the portable one is used).
func nativeKernel() (kernelFunc, string) { return nil, "" }
