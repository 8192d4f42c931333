// Package winograd runs the stride-1 "same" 3×3 convolutions of flowerlib's frozen networks
// (NHWC float32 maps) by Winograd's minimal filtering F(2×2, 3×3): each 2×2 block of output
// pixels ("tile") is computed from the 4×4 input patch around it as
//
//	Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//
// summed over input channels, where g is a channel pair's 3×3 filter and d the patch. With the
// filter transform U = G g Gᵀ done once (the weights are frozen) and the input transform
// V = Bᵀ d B done once per tile and channel, the products for the 16 points of the 4×4 grid
// are 16 independent matrix products, [tiles × Cin]·[Cin × Cout], run by sgemm. A tile then
// costs 16·Cin·Cout multiply-adds instead of 36·Cin·Cout: 2.25× fewer (1.72× on a 7×7 map,
// whose 4×4 tiles cover 8×8 pixels). B, G and A hold only 0, ±1 and ±½, so the result equals
// the direct convolution's within float32 rounding (the tests hold it to 1e-5 of the output's
// scale).
//
// The transforms are vectorized over channels (AVX2 on amd64 builds with GOEXPERIMENT=simd);
// Vector reports whether they are, and callers use Winograd only then: with scalar transforms
// the 56×56×64 layers would spend as long transforming as multiplying.
package winograd

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/flowerlib/flowers/flowerlib/internal/sgemm"
)

// points is the number of points of a tile's 4×4 transformed grid: one matrix product each.
const points = 16

// The tiles are transformed and multiplied a chunk at a time, its transformed inputs and
// products (16·tiles·(Cin+Cout) float32s) small enough to stay in the caches. Where there are
// enough tiles, each goroutine takes whole chunks of at most ownBytes, transforms, multiplies
// and transforms back on its own; else (few tiles: batch 1, deep layers) all goroutines share
// each chunk of at most sharedBytes. On the 2-core Xeon of docs/BENCHMARKS.md, chunks of
// 2–4 MB per goroutine ran ResNet50's four 3×3 layers at batch 32 1.1–1.4× faster than 1 MB
// ones (fewer, longer products), and 8–16 MB ones no faster.
var (
	ownBytes    = 4 << 20
	minOwnTiles = 32
	sharedBytes = 4 << 20
)

// Buffers lends float32 buffers of a given length (contents undefined) and takes them back.
type Buffers interface {
	Get(n int) []float32
	Put(b []float32)
}

// Conv is a 3×3 stride-1 "same" convolution with a bias, its filter transformed and packed.
type Conv struct {
	CIn, COut int
	u         [points]*sgemm.Weights // U at each grid point, Cin×Cout
	bias      []float32
}

// New transforms kernel ([3][3][cIn][cOut], Keras' layout) and keeps bias ([cOut]).
func New(kernel, bias []float32, cIn, cOut int) *Conv {
	if len(kernel) != 9*cIn*cOut || len(bias) != cOut {
		panic(fmt.Sprintf("winograd.New: %d weights and %d biases for a 3×3×%d×%d filter", len(kernel), len(bias), cIn, cOut))
	}
	c := &Conv{CIn: cIn, COut: cOut, bias: append([]float32(nil), bias...)}
	u := make([][]float32, points)
	for p := range u {
		u[p] = make([]float32, cIn*cOut)
	}
	var g [3][3]float64
	for i := range cIn {
		for o := range cOut {
			for ky := range 3 {
				for kx := range 3 {
					g[ky][kx] = float64(kernel[((ky*3+kx)*cIn+i)*cOut+o])
				}
			}
			t := filterTransform(g)
			for p := range points {
				u[p][i*cOut+o] = float32(t[p/4][p%4])
			}
		}
	}
	for p := range points {
		c.u[p] = sgemm.Pack(cIn, cOut, u[p], nil)
	}
	return c
}

// filterTransform is G g Gᵀ with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], in float64.
func filterTransform(g [3][3]float64) (u [4][4]float64) {
	var t [4][3]float64 // G g
	for j := range 3 {
		t[0][j] = g[0][j]
		t[1][j] = (g[0][j] + g[1][j] + g[2][j]) / 2
		t[2][j] = (g[0][j] - g[1][j] + g[2][j]) / 2
		t[3][j] = g[2][j]
	}
	for i := range 4 { // (G g) Gᵀ
		u[i][0] = t[i][0]
		u[i][1] = (t[i][0] + t[i][1] + t[i][2]) / 2
		u[i][2] = (t[i][0] - t[i][1] + t[i][2]) / 2
		u[i][3] = t[i][2]
	}
	return u
}

// geometry is the tiling of n maps of h×w pixels into th×tw tiles each.
type geometry struct{ n, h, w, th, tw int }

// tile returns tile t's image and position.
func (g geometry) tile(t int) (img, ty, tx int) { return t / (g.th * g.tw), t / g.tw % g.th, t % g.tw }

// Forward computes out = act(conv(x) + bias) for n images of h×w pixels: x holds n·h·w·Cin
// values, out n·h·w·COut (NHWC). act clamps at 0 when relu is set.
func (c *Conv) Forward(x []float32, n, h, w int, out []float32, relu bool, bufs Buffers) {
	if len(x) < n*h*w*c.CIn || len(out) < n*h*w*c.COut {
		panic(fmt.Sprintf("winograd: %d inputs and %d outputs for %d maps of %d×%d, %d→%d channels", len(x), len(out), n, h, w, c.CIn, c.COut))
	}
	g := geometry{n: n, h: h, w: w, th: (h + 1) / 2, tw: (w + 1) / 2}
	tiles := n * g.th * g.tw
	perTile := 4 * points * (c.CIn + c.COut)
	workers := runtime.GOMAXPROCS(0)
	own := max(1, ownBytes/perTile) // tiles per goroutine's chunk at most
	chunks := max((tiles+own-1)/own, 2*workers)
	chunks = (chunks + workers - 1) / workers * workers // the same number for every goroutine
	if size := (tiles + chunks - 1) / chunks; workers > 1 && size >= minOwnTiles {
		c.forwardOwn(x, g, size, out, relu, bufs)
		return
	}
	chunk := min(tiles, max(1, sharedBytes/perTile))
	v, m := bufs.Get(points*chunk*c.CIn), bufs.Get(points*chunk*c.COut)
	defer bufs.Put(v)
	defer bufs.Put(m)
	for t0 := 0; t0 < tiles; t0 += chunk {
		count := min(chunk, tiles-t0)
		parallel(count, 16*c.CIn, func(i int, patch []float32) {
			c.input(x, g, t0+i, v[i*c.CIn:], chunk*c.CIn, patch)
		})
		sgemm.ApplyAll(c.u[:], c.products(v, m, chunk, count))
		parallel(count, 0, func(i int, _ []float32) {
			c.output(m[i*c.COut:], chunk*c.COut, g, t0+i, out, relu)
		})
	}
}

// forwardOwn is Forward with each goroutine taking chunks of size tiles, start to end.
func (c *Conv) forwardOwn(x []float32, g geometry, size int, out []float32, relu bool, bufs Buffers) {
	tiles := g.n * g.th * g.tw
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			v, m := bufs.Get(points*size*c.CIn), bufs.Get(points*size*c.COut)
			defer bufs.Put(v)
			defer bufs.Put(m)
			patch := make([]float32, 16*c.CIn)
			for t0 := int(next.Add(int64(size)) - int64(size)); t0 < tiles; t0 = int(next.Add(int64(size)) - int64(size)) {
				count := min(size, tiles-t0)
				for i := range count {
					c.input(x, g, t0+i, v[i*c.CIn:], size*c.CIn, patch)
				}
				sgemm.ApplyHere(c.u[:], c.products(v, m, size, count))
				for i := range count {
					c.output(m[i*c.COut:], size*c.COut, g, t0+i, out, relu)
				}
			}
		})
	}
	wg.Wait()
}

// products returns the 16 products of a chunk of count tiles (of room for size): at each
// point, the transformed inputs [count × Cin] times U [Cin × Cout].
func (c *Conv) products(v, m []float32, size, count int) []sgemm.Op {
	ops := make([]sgemm.Op, points)
	for p := range ops {
		ops[p] = sgemm.Op{M: count, A: v[p*size*c.CIn:], RowStride: c.CIn, C: m[p*size*c.COut:]}
	}
	return ops
}

// output writes tile t's pixels from its products m (point p at p·plane).
func (c *Conv) output(m []float32, plane int, g geometry, t int, out []float32, relu bool) {
	img, ty, tx := g.tile(t)
	rows, cols := min(2, g.h-2*ty), min(2, g.w-2*tx)
	dst := out[((img*g.h+2*ty)*g.w+2*tx)*c.COut:]
	outputTile(m, plane, dst, g.w*c.COut, c.COut, rows, cols, c.bias, relu)
}

// input transforms the 4×4 patch of tile t into v (point p at p·plane). The patch starts
// one pixel above and left of the tile; where it reaches past the map, it is gathered into
// patch (16·Cin values) with zeros for the padding.
func (c *Conv) input(x []float32, g geometry, t int, v []float32, plane int, patch []float32) {
	img, ty, tx := g.tile(t)
	h, w := g.h, g.w
	x = x[img*h*w*c.CIn:]
	y0, x0 := 2*ty-1, 2*tx-1
	if y0 >= 0 && x0 >= 0 && y0+4 <= h && x0+4 <= w {
		inputTile(x[(y0*w+x0)*c.CIn:], w*c.CIn, c.CIn, v, plane)
		return
	}
	clear(patch)
	for dy := range 4 {
		y := y0 + dy
		if y < 0 || y >= h {
			continue
		}
		for dx := range 4 {
			if xx := x0 + dx; xx >= 0 && xx < w {
				copy(patch[(dy*4+dx)*c.CIn:(dy*4+dx+1)*c.CIn], x[(y*w+xx)*c.CIn:])
			}
		}
	}
	inputTile(patch, 4*c.CIn, c.CIn, v, plane)
}

// inputTile writes Bᵀ d B for each of the ch channels of the 4×4 patch d (rows rowStride
// apart, pixels ch apart) to v: point p of channel k at v[p·plane+k].
// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
func inputTile(d []float32, rowStride, ch int, v []float32, plane int) {
	k := inputTileVector(d, rowStride, ch, v, plane)
	for ; k < ch; k++ {
		var e [4][4]float32 // d B, row by row
		for i := range 4 {
			r := d[i*rowStride+k:]
			d0, d1, d2, d3 := r[0], r[ch], r[2*ch], r[3*ch]
			e[i] = [4]float32{d0 - d2, d1 + d2, d2 - d1, d1 - d3}
		}
		for j := range 4 { // Bᵀ (d B)
			v[(0*4+j)*plane+k] = e[0][j] - e[2][j]
			v[(1*4+j)*plane+k] = e[1][j] + e[2][j]
			v[(2*4+j)*plane+k] = e[2][j] - e[1][j]
			v[(3*4+j)*plane+k] = e[1][j] - e[3][j]
		}
	}
}

// outputTile writes Aᵀ m A (+ bias, clamped at 0 when relu is set) for each of the ch
// channels of a tile, whose point p of channel k is at m[p·plane+k], to the rows×cols ≤ 2×2
// pixels at dst (rows rowStride apart, pixels ch apart). Aᵀ = [1 1 1 0; 0 1 −1 −1].
func outputTile(m []float32, plane int, dst []float32, rowStride, ch, rows, cols int, bias []float32, relu bool) {
	k := 0
	if rows == 2 && cols == 2 {
		k = outputTileVector(m, plane, dst, rowStride, ch, bias, relu)
	}
	for ; k < ch; k++ {
		var r [4][2]float32 // m A, row by row
		for i := range 4 {
			m0, m1, m2, m3 := m[(i*4)*plane+k], m[(i*4+1)*plane+k], m[(i*4+2)*plane+k], m[(i*4+3)*plane+k]
			r[i] = [2]float32{m0 + m1 + m2, m1 - m2 - m3}
		}
		for j := range cols {
			y := [2]float32{r[0][j] + r[1][j] + r[2][j], r[1][j] - r[2][j] - r[3][j]}
			for i := range rows {
				o := y[i] + bias[k]
				if relu {
					o = max(o, 0)
				}
				dst[i*rowStride+j*ch+k] = o
			}
		}
	}
}

// parallel runs fn(0..n-1) on GOMAXPROCS goroutines, a few indices per task, giving each
// goroutine a scratch buffer of the given length.
func parallel(n, scratch int, fn func(i int, scratch []float32)) {
	const grain = 8
	workers := min(runtime.GOMAXPROCS(0), (n+grain-1)/grain)
	if workers <= 1 {
		s := make([]float32, scratch)
		for i := range n {
			fn(i, s)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := make([]float32, scratch)
			for lo := int(next.Add(grain) - grain); lo < n; lo = int(next.Add(grain) - grain) {
				for i := lo; i < min(n, lo+grain); i++ {
					fn(i, s)
				}
			}
		})
	}
	wg.Wait()
}
