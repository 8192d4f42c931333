//go:build amd64

#include "textflag.h"

// One step of the 6×32 AVX-512 micro-kernel: row k of two adjacent 16-column strips of B
// (Z0 at off(DI), Z1 at off(DI) + the strip stride R14) times the k-th value of each of the
// six A rows (broadcast into Z2/Z3), added to the 12 sixteen-lane accumulators Z4–Z15.
#define STEP512(aoff, boff) \
	VMOVUPS boff(DI), Z0; \
	VMOVUPS boff(DI)(R14*1), Z1; \
	VBROADCASTSS aoff(SI), Z2; \
	VFMADD231PS Z0, Z2, Z4; \
	VFMADD231PS Z1, Z2, Z5; \
	VBROADCASTSS aoff(SI)(R11*1), Z3; \
	VFMADD231PS Z0, Z3, Z6; \
	VFMADD231PS Z1, Z3, Z7; \
	VBROADCASTSS aoff(SI)(R11*2), Z2; \
	VFMADD231PS Z0, Z2, Z8; \
	VFMADD231PS Z1, Z2, Z9; \
	VBROADCASTSS aoff(SI)(R12*1), Z3; \
	VFMADD231PS Z0, Z3, Z10; \
	VFMADD231PS Z1, Z3, Z11; \
	VBROADCASTSS aoff(SI)(R11*4), Z2; \
	VFMADD231PS Z0, Z2, Z12; \
	VFMADD231PS Z1, Z2, Z13; \
	VBROADCASTSS aoff(SI)(R13*1), Z3; \
	VFMADD231PS Z0, Z3, Z14; \
	VFMADD231PS Z1, Z3, Z15

// func kernelAVX512(k int, a *float32, lda int, b *float32, bStride int, c *float32, ldc int, bias *float32, flags int)
//
// c[r][j] (op)= Σ_{i<k} a[r·lda + i] · B[i][j] for r < 6, j < 32, where B's columns 0–15 are
// b[i·16 + j] and 16–31 are b[bStride + i·16 + j - 16] (two packed strips); lda, bStride and ldc
// count float32s; bias holds 32 values. flags as kernelAVX2's.
TEXT ·kernelAVX512(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R11
	SHLQ $2, R11
	MOVQ b+24(FP), DI
	MOVQ bStride+32(FP), R14
	SHLQ $2, R14
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	MOVQ bias+56(FP), R9
	MOVQ flags+64(FP), R10
	LEAQ (R11)(R11*2), R12
	LEAQ (R11)(R11*4), R13

	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP512(0, 0)
	STEP512(4, 64)
	STEP512(8, 128)
	STEP512(12, 192)
	ADDQ $16, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    epilogue

loop1:
	STEP512(0, 0)
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

epilogue:
	LEAQ (R8)(R8*2), AX
	LEAQ (R8)(R8*4), BX

	TESTQ $1, R10
	JZ    nocarry
	VADDPS (DX), Z4, Z4
	VADDPS 64(DX), Z5, Z5
	VADDPS (DX)(R8*1), Z6, Z6
	VADDPS 64(DX)(R8*1), Z7, Z7
	VADDPS (DX)(R8*2), Z8, Z8
	VADDPS 64(DX)(R8*2), Z9, Z9
	VADDPS (DX)(AX*1), Z10, Z10
	VADDPS 64(DX)(AX*1), Z11, Z11
	VADDPS (DX)(R8*4), Z12, Z12
	VADDPS 64(DX)(R8*4), Z13, Z13
	VADDPS (DX)(BX*1), Z14, Z14
	VADDPS 64(DX)(BX*1), Z15, Z15

nocarry:
	TESTQ $2, R10
	JZ    nobias
	VMOVUPS (R9), Z0
	VMOVUPS 64(R9), Z1
	VADDPS Z0, Z4, Z4
	VADDPS Z1, Z5, Z5
	VADDPS Z0, Z6, Z6
	VADDPS Z1, Z7, Z7
	VADDPS Z0, Z8, Z8
	VADDPS Z1, Z9, Z9
	VADDPS Z0, Z10, Z10
	VADDPS Z1, Z11, Z11
	VADDPS Z0, Z12, Z12
	VADDPS Z1, Z13, Z13
	VADDPS Z0, Z14, Z14
	VADDPS Z1, Z15, Z15

nobias:
	TESTQ $4, R10
	JZ    store
	VPXORD Z0, Z0, Z0
	VMAXPS Z0, Z4, Z4
	VMAXPS Z0, Z5, Z5
	VMAXPS Z0, Z6, Z6
	VMAXPS Z0, Z7, Z7
	VMAXPS Z0, Z8, Z8
	VMAXPS Z0, Z9, Z9
	VMAXPS Z0, Z10, Z10
	VMAXPS Z0, Z11, Z11
	VMAXPS Z0, Z12, Z12
	VMAXPS Z0, Z13, Z13
	VMAXPS Z0, Z14, Z14
	VMAXPS Z0, Z15, Z15

store:
	VMOVUPS Z4, (DX)
	VMOVUPS Z5, 64(DX)
	VMOVUPS Z6, (DX)(R8*1)
	VMOVUPS Z7, 64(DX)(R8*1)
	VMOVUPS Z8, (DX)(R8*2)
	VMOVUPS Z9, 64(DX)(R8*2)
	VMOVUPS Z10, (DX)(AX*1)
	VMOVUPS Z11, 64(DX)(AX*1)
	VMOVUPS Z12, (DX)(R8*4)
	VMOVUPS Z13, 64(DX)(R8*4)
	VMOVUPS Z14, (DX)(BX*1)
	VMOVUPS Z15, 64(DX)(BX*1)
	VZEROUPPER
	RET
