//go:build amd64

#include "textflag.h"

// One step of the 6×16 micro-kernel: B's row k (two 8-lane vectors, Y0 and Y1, at off(DI))
// times the k-th value of each of the six A rows (broadcast), added to the 12 accumulators.
#define STEP(aoff, boff) \
	VMOVUPS boff(DI), Y0; \
	VMOVUPS boff+32(DI), Y1; \
	VBROADCASTSS aoff(SI), Y2; \
	VFMADD231PS Y0, Y2, Y4; \
	VFMADD231PS Y1, Y2, Y5; \
	VBROADCASTSS aoff(SI)(R11*1), Y3; \
	VFMADD231PS Y0, Y3, Y6; \
	VFMADD231PS Y1, Y3, Y7; \
	VBROADCASTSS aoff(SI)(R11*2), Y2; \
	VFMADD231PS Y0, Y2, Y8; \
	VFMADD231PS Y1, Y2, Y9; \
	VBROADCASTSS aoff(SI)(R12*1), Y3; \
	VFMADD231PS Y0, Y3, Y10; \
	VFMADD231PS Y1, Y3, Y11; \
	VBROADCASTSS aoff(SI)(R11*4), Y2; \
	VFMADD231PS Y0, Y2, Y12; \
	VFMADD231PS Y1, Y2, Y13; \
	VBROADCASTSS aoff(SI)(R13*1), Y3; \
	VFMADD231PS Y0, Y3, Y14; \
	VFMADD231PS Y1, Y3, Y15

// func kernelAVX2(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int)
//
// c[r][j] (op)= Σ_{i<k} a[r·lda + i] · b[i·16 + j] for r < 6, j < 16; lda and ldc count float32s.
// flags: flagAccumulate adds c's values, flagBias adds bias[j], flagReLU clamps at 0 (in that order).
TEXT ·kernelAVX2(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R11
	SHLQ $2, R11
	MOVQ b+24(FP), DI
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8
	MOVQ bias+48(FP), R9
	MOVQ flags+56(FP), R10
	LEAQ (R11)(R11*2), R12
	LEAQ (R11)(R11*4), R13

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	CMPQ CX, $4
	JLT  tail

loop4:
	STEP(0, 0)
	STEP(4, 64)
	STEP(8, 128)
	STEP(12, 192)
	ADDQ $16, SI
	ADDQ $256, DI
	SUBQ $4, CX
	CMPQ CX, $4
	JGE  loop4

tail:
	TESTQ CX, CX
	JZ    epilogue

loop1:
	STEP(0, 0)
	ADDQ $4, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

epilogue:
	LEAQ (R8)(R8*2), AX
	LEAQ (R8)(R8*4), BX

	TESTQ $1, R10
	JZ    nocarry
	VADDPS (DX), Y4, Y4
	VADDPS 32(DX), Y5, Y5
	VADDPS (DX)(R8*1), Y6, Y6
	VADDPS 32(DX)(R8*1), Y7, Y7
	VADDPS (DX)(R8*2), Y8, Y8
	VADDPS 32(DX)(R8*2), Y9, Y9
	VADDPS (DX)(AX*1), Y10, Y10
	VADDPS 32(DX)(AX*1), Y11, Y11
	VADDPS (DX)(R8*4), Y12, Y12
	VADDPS 32(DX)(R8*4), Y13, Y13
	VADDPS (DX)(BX*1), Y14, Y14
	VADDPS 32(DX)(BX*1), Y15, Y15

nocarry:
	TESTQ $2, R10
	JZ    nobias
	VMOVUPS (R9), Y0
	VMOVUPS 32(R9), Y1
	VADDPS Y0, Y4, Y4
	VADDPS Y1, Y5, Y5
	VADDPS Y0, Y6, Y6
	VADDPS Y1, Y7, Y7
	VADDPS Y0, Y8, Y8
	VADDPS Y1, Y9, Y9
	VADDPS Y0, Y10, Y10
	VADDPS Y1, Y11, Y11
	VADDPS Y0, Y12, Y12
	VADDPS Y1, Y13, Y13
	VADDPS Y0, Y14, Y14
	VADDPS Y1, Y15, Y15

nobias:
	TESTQ $4, R10
	JZ    store
	VXORPS Y0, Y0, Y0
	VMAXPS Y0, Y4, Y4
	VMAXPS Y0, Y5, Y5
	VMAXPS Y0, Y6, Y6
	VMAXPS Y0, Y7, Y7
	VMAXPS Y0, Y8, Y8
	VMAXPS Y0, Y9, Y9
	VMAXPS Y0, Y10, Y10
	VMAXPS Y0, Y11, Y11
	VMAXPS Y0, Y12, Y12
	VMAXPS Y0, Y13, Y13
	VMAXPS Y0, Y14, Y14
	VMAXPS Y0, Y15, Y15

store:
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	VMOVUPS Y6, (DX)(R8*1)
	VMOVUPS Y7, 32(DX)(R8*1)
	VMOVUPS Y8, (DX)(R8*2)
	VMOVUPS Y9, 32(DX)(R8*2)
	VMOVUPS Y10, (DX)(AX*1)
	VMOVUPS Y11, 32(DX)(AX*1)
	VMOVUPS Y12, (DX)(R8*4)
	VMOVUPS Y13, 32(DX)(R8*4)
	VMOVUPS Y14, (DX)(BX*1)
	VMOVUPS Y15, 32(DX)(BX*1)
	VZEROUPPER
	RET
