//go:build amd64

package sgemm

import "golang.org/x/sys/cpu"

//go:noescape
func kernelAVX2(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int)

func nativeKernel() (kernelFunc, string) {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		return kernelAVX2, "avx2+fma"
	}
	return nil, ""
}
