package conv

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

func goBackend(testing.TB) compute.Backend { return backend.MustNew("go", nil) }

// randTensor returns a float32 tensor of the given dimensions, uniform in [-1, 1).
func randTensor(rng *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = 2*rng.Float32() - 1
	}
	return tensors.FromFlatDataAndDimensions(data, dims...)
}

// withMode runs fn with the conv Mode set to m, restoring the previous one.
func withMode[T any](m Mode, fn func() T) T {
	prev := SetMode(m)
	defer SetMode(prev)
	return fn()
}

// execIn builds and runs graphFn in mode m on the go backend, returning flat float32 outputs.
func execIn[F graph.ExecGraphFn](t testing.TB, m Mode, graphFn F, args ...any) [][]float32 {
	t.Helper()
	return execOn(t, goBackend(t), m, graphFn, args...)
}

// relDiff returns max|got−want| / max|want|: the error relative to the output's scale.
func relDiff(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var maxDiff, maxRef float64
	for i := range got {
		maxDiff = max(maxDiff, math.Abs(float64(got[i])-float64(want[i])))
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	if maxRef == 0 {
		return maxDiff
	}
	return maxDiff / maxRef
}

// convCase is one convolution kind of ResNet50, at a small size.
type convCase struct {
	name                   string
	h, w, cIn, cOut, k, st int
	kw                     int // kernel width when not k
}

func (c convCase) kW() int {
	if c.kw > 0 {
		return c.kw
	}
	return c.k
}

// resnetKinds lists every convolution kind in ResNet50 (sizes reduced; odd sizes catch
// off-by-one errors in strided output sizes).
var resnetKinds = []convCase{
	{"1x1s1", 9, 7, 16, 24, 1, 1, 0},
	{"1x1s2", 9, 8, 16, 32, 1, 2, 0},
	{"3x3s1", 10, 9, 8, 12, 3, 1, 0},  // callers pad for "same": input is already padded
	{"7x7s2", 21, 18, 3, 16, 7, 2, 0}, // conv1 after ZeroPadding2D(3)
	{"3x3s2", 11, 10, 4, 8, 3, 2, 0},  // not in ResNet50, but must work too
}

// bothStride1Forms runs fn once with im2col and once with wideConv for stride-1 k×k convolutions.
func bothStride1Forms(t *testing.T, fn func(t *testing.T)) {
	prev := MaxWideOverhead
	defer func() { MaxWideOverhead = prev }()
	for _, form := range []struct {
		name     string
		overhead float64
	}{{"im2col", 0}, {"wide", 100}} {
		MaxWideOverhead = form.overhead
		t.Run(form.name, fn)
	}
}

func TestFastMatchesNative(t *testing.T) {
	bothStride1Forms(t, testFastMatchesNative)
}

func testFastMatchesNative(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range append(resnetKinds, convCase{"5x3s1", 8, 9, 6, 7, 5, 1, 3}) {
		t.Run(c.name, func(t *testing.T) {
			x, k, b := randConv(rng, c)
			fn := func(x, k, b *graph.Node) *graph.Node { return Conv2D(x, k, b, c.st) }
			want := execIn(t, Native, fn, x, k, b)[0]
			got := execIn(t, Fast, fn, x, k, b)[0]
			wantLen := 2 * OutputSize(c.h, c.k, c.st) * OutputSize(c.w, c.kW(), c.st) * c.cOut
			if len(got) != wantLen || len(want) != wantLen {
				t.Fatalf("output sizes: fast %d, native %d, want %d", len(got), len(want), wantLen)
			}
			d := relDiff(got, want)
			t.Logf("fast vs native: relative difference %.3g", d)
			if d > 1e-4 {
				t.Fatalf("fast vs native: relative difference %.3g > 1e-4", d)
			}
		})
	}
}

// randConv returns random inputs of c: x (a batch of 2), the kernel k and the bias b.
func randConv(rng *rand.Rand, c convCase) (x, k, b *tensors.Tensor) {
	x = randTensor(rng, 2, c.h, c.w, c.cIn)
	k = randTensor(rng, c.k, c.kW(), c.cIn, c.cOut)
	return x, k, randTensor(rng, c.cOut)
}

func randBN(rng *rand.Rand, c int) (gamma, beta, mean, variance *tensors.Tensor) {
	v := make([]float32, c)
	for i := range v {
		v[i] = 0.05 + 2*rng.Float32() // positive variances, some small
	}
	return randTensor(rng, c), randTensor(rng, c), randTensor(rng, c), tensors.FromFlatDataAndDimensions(v, c)
}

func TestFoldedBatchNormMatchesUnfolded(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range resnetKinds {
		t.Run(c.name, func(t *testing.T) {
			x, k, b := randConv(rng, c)
			g, be, m, v := randBN(rng, c.cOut)
			folded := func(in []*graph.Node) *graph.Node {
				return Conv2DBatchNorm(in[0], in[1], in[2], BatchNorm{in[3], in[4], in[5], in[6], 1.001e-5}, c.st)
			}
			unfolded := func(in []*graph.Node) *graph.Node {
				return Unfolded(in[0], in[1], in[2], BatchNorm{in[3], in[4], in[5], in[6], 1.001e-5}, c.st)
			}
			args := []any{x, k, b, g, be, m, v}
			want := execIn(t, Native, unfolded, args...)[0]
			gotFast := execIn(t, Fast, folded, args...)[0]
			gotNative := execIn(t, Native, folded, args...)[0]
			d := relDiff(gotFast, want)
			t.Logf("%s: folded (fast path) vs unfolded (native): relative difference %.3g", c.name, d)
			if d > 1e-4 {
				t.Fatalf("folded vs unfolded: relative difference %.3g > 1e-4", d)
			}
			if d := relDiff(gotNative, want); d != 0 {
				t.Fatalf("native Conv2DBatchNorm differs from Unfolded by %.3g", d)
			}
		})
	}
}

// TestGradientsMatch checks that gradients w.r.t. the input, kernel, bias and BatchNorm
// parameters of the fast path (folded) equal the native path's on a tiny convolution.
func TestGradientsMatch(t *testing.T) {
	bothStride1Forms(t, testGradientsMatch)
}

func testGradientsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []convCase{resnetKinds[0], resnetKinds[1], resnetKinds[2], resnetKinds[3]} {
		t.Run(c.name, func(t *testing.T) {
			x, k, b := randConv(rng, c)
			g, be, m, v := randBN(rng, c.cOut)
			fn := func(inputs []*graph.Node) []*graph.Node {
				bn := BatchNorm{inputs[3], inputs[4], inputs[5], inputs[6], 1.001e-5}
				y := Conv2DBatchNorm(inputs[0], inputs[1], inputs[2], bn, c.st)
				// A non-trivial loss: sum of squares of ReLU(y), weighted by position.
				y = graph.Max(y, graph.ScalarZero(y.Graph(), y.DType()))
				w := graph.Iota(y.Graph(), y.Shape(), 2)
				loss := graph.ReduceAllSum(graph.Mul(graph.Mul(y, y), graph.OnePlus(w)))
				return graph.Gradient(loss, inputs...)
			}
			args := []any{x, k, b, g, be, m, v}
			want := execIn(t, Native, fn, args...)
			got := execIn(t, Fast, fn, args...)
			names := []string{"x", "kernel", "bias", "gamma", "beta", "mean", "variance"}
			for i := range want {
				d := relDiff(got[i], want[i])
				t.Logf("gradient w.r.t. %s: relative difference %.3g", names[i], d)
				if d > 1e-4 {
					t.Errorf("gradient w.r.t. %s: fast vs native relative difference %.3g > 1e-4", names[i], d)
				}
			}
		})
	}
}

// TestBFloat16Close checks the bf16 option runs and stays within bf16 precision of float32.
func TestBFloat16Close(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	c := resnetKinds[2]
	x := randTensor(rng, 2, c.h, c.w, c.cIn)
	k := randTensor(rng, c.k, c.kW(), c.cIn, c.cOut)
	fn := func(x, k *graph.Node) *graph.Node { return Conv2D(x, k, nil, c.st) }
	want := execIn(t, Fast, fn, x, k)[0]
	prev := SetBFloat16(true)
	got := execIn(t, Fast, fn, x, k)[0]
	SetBFloat16(prev)
	d := relDiff(got, want)
	t.Logf("bf16 vs float32, 3x3 conv with 72 products per output: relative difference %.3g", d)
	if d == 0 || d > 2e-2 {
		t.Fatalf("bf16 relative difference %.3g: want >0 (bf16 really used) and ≤ 2e-2", d)
	}
}

func TestModeParsing(t *testing.T) {
	for s, want := range map[string]Mode{"": Auto, "auto": Auto, "NATIVE": Native, "fast": Fast} {
		if got, err := ParseMode(s); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := ParseMode("gpu"); err == nil {
		t.Error("ParseMode(\"gpu\") did not fail")
	}
	g := graph.NewGraph(goBackend(t), "mode")
	defer g.Finalize()
	for m, want := range map[Mode]bool{Auto: true, Native: false, Fast: true} {
		prev := SetMode(m)
		if got := UsesFastPath(g); got != want {
			t.Errorf("mode %v on the go backend: UsesFastPath = %v, want %v", m, got, want)
		}
		SetMode(prev)
	}
}

func TestBadShapesPanicClearly(t *testing.T) {
	g := graph.NewGraph(goBackend(t), "bad")
	defer g.Finalize()
	x := graph.Zeros(g, shapes.Make(dtypes.Float32, 1, 8, 8, 3))
	k := graph.Zeros(g, shapes.Make(dtypes.Float32, 3, 3, 4, 8))
	err := exceptions.TryCatch[error](func() { Conv2D(x, k, nil, 1) })
	if err == nil || !strings.Contains(err.Error(), "channels") {
		t.Fatal("mismatched channels did not fail")
	}
	t.Log(err)
}

func ExampleOutputSize() {
	// conv1 of ResNet50: 224 padded by 3 on each side, 7×7 stride 2.
	fmt.Println(OutputSize(224+6, 7, 2))
	// Output: 112
}

func TestConv2DBatchNormReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := resnetKinds[2]
	x, k, b := randConv(rng, c)
	g, be, m, v := randBN(rng, c.cOut)
	fused := func(in []*graph.Node) *graph.Node {
		return Conv2DBatchNormReLU(in[0], in[1], in[2], BatchNorm{in[3], in[4], in[5], in[6], 1.001e-5}, c.st)
	}
	ref := func(in []*graph.Node) *graph.Node {
		y := Unfolded(in[0], in[1], in[2], BatchNorm{in[3], in[4], in[5], in[6], 1.001e-5}, c.st)
		return graph.Max(y, graph.ZerosLike(y))
	}
	args := []any{x, k, b, g, be, m, v}
	want := execIn(t, Native, ref, args...)[0]
	got := execIn(t, Fast, fused, args...)[0]
	var zeros int
	for _, v := range got {
		if v == 0 {
			zeros++
		}
	}
	if zeros == 0 || zeros == len(got) {
		t.Fatalf("ReLU output has %d zeros of %d: test data does not exercise the ReLU", zeros, len(got))
	}
	if d := relDiff(got, want); d > 1e-4 {
		t.Fatalf("fused conv+BN+ReLU vs reference: relative difference %.3g > 1e-4", d)
	}
}

func TestMaxPool2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct{ h, w, window, stride int }{{114, 114, 3, 2}, {9, 8, 3, 2}, {7, 7, 2, 1}, {6, 5, 3, 3}} {
		t.Run(fmt.Sprintf("%dx%d_w%d_s%d", c.h, c.w, c.window, c.stride), func(t *testing.T) {
			x := randTensor(rng, 2, c.h, c.w, 5)
			fn := func(x *graph.Node) []*graph.Node {
				y := MaxPool2D(x, c.window, c.stride)
				w := graph.Iota(y.Graph(), y.Shape(), 2) // position weights: a non-uniform adjoint
				return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, graph.OnePlus(w))), x)[0]}
			}
			values := func(x *graph.Node) *graph.Node { return MaxPool2D(x, c.window, c.stride) }
			want := execIn(t, Native, values, x)[0]
			got := execIn(t, Fast, fn, x)
			ho, wo := OutputSize(c.h, c.window, c.stride), OutputSize(c.w, c.window, c.stride)
			if wantLen := 2 * ho * wo * 5; len(got[0]) != wantLen {
				t.Fatalf("output size %d, want %d", len(got[0]), wantLen)
			}
			if d := relDiff(got[0], want); d != 0 {
				t.Fatalf("max-pool values differ from graph.MaxPool: %.3g", d)
			}
			// graph.MaxPool has no gradient on the go backend (SelectAndScatterMax is not
			// implemented), so the reference gradient is computed here: each output's adjoint
			// (1+ow) goes to its window's maximum (random inputs have no ties).
			xs := tensors.MustCopyFlatData[float32](x)
			grad := make([]float32, len(xs))
			at := func(n, h, w, ch int) int { return ((n*c.h+h)*c.w+w)*5 + ch }
			for n := range 2 {
				for oh := range ho {
					for ow := range wo {
						for ch := range 5 {
							best := -1
							for i := range c.window {
								for j := range c.window {
									idx := at(n, oh*c.stride+i, ow*c.stride+j, ch)
									if best < 0 || xs[idx] > xs[best] {
										best = idx
									}
								}
							}
							grad[best] += float32(1 + ow)
						}
					}
				}
			}
			if d := relDiff(got[1], grad); d > 1e-6 {
				t.Fatalf("max-pool gradients differ from the reference: %.3g", d)
			}
		})
	}
}

func TestZeroPad2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := randTensor(rng, 2, 4, 3, 5)
	fn := func(x *graph.Node) []*graph.Node {
		y := ZeroPad2D(x, 2)
		ref := graph.Pad(x, graph.ScalarZero(x.Graph(), x.DType()),
			compute.PadAxis{}, compute.PadAxis{Start: 2, End: 2}, compute.PadAxis{Start: 2, End: 2}, compute.PadAxis{})
		w := graph.Iota(y.Graph(), y.Shape(), 2)
		grad := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, graph.OnePlus(w))), x)[0]
		// d/dx of Σ y·(1+col) is 1 + the column x lands on (its own column + 2).
		wantGrad := graph.AddScalar(graph.Iota(x.Graph(), x.Shape(), 2), 3)
		return []*graph.Node{y, ref, grad, wantGrad}
	}
	out := execIn(t, Fast, fn, x)
	if d := relDiff(out[0], out[1]); d != 0 || len(out[0]) != 2*8*7*5 {
		t.Fatalf("ZeroPad2D differs from graph.Pad (%.3g) or has size %d", d, len(out[0]))
	}
	if d := relDiff(out[2], out[3]); d != 0 {
		t.Fatalf("ZeroPad2D gradient wrong: %v vs %v", out[2][:6], out[3][:6])
	}
}
