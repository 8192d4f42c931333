package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// reference computes the same product in float64, the plain way.
func reference(w []float32, bias []float32, k, n int, op Op, c0 []float32) []float32 {
	taps := op.Taps
	if taps == nil {
		taps = []int{0}
	}
	kTap := k / len(taps)
	cs := op.CStride
	if cs == 0 {
		cs = n
	}
	out := append([]float32(nil), c0...)
	for b := range max(op.Batch, 1) {
		item := op
		item.A, item.Batch = op.A[b*op.ABatchStride:], 0
		copy(out[b*op.CBatchStride:], referenceOne(w, bias, k, n, item, c0[b*op.CBatchStride:], taps, kTap, cs))
	}
	return out
}

// referenceOne is reference for one item: the rows of C it writes (and the values between
// them, unchanged).
func referenceOne(w []float32, bias []float32, k, n int, op Op, c0 []float32, taps []int, kTap, cs int) []float32 {
	out := append([]float32(nil), c0[:(op.M-1)*cs+n]...)
	for m := range op.M {
		for j := range n {
			var s float64
			for t, off := range taps {
				for i := range kTap {
					s += float64(op.A[off+m*op.RowStride+i]) * float64(w[(t*kTap+i)*n+j])
				}
			}
			if op.Accumulate {
				s += float64(c0[m*cs+j])
			}
			if bias != nil {
				s += float64(bias[j])
			}
			if op.ReLU && s < 0 {
				s = 0
			}
			out[m*cs+j] = float32(s)
		}
	}
	return out
}

func randoms(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestApply(t *testing.T) {
	sets := map[string]kernels{"go": {name: "go", one: kernelGo}}
	if k := nativeKernels(""); k.one != nil {
		sets[k.name] = k
		if k.two != nil { // the narrower kernel alone as well (FLOWERS_SGEMM=avx2)
			narrow := nativeKernels("avx2")
			sets[narrow.name] = narrow
		}
	} else {
		t.Logf("no native kernel on this CPU: testing the portable one only")
	}
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		m, k, n, taps, stride, batch int
		acc, relu, bias              bool
	}{
		{m: 1, k: 1, n: 1, taps: 1},
		{m: 6, k: 16, n: 16, taps: 1, bias: true},
		{m: 49, k: 64, n: 256, taps: 1, bias: true, relu: true},
		{m: 100, k: 300, n: 40, taps: 1, acc: true, bias: true, relu: true}, // K past one chunk, N not a multiple of 16
		{m: 97, k: 9 * 24, n: 32, taps: 9, stride: 24, bias: true, relu: true},
		{m: 13, k: 3 * 520, n: 48, taps: 3, stride: 600, acc: true},
		{m: 200, k: 147, n: 64, taps: 1, stride: 150, bias: true, relu: true},
		{m: 61, k: 9 * 32, n: 48, taps: 9, stride: 32, bias: true, relu: true, batch: 3}, // 3 images' grids, rows between them skipped
		{m: 5, k: 40, n: 20, taps: 1, acc: true, batch: 4},
		{m: 100, k: 600, n: 80, taps: 1, acc: true, bias: true, relu: true}, // pairs of strips, an odd one, rows past the tiles
		{m: 7, k: 40, n: 80, taps: 1, bias: true, relu: true},               // tasks split the strips (whole pairs each)
	}
	for name, kern := range sets {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/m%d_k%d_n%d_taps%d_batch%d", name, tc.m, tc.k, tc.n, tc.taps, tc.batch), func(t *testing.T) {
				saved := use
				use = kern
				defer func() { use = saved }()
				kTap := tc.k / tc.taps
				stride := max(tc.stride, kTap)
				taps := make([]int, tc.taps)
				for i := range taps {
					taps[i] = i * (stride + 3) // overlapping windows, as the taps of a convolution
				}
				batch := max(tc.batch, 1)
				aItem := taps[len(taps)-1] + (tc.m-1)*stride + kTap
				aBatch := aItem + 7 // items apart, with values between them that no row reads
				a := randoms(r, (batch-1)*aBatch+aItem)
				w := randoms(r, tc.k*tc.n)
				var bias []float32
				if tc.bias {
					bias = randoms(r, tc.n)
				}
				cStride := tc.n + 5
				cItem := (tc.m-1)*cStride + tc.n
				cBatch := cItem + 11 // values between the items' rows, which must stay as they are
				c := randoms(r, (batch-1)*cBatch+cItem)
				op := Op{M: tc.m, A: a, RowStride: stride, Taps: taps, C: c, CStride: cStride, Accumulate: tc.acc, ReLU: tc.relu}
				if tc.batch > 0 {
					op.Batch, op.ABatchStride, op.CBatchStride = tc.batch, aBatch, cBatch
				}
				want := reference(w, bias, tc.k, tc.n, op, c)
				got := append([]float32(nil), c...)
				op.C = got
				Pack(tc.k, tc.n, w, bias).Apply(op)
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("C[%d] = %g, want %g (|Δ| %g)", i, got[i], want[i], d)
					}
				}
			})
		}
	}
}

func TestApplyRejectsShortOperands(t *testing.T) {
	w := Pack(4, 16, make([]float32, 64), nil)
	for name, op := range map[string]Op{
		"short A":             {M: 3, A: make([]float32, 11), RowStride: 4, C: make([]float32, 48)},
		"short C":             {M: 3, A: make([]float32, 12), RowStride: 4, C: make([]float32, 47)},
		"short A's last item": {M: 3, A: make([]float32, 12+19), RowStride: 4, C: make([]float32, 48+64), Batch: 2, ABatchStride: 20, CBatchStride: 64},
		"short C's last item": {M: 3, A: make([]float32, 12+20), RowStride: 4, C: make([]float32, 48+63), Batch: 2, ABatchStride: 20, CBatchStride: 64},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Apply did not panic", name)
				}
			}()
			w.Apply(op)
		}()
	}
}

// BenchmarkApply reports GFLOP/s for ResNet50-like shapes (batch 8), per kernel.
func BenchmarkApply(b *testing.B) {
	shapes := []struct {
		name    string
		m, k, n int
	}{
		{"conv2_1x1_64to256", 8 * 56 * 56, 64, 256},
		{"conv4_1x1_1024to256", 8 * 14 * 14, 1024, 256},
		{"conv5_1x1_512to2048", 8 * 7 * 7, 512, 2048},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		w := Pack(s.k, s.n, randoms(r, s.k*s.n), randoms(r, s.n))
		op := Op{M: s.m, A: randoms(r, s.m*s.k), RowStride: s.k, C: make([]float32, s.m*s.n), ReLU: true}
		b.Run(s.name+"/"+Kernel(), func(b *testing.B) {
			for b.Loop() {
				w.Apply(op)
			}
			b.ReportMetric(2*float64(s.m*s.k*s.n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
