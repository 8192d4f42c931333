package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// heap is Buffers from the heap, checking that every buffer lent is given back.
type heap struct{ out int }

func (h *heap) Get(n int) []float32 {
	h.out++
	b := make([]float32, n)
	for i := range b {
		b[i] = float32(math.NaN()) // contents undefined: a Forward that reads them fails
	}
	return b
}
func (h *heap) Put([]float32) { h.out-- }

// direct is the 3×3 "same" convolution by its definition, in float64.
func direct(x, kernel, bias []float32, n, h, w, cIn, cOut int, relu bool) []float64 {
	out := make([]float64, n*h*w*cOut)
	for img := range n {
		for y := range h {
			for xx := range w {
				for o := range cOut {
					s := float64(bias[o])
					for ky := range 3 {
						for kx := range 3 {
							yy, xi := y+ky-1, xx+kx-1
							if yy < 0 || yy >= h || xi < 0 || xi >= w {
								continue
							}
							for i := range cIn {
								s += float64(x[((img*h+yy)*w+xi)*cIn+i]) * float64(kernel[((ky*3+kx)*cIn+i)*cOut+o])
							}
						}
					}
					if relu {
						s = max(s, 0)
					}
					out[((img*h+y)*w+xx)*cOut+o] = s
				}
			}
		}
	}
	return out
}

func random(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// Forward against the definition: even and odd maps (edge tiles), maps smaller than a tile,
// channel counts that are and are not multiples of the vector width, one chunk and several
// (shared by the goroutines, or each goroutine's own), with and without the ReLU, on the
// vector transforms (where this build has them) and the portable ones.
func TestForward(t *testing.T) {
	cases := []struct{ n, h, w, cIn, cOut int }{
		{2, 8, 8, 16, 24}, {1, 7, 7, 32, 16}, {3, 5, 6, 12, 20}, {1, 1, 1, 8, 8}, {2, 2, 3, 3, 5}, {1, 14, 9, 64, 40},
	}
	paths := []bool{false}
	if Vector() {
		paths = append(paths, true)
	}
	for _, vec := range paths {
		for _, own := range []bool{false, true} {
			for _, small := range []bool{false, true} {
				for _, tc := range cases {
					for _, relu := range []bool{false, true} {
						name := fmt.Sprintf("vector%v_own%v_smallchunks%v_%dx%dx%dx%d→%d_relu%v", vec, own, small, tc.n, tc.h, tc.w, tc.cIn, tc.cOut, relu)
						t.Run(name, func(t *testing.T) {
							defer func(v bool, o, m, s int) { vector, ownBytes, minOwnTiles, sharedBytes = v, o, m, s }(vector, ownBytes, minOwnTiles, sharedBytes)
							vector = vec
							minOwnTiles = 1 << 30
							if own {
								minOwnTiles = 1
							}
							if small { // 3 tiles per chunk
								ownBytes, sharedBytes = 4*points*(tc.cIn+tc.cOut)*3, 4*points*(tc.cIn+tc.cOut)*3
							}
							check(t, tc.n, tc.h, tc.w, tc.cIn, tc.cOut, relu)
						})
					}
				}
			}
		}
	}
}

func check(t *testing.T, n, h, w, cIn, cOut int, relu bool) {
	r := rand.New(rand.NewPCG(uint64(n*1000+h*100+w), uint64(cIn*100+cOut)))
	x := random(r, n*h*w*cIn, 1)
	kernel, bias := random(r, 9*cIn*cOut, 1/math.Sqrt(float64(9*cIn))), random(r, cOut, 0.5)
	want := direct(x, kernel, bias, n, h, w, cIn, cOut, relu)
	got := make([]float32, len(want)+7)
	for i := range got {
		got[i] = -7 // past the output: must stay
	}
	bufs := &heap{}
	New(kernel, bias, cIn, cOut).Forward(x, n, h, w, got, relu, bufs)
	if bufs.out != 0 {
		t.Errorf("%d buffers not given back", bufs.out)
	}
	scale, worst := 0.0, 0.0
	for i, v := range want {
		scale = max(scale, math.Abs(v))
		worst = max(worst, math.Abs(float64(got[i])-v))
	}
	if !(worst <= 1e-5*scale) || scale == 0 {
		t.Errorf("max |winograd − direct| = %g, max |direct| = %g", worst, scale)
	}
	for i := len(want); i < len(got); i++ {
		if got[i] != -7 {
			t.Fatalf("wrote past the output at %d", i)
		}
	}
}

func TestFilterTransform(t *testing.T) {
	// A filter with a single 1 at (ky, kx) is a shift: its transform is the outer product of
	// G's columns ky and kx.
	G := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	for ky := range 3 {
		for kx := range 3 {
			var g [3][3]float64
			g[ky][kx] = 1
			u := filterTransform(g)
			for i := range 4 {
				for j := range 4 {
					if want := G[i][ky] * G[j][kx]; u[i][j] != want {
						t.Fatalf("filter (%d,%d): U[%d][%d] = %g, want %g", ky, kx, i, j, u[i][j], want)
					}
				}
			}
		}
	}
}

// BenchmarkForward: the 3×3 convolutions of ResNet50 at batch 32 (GOEXPERIMENT=simd go test
// -run '^$' -bench Forward ./flowerlib/internal/winograd).
func BenchmarkForward(b *testing.B) {
	for _, s := range []struct{ hw, c int }{{56, 64}, {28, 128}, {14, 256}, {7, 512}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.hw, s.hw, s.c), func(b *testing.B) {
			const n = 32
			r := rand.New(rand.NewPCG(1, 2))
			x := random(r, n*s.hw*s.hw*s.c, 1)
			c := New(random(r, 9*s.c*s.c, 0.05), random(r, s.c, 0.1), s.c, s.c)
			out := make([]float32, len(x))
			bufs := &heap{}
			for b.Loop() {
				c.Forward(x, n, s.hw, s.hw, out, true, bufs)
			}
			b.ReportMetric(float64(b.N)*2*9*float64(n*s.hw*s.hw*s.c*s.c)/b.Elapsed().Seconds()/1e9, "direct-GFLOP/s")
		})
	}
}
