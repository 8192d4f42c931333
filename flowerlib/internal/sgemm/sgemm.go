// Package sgemm multiplies float32 matrices on the CPU for the frozen layers of flowerlib's
// networks: C = act(Σ_t A_t·W_t + bias [+ C]), where the weights W are packed once and the
// left operand A is read in place, row by row, at a stride and with per-tap offsets. That one
// form covers the convolutions of ResNet50 without building patch matrices: a 1×1 convolution
// is one tap, a 3×3 one is nine taps into the zero-padded input.
//
// The work is cut into 6×16 tiles, each computed by a micro-kernel that keeps its accumulators
// in registers: hand-written AVX2/FMA assembly on amd64 CPUs that have it (every x86-64 CPU
// since 2013–2015; 12 eight-lane registers), AVX-512 assembly where available (6×32 tiles over
// two strips at once, 12 sixteen-lane registers), NEON assembly on ARM64 (24 four-lane registers;
// tested under qemu-aarch64), portable Go elsewhere. Tiles are grouped into blocks that fit
// the L2 cache and shared among GOMAXPROCS goroutines.
//
// It exists because GoMLX's pure-Go backend spends two thirds of a ResNet50 forward pass in its
// 4×16 AVX2 MatMul (compute v0.1.2) and most of the rest building im2col patches; see
// docs/BENCHMARKS.md for the measurements.
package sgemm

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

const (
	tileRows = 6   // rows of A (and C) per micro-kernel call
	tileCols = 16  // columns of W (and C) per micro-kernel call: two 8-lane vectors
	chunkK   = 256 // contraction length per micro-kernel call: a W strip of 16 KB, in L1
	blockM   = 96  // rows per task: with chunkK, 96 KB of A in L2
	blockN   = 16  // strips (of tileCols columns) per task at most
)

const (
	flagAccumulate = 1 << iota
	flagBias
	flagReLU
)

// kernelFunc computes one 6×16 tile: c[r][j] (op)= Σ_{i<k} a[r·lda+i]·b[i·16+j], then adds c's
// old values (flagAccumulate), bias[j] (flagBias) and clamps at 0 (flagReLU).
type kernelFunc func(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int)

// pairKernelFunc computes one 6×32 tile over two adjacent strips, the second bStride
// float32s after the first (bias: 32 values), with kernelFunc's flags.
type pairKernelFunc func(k int, a *float32, lda int, b *float32, bStride int, c *float32, ldc int, bias *float32, flags int)

// kernels is the micro-kernel set of a CPU: one 6×16 tile, and where the vectors are wide
// enough (AVX-512), a 6×32 tile over two strips at once.
type kernels struct {
	name string
	one  kernelFunc
	two  pairKernelFunc // nil: strips one at a time
}

// EnvKernel names the environment variable that picks a slower micro-kernel than the CPU's
// best, for tests and comparisons: "go" (portable) or "avx2" (AVX2 on an AVX-512 CPU).
const EnvKernel = "FLOWERS_SGEMM"

var use = chooseKernels()

func chooseKernels() kernels {
	want := os.Getenv(EnvKernel)
	if want != "" && want != "go" && want != "avx2" {
		fmt.Fprintf(os.Stderr, "sgemm: %s=%q is neither go nor avx2, so it is ignored: the CPU's best kernel runs (unset it, or set go or avx2)\n", EnvKernel, want)
	}
	if want != "go" {
		if k := nativeKernels(want); k.one != nil {
			return k
		}
	}
	return kernels{name: "go", one: kernelGo}
}

// Kernel names the micro-kernels in use: "avx512f" (16 float32 lanes, with AVX2 for odd
// strips), "avx2+fma" (8 lanes), "neon" (ARM64, 4 lanes) or "go" (portable).
func Kernel() string { return use.name }

// Weights is a K×N matrix (with a bias of N values) packed for the micro-kernel: N is cut into
// strips of 16 columns, each strip stored row after row ([K][16], zero-padded past N).
type Weights struct {
	K, N   int
	strips int
	packed []float32
	bias   []float32 // strips·16 values, zero-padded
}

// Pack returns w (row-major [k][n]) and bias ([n], or nil for none) packed for Apply.
func Pack(k, n int, w, bias []float32) *Weights {
	if k <= 0 || n <= 0 || len(w) != k*n || (bias != nil && len(bias) != n) {
		panic(fmt.Sprintf("sgemm.Pack: %d weights and %d biases for a %d×%d matrix", len(w), len(bias), k, n))
	}
	p := &Weights{K: k, N: n, strips: (n + tileCols - 1) / tileCols}
	p.packed = make([]float32, p.strips*k*tileCols)
	p.bias = make([]float32, p.strips*tileCols)
	copy(p.bias, bias)
	for s := range p.strips {
		strip := p.packed[s*k*tileCols : (s+1)*k*tileCols]
		c0 := s * tileCols
		width := min(tileCols, n-c0)
		for i := range k {
			copy(strip[i*tileCols:i*tileCols+width], w[i*n+c0:i*n+c0+width])
		}
	}
	return p
}

// Op is one product C = act(Σ_t A_t·W_t + bias [+ C]) with W's rows split evenly among the
// taps: row m of A_t is A[Taps[t]+m·RowStride : …+K/len(Taps)].
type Op struct {
	M         int       // rows of A and C
	A         []float32 // the left operand, read in place
	RowStride int       // float32s between rows of A
	Taps      []int     // offset of each tap's first row in A; nil means one tap at 0
	C         []float32 // the output, rows of N values CStride apart
	CStride   int       // float32s between rows of C; 0 means N
	// Accumulate adds the product to C's values (e.g. a residual connection stored there).
	Accumulate bool
	// ReLU clamps the result at 0, after the bias and the accumulation.
	ReLU bool
	// Batch repeats the product over independent items that share W (0 means one): item b
	// reads A from b·ABatchStride and writes C from b·CBatchStride, M rows each (e.g. one
	// image's convolution grid, without the rows between images).
	Batch                      int
	ABatchStride, CBatchStride int
}

type chunk struct{ tap, k0, k int }

// Apply computes op with w, in parallel on GOMAXPROCS goroutines. It panics when A or C is
// too short for op's shape: a bug in the caller, never bad input.
func (w *Weights) Apply(op Op) {
	ApplyAll([]*Weights{w}, []Op{op})
}

// ApplyAll computes ws[i].Apply(ops[i]) for every i, the tasks of all of them shared among
// one set of GOMAXPROCS goroutines: independent products too small to keep every core busy
// alone (e.g. the 16 products of a Winograd convolution) run side by side.
func ApplyAll(ws []*Weights, ops []Op) {
	if len(ws) != len(ops) {
		panic(fmt.Sprintf("sgemm.ApplyAll: %d weights for %d products", len(ws), len(ops)))
	}
	runs := make([]func(*scratch, int), len(ops))
	ends := make([]int, len(ops)) // ends[i]: the tasks of products 0..i
	tasks := 0
	workers := runtime.GOMAXPROCS(0)
	for i, w := range ws {
		var n int
		n, runs[i] = w.plan(ops[i], workers)
		tasks += n
		ends[i] = tasks
	}
	run := func(s *scratch, t int) {
		i := 0
		for t >= ends[i] {
			i++
		}
		if i > 0 {
			t -= ends[i-1]
		}
		runs[i](s, t)
	}
	if workers == 1 || tasks <= 1 {
		s := newScratch()
		for t := range tasks {
			run(s, t)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, tasks) {
		wg.Go(func() {
			s := newScratch()
			for t := int(next.Add(1) - 1); t < tasks; t = int(next.Add(1) - 1) {
				run(s, t)
			}
		})
	}
	wg.Wait()
}

// ApplyHere is ApplyAll on the calling goroutine alone, for callers that share out the work
// themselves (e.g. one Winograd chunk per goroutine, its data in that core's cache).
func ApplyHere(ws []*Weights, ops []Op) {
	if len(ws) != len(ops) {
		panic(fmt.Sprintf("sgemm.ApplyHere: %d weights for %d products", len(ws), len(ops)))
	}
	s := newScratch()
	for i, w := range ws {
		tasks, run := w.plan(ops[i], 1)
		for t := range tasks {
			run(s, t)
		}
	}
}

// plan checks op against w and cuts it into tasks (items × row blocks × strip groups, enough
// of them to keep the workers busy): it returns their number and the function that runs one.
func (w *Weights) plan(op Op, workers int) (int, func(*scratch, int)) {
	taps := op.Taps
	if taps == nil {
		taps = []int{0}
	}
	if op.CStride == 0 {
		op.CStride = w.N
	}
	if w.K%len(taps) != 0 {
		panic(fmt.Sprintf("sgemm: %d rows of weights cannot be split among %d taps", w.K, len(taps)))
	}
	kTap := w.K / len(taps)
	if op.M <= 0 {
		return 0, nil
	}
	maxTap := 0
	for _, t := range taps {
		if t < 0 {
			panic(fmt.Sprintf("sgemm: negative tap offset %d", t))
		}
		maxTap = max(maxTap, t)
	}
	batch := max(op.Batch, 1)
	if op.ABatchStride < 0 || op.CBatchStride < 0 {
		panic(fmt.Sprintf("sgemm: negative batch strides %d, %d", op.ABatchStride, op.CBatchStride))
	}
	if need := (batch-1)*op.ABatchStride + maxTap + (op.M-1)*op.RowStride + kTap; len(op.A) < need || op.RowStride < 0 {
		panic(fmt.Sprintf("sgemm: A holds %d values, %d×%d rows %d apart with taps up to %d need %d", len(op.A), batch, op.M, op.RowStride, maxTap, need))
	}
	if need := (batch-1)*op.CBatchStride + (op.M-1)*op.CStride + w.N; len(op.C) < need || op.CStride < w.N {
		panic(fmt.Sprintf("sgemm: C holds %d values, %d×%d rows of %d, %d apart need %d", len(op.C), batch, op.M, w.N, op.CStride, need))
	}
	var chunks []chunk
	for t := range taps {
		for k0 := 0; k0 < kTap; k0 += chunkK {
			chunks = append(chunks, chunk{t, k0, min(chunkK, kTap-k0)})
		}
	}

	rowBlocks := (op.M + blockM - 1) / blockM
	groups := (w.strips + blockN - 1) / blockN
	for batch*rowBlocks*groups < 4*workers && groups < w.strips {
		groups = min(w.strips, 2*groups)
	}
	perGroup := (w.strips + groups - 1) / groups
	if use.two != nil && perGroup%2 == 1 && perGroup < w.strips {
		perGroup++ // whole pairs of strips per task
	}
	groups = (w.strips + perGroup - 1) / perGroup
	run := func(s *scratch, t int) {
		item := op
		if b := t / (rowBlocks * groups); b > 0 {
			item.A, item.C = op.A[b*op.ABatchStride:], op.C[b*op.CBatchStride:]
		}
		t %= rowBlocks * groups
		m0, g := (t/groups)*blockM, t%groups
		w.block(&item, taps, chunks, kTap, m0, min(op.M, m0+blockM), g*perGroup, min(w.strips, (g+1)*perGroup), s)
	}
	return batch * rowBlocks * groups, run
}

// scratch holds one goroutine's copies of an edge tile (rows past M, columns past N).
type scratch struct {
	a [tileRows * chunkK]float32
	c [tileRows * tileCols]float32
}

func newScratch() *scratch { return new(scratch) }

// block computes rows [m0, m1) and strips [s0, s1) of C: chunk by chunk (each a W strip of up
// to 16 KB that stays in L1 while the block's tiles pass over it).
func (w *Weights) block(op *Op, taps []int, chunks []chunk, kTap, m0, m1, s0, s1 int, sc *scratch) {
	a, c := op.A, op.C
	for ci, ch := range chunks {
		flags := 0
		if ci > 0 || op.Accumulate {
			flags |= flagAccumulate
		}
		if ci == len(chunks)-1 {
			flags |= flagBias
			if op.ReLU {
				flags |= flagReLU
			}
		}
		aOff := taps[ch.tap] + ch.k0
		for j := s0; j < s1; {
			b := &w.packed[(j*w.K+ch.tap*kTap+ch.k0)*tileCols]
			bias := &w.bias[j*tileCols]
			col := j * tileCols
			m := m0
			if use.two != nil && j+1 < s1 && col+2*tileCols <= w.N {
				for ; m+tileRows <= m1; m += tileRows {
					use.two(ch.k, &a[aOff+m*op.RowStride], op.RowStride, b, w.K*tileCols, &c[m*op.CStride+col], op.CStride, bias, flags)
				}
				for s := range 2 { // rows past the last whole tile, a strip at a time
					bs, cs := &w.packed[((j+s)*w.K+ch.tap*kTap+ch.k0)*tileCols], col+s*tileCols
					for mm := m; mm < m1; mm += tileRows {
						w.edgeTile(op, sc, ch, aOff, mm, min(tileRows, m1-mm), cs, tileCols, bs, &w.bias[cs], flags)
					}
				}
				j += 2
				continue
			}
			if col+tileCols <= w.N {
				for ; m+tileRows <= m1; m += tileRows {
					use.one(ch.k, &a[aOff+m*op.RowStride], op.RowStride, b, &c[m*op.CStride+col], op.CStride, bias, flags)
				}
			}
			for ; m < m1; m += tileRows {
				w.edgeTile(op, sc, ch, aOff, m, min(tileRows, m1-m), col, min(tileCols, w.N-col), b, bias, flags)
			}
			j++
		}
	}
}

// edgeTile computes a tile of rows×cols < 6×16 through scratch copies, so that the kernel
// never reads or writes past A's or C's rows and columns.
func (w *Weights) edgeTile(op *Op, s *scratch, ch chunk, aOff, m, rows, col, cols int, b, bias *float32, flags int) {
	clear(s.a[:])
	clear(s.c[:])
	for r := range rows {
		src := aOff + (m+r)*op.RowStride
		copy(s.a[r*ch.k:(r+1)*ch.k], op.A[src:src+ch.k])
		if flags&flagAccumulate != 0 {
			copy(s.c[r*tileCols:r*tileCols+cols], op.C[(m+r)*op.CStride+col:])
		}
	}
	use.one(ch.k, &s.a[0], ch.k, b, &s.c[0], tileCols, bias, flags)
	for r := range rows {
		dst := (m+r)*op.CStride + col
		copy(op.C[dst:dst+cols], s.c[r*tileCols:r*tileCols+cols])
	}
}

// kernelGo is the portable micro-kernel (the reference for the assembly ones).
func kernelGo(k int, a *float32, lda int, b *float32, c *float32, ldc int, bias *float32, flags int) {
	av := unsafe.Slice(a, (tileRows-1)*lda+k)
	bv := unsafe.Slice(b, k*tileCols)
	cv := unsafe.Slice(c, (tileRows-1)*ldc+tileCols)
	var acc [tileRows][tileCols]float32
	for i := range k {
		row := (*[tileCols]float32)(bv[i*tileCols:])
		for r := range tileRows {
			x := av[r*lda+i]
			for j, y := range row {
				acc[r][j] += x * y
			}
		}
	}
	bs := unsafe.Slice(bias, tileCols)
	for r := range tileRows {
		out := cv[r*ldc : r*ldc+tileCols]
		for j := range tileCols {
			v := acc[r][j]
			if flags&flagAccumulate != 0 {
				v += out[j]
			}
			if flags&flagBias != 0 {
				v += bs[j]
			}
			if flags&flagReLU != 0 && v < 0 {
				v = 0
			}
			out[j] = v
		}
	}
}
