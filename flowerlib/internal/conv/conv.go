// Package conv holds the 2D convolution used by flowerlib's ResNet50, chosen per backend:
// XLA keeps its native convolution (fast there); GoMLX's pure-Go backend gets a faster
// formulation (1×1 as one MatMul, k×k via im2col + one MatMul) because its native Convolve
// is ~300× slower than PyTorch on CPU.
//
// All functions take NHWC input x [batch, h, w, cIn] and a Keras kernel [kh, kw, cIn, cOut],
// and use "valid" padding: callers pad explicitly, as Keras' ZeroPadding2D does.
//
// The implementation is chosen when the graph is built (see Mode, SetMode and the
// FLOWERS_CONV environment variable); both are differentiable.
package conv

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/nn"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Mode selects the convolution implementation.
type Mode int32

const (
	// Auto uses the fast path on the pure-Go backend and graph.Convolve elsewhere (XLA).
	Auto Mode = iota
	// Native always uses graph.Convolve (the backend's own convolution: the reference).
	Native
	// Fast always uses the im2col/MatMul formulation, on any backend.
	Fast
)

// String returns the name used by FLOWERS_CONV.
func (m Mode) String() string {
	switch m {
	case Native:
		return "native"
	case Fast:
		return "fast"
	default:
		return "auto"
	}
}

// EnvMode is the environment variable that selects the Mode when SetMode was not called:
// "native" (graph.Convolve everywhere: the reference), "fast" or "auto" (default).
const EnvMode = "FLOWERS_CONV"

// EnvBF16 is the environment variable that, set to "1" or "true", makes the fast path
// multiply in bfloat16 (float32 accumulation); see SetBFloat16.
const EnvBF16 = "FLOWERS_CONV_BF16"

// Explicit settings (SetMode, SetBFloat16) win; otherwise the environment is read each time a
// graph is built, so commands (outside flowerlib, which cannot import this package) can switch
// paths with os.Setenv.
var (
	modeSet, bf16Set atomic.Bool
	mode             atomic.Int32
	bf16             atomic.Bool
	warnedEnv        atomic.Bool
)

func envMode() Mode {
	m, err := ParseMode(os.Getenv(EnvMode))
	if err != nil && !warnedEnv.Swap(true) {
		fmt.Fprintf(os.Stderr, "flowerlib/conv: %v; using %q\n", err, Auto)
	}
	return m
}

func envBF16() bool {
	switch strings.ToLower(os.Getenv(EnvBF16)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// ParseMode parses "", "auto", "native" or "fast" (case-insensitive).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "native", "reference", "convolve":
		return Native, nil
	case "fast", "matmul", "im2col":
		return Fast, nil
	}
	return Auto, fmt.Errorf("%s=%q is not one of auto, native, fast", EnvMode, s)
}

// SetMode sets the implementation used by graphs built from now on, returning the previous one.
// Graphs already compiled (e.g. cached by an Exec) keep theirs. It overrides FLOWERS_CONV.
func SetMode(m Mode) (previous Mode) {
	previous = CurrentMode()
	mode.Store(int32(m))
	modeSet.Store(true)
	return previous
}

// CurrentMode returns the Mode graphs built now will use.
func CurrentMode() Mode {
	if modeSet.Load() {
		return Mode(mode.Load())
	}
	return envMode()
}

// SetBFloat16 makes the fast path round its MatMul operands to bfloat16 (products accumulated
// in float32, output float32) for graphs built from now on; it returns the previous setting.
// It trades accuracy (about 3 significant digits per operand) for memory bandwidth.
// It overrides FLOWERS_CONV_BF16.
func SetBFloat16(enabled bool) (previous bool) {
	previous = BFloat16()
	bf16.Store(enabled)
	bf16Set.Store(true)
	return previous
}

// BFloat16 reports whether the fast path multiplies in bfloat16.
func BFloat16() bool {
	if bf16Set.Load() {
		return bf16.Load()
	}
	return envBF16()
}

// UsesFastPath reports whether convolutions built in g use the MatMul formulation.
func UsesFastPath(g *graph.Graph) bool {
	switch CurrentMode() {
	case Native:
		return false
	case Fast:
		return true
	}
	return backend.IsGo(g.Backend())
}

// OutputSize returns the spatial output size of a valid convolution of an input of size in,
// with kernel size k and the given stride.
func OutputSize(in, k, stride int) int { return (in-k)/stride + 1 }

// Conv2D returns conv(x, kernel) + bias with the given stride, as [batch, ho, wo, cOut];
// bias [cOut] may be nil.
func Conv2D(x, kernel, bias *graph.Node, stride int) *graph.Node {
	checkShapes(x, kernel, bias, stride)
	if UsesFastPath(x.Graph()) {
		return matmulConv(x, kernel, bias, stride, false)
	}
	y := graph.Convolve(x, kernel).Strides(stride).NoPadding().Done()
	if bias != nil {
		y = graph.Add(y, graph.ExpandLeftToRank(bias, y.Rank()))
	}
	return y
}

// BatchNorm holds the inference-time parameters of a Keras BatchNormalization layer
// (each of shape [channels]).
type BatchNorm struct {
	Gamma, Beta, MovingMean, MovingVariance *graph.Node
	Epsilon                                 float64
}

// scaleShift returns the per-channel affine form of bn: BN(y) = y·scale + shift.
func (bn BatchNorm) scaleShift() (scale, shift *graph.Node) {
	// Div(…, Sqrt) rather than Rsqrt: GoMLX defines no gradient for Rsqrt.
	scale = graph.Div(bn.Gamma, graph.Sqrt(graph.AddScalar(bn.MovingVariance, bn.Epsilon)))
	shift = graph.Sub(bn.Beta, graph.Mul(bn.MovingMean, scale))
	return
}

// Conv2DBatchNorm returns BN(conv(x, kernel) + bias) using the moving statistics
// (frozen inference), [batch, ho, wo, cOut]. bias may be nil.
//
// On the fast path the BatchNorm is folded into the convolution:
// W' = W·γ/√(σ²+ε) and b' = (b−μ)·γ/√(σ²+ε)+β, so the activation is touched once;
// it is exact in real arithmetic and differentiable (gradients flow to all BN parameters).
// The native path applies the BatchNorm after the convolution, as Keras does.
func Conv2DBatchNorm(x, kernel, bias *graph.Node, bn BatchNorm, stride int) *graph.Node {
	if !UsesFastPath(x.Graph()) {
		return Unfolded(x, kernel, bias, bn, stride)
	}
	checkShapes(x, kernel, bias, stride)
	w, b := FoldBatchNorm(kernel, bias, bn)
	return matmulConv(x, w, b, stride, false)
}

// Conv2DBatchNormReLU returns ReLU(Conv2DBatchNorm(x, kernel, bias, bn, stride)). On the fast
// path the bias and ReLU are applied in one pass over the MatMul output (GoMLX's fused Dense).
func Conv2DBatchNormReLU(x, kernel, bias *graph.Node, bn BatchNorm, stride int) *graph.Node {
	if !UsesFastPath(x.Graph()) {
		return relu(Unfolded(x, kernel, bias, bn, stride))
	}
	checkShapes(x, kernel, bias, stride)
	w, b := FoldBatchNorm(kernel, bias, bn)
	return matmulConv(x, w, b, stride, true)
}

func relu(x *graph.Node) *graph.Node { return graph.Max(x, graph.ScalarZero(x.Graph(), x.DType())) }

// Unfolded returns BN(conv(x, kernel) + bias) computed literally: Conv2D, then the BatchNorm
// as a per-channel scale and shift. It is the reference for the folded form.
func Unfolded(x, kernel, bias *graph.Node, bn BatchNorm, stride int) *graph.Node {
	y := Conv2D(x, kernel, bias, stride)
	scale, shift := bn.scaleShift()
	return graph.Add(graph.Mul(y, graph.ExpandLeftToRank(scale, y.Rank())), graph.ExpandLeftToRank(shift, y.Rank()))
}

// FoldBatchNorm returns the kernel [kh, kw, cIn, cOut] and bias [cOut] of the single
// convolution equal to BN(conv(x, kernel) + bias) with bn's moving statistics.
// bias may be nil (treated as zero).
func FoldBatchNorm(kernel, bias *graph.Node, bn BatchNorm) (foldedKernel, foldedBias *graph.Node) {
	scale, shift := bn.scaleShift()
	foldedKernel = scaleLastAxis(kernel, scale)
	if bias == nil {
		return foldedKernel, shift
	}
	return foldedKernel, graph.Add(graph.Mul(bias, scale), shift)
}

// scaleLastAxis returns x·s, s [c] broadcast along x's last axis (of size c). The go backend's
// broadcasting Mul walks a generic index iterator (about 6 ns per element: folding every kernel
// of ResNet50 so took a fifth of a batch-1 forward), so there s is first repeated to x's shape
// by a few doubling Concatenates (memcpy) and the Mul runs its same-shape loop: about a third
// less time. XLA fuses the broadcast itself.
func scaleLastAxis(x, s *graph.Node) *graph.Node {
	if !backend.IsGo(x.Graph().Backend()) || x.Rank() < 2 {
		return graph.Mul(x, graph.ExpandLeftToRank(s, x.Rank()))
	}
	c := s.Shape().Dim(0)
	rows := x.Shape().Size() / c
	y := graph.Mul(graph.Reshape(x, rows, c), repeatRows(s, rows))
	return graph.Reshape(y, x.Shape().Dimensions...)
}

// repeatRows returns [n, c]: n copies of s [c], built from log₂(n) doubling Concatenates.
func repeatRows(s *graph.Node, n int) *graph.Node {
	p := graph.Reshape(s, 1, s.Shape().Dim(0)) // p holds 2^k rows
	var parts []*graph.Node
	for k := 1; ; k *= 2 {
		if n&k != 0 {
			parts = append(parts, p)
		}
		if 2*k > n {
			break
		}
		p = graph.Concatenate([]*graph.Node{p, p}, 0)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return graph.Concatenate(parts, 0)
}

func checkShapes(x, kernel, bias *graph.Node, stride int) {
	if x.Rank() != 4 || kernel.Rank() != 4 {
		exceptions.Panicf("conv: want x [batch, h, w, cIn] and kernel [kh, kw, cIn, cOut], got x %s and kernel %s",
			x.Shape(), kernel.Shape())
	}
	if x.Shape().Dim(3) != kernel.Shape().Dim(2) {
		exceptions.Panicf("conv: x %s has %d channels, kernel %s expects %d", x.Shape(), x.Shape().Dim(3),
			kernel.Shape(), kernel.Shape().Dim(2))
	}
	if stride < 1 {
		exceptions.Panicf("conv: stride must be ≥ 1, got %d", stride)
	}
	if x.Shape().Dim(1) < kernel.Shape().Dim(0) || x.Shape().Dim(2) < kernel.Shape().Dim(1) {
		exceptions.Panicf("conv: input %s is smaller than the kernel %s (valid padding)", x.Shape(), kernel.Shape())
	}
	if bias != nil && (bias.Rank() != 1 || bias.Shape().Dim(0) != kernel.Shape().Dim(3)) {
		exceptions.Panicf("conv: bias %s must be [%d]", bias.Shape(), kernel.Shape().Dim(3))
	}
}

// matmulConv is the valid, strided convolution as one MatMul (+ bias, optional ReLU):
// patches [batch, ho, wo, kh·kw·cIn] × kernel [kh·kw·cIn, cOut]. The contraction is over the
// last axis of the patches and the first of the kernel, which the Go backend runs without any
// transposition (its "non-transposed" layout, N,H,W merged into one row axis). bias may be nil.
func matmulConv(x, kernel, bias *graph.Node, stride int, withReLU bool) *graph.Node {
	kDims := kernel.Shape().Dimensions
	kh, kw, cIn, cOut := kDims[0], kDims[1], kDims[2], kDims[3]
	if BFloat16() && x.DType() == dtypes.Float32 {
		// Convert once, before the patches are built: every copy then moves half the bytes.
		x, kernel = graph.ConvertDType(x, dtypes.BFloat16), graph.ConvertDType(kernel, dtypes.BFloat16)
	}
	if stride == 1 && kh*kw > 1 && wideRowsRatio(x.Shape().Dimensions, kh, kw) <= MaxWideOverhead {
		return wideConv(x, kernel, bias, withReLU)
	}
	if stride > 1 && kh*kw > 1 && s2dFlopsRatio(kh, kw, stride) <= MaxSpaceToDepthOverhead {
		return spaceToDepthConv(x, kernel, bias, stride, withReLU)
	}
	patches := Im2Col(x, kh, kw, stride)
	return dense(patches, graph.Reshape(kernel, kh*kw*cIn, cOut), bias, withReLU)
}

// dense is patches [..., k] × k2 [k, cOut] + bias, then ReLU if asked, float32 out. For
// float32 it is GoMLX's nn.Dense: on the Go backend bias and activation are applied in place on
// the MatMul output (one pass instead of two or three); its gradient is the decomposed ops'.
// bfloat16 operands are multiplied with float32 accumulation and output.
func dense(patches, k2, bias *graph.Node, withReLU bool) *graph.Node {
	if patches.DType() == dtypes.BFloat16 {
		y := graph.Dot(patches, k2).WithOutputDType(dtypes.Float32).General([]int{patches.Rank() - 1}, nil, []int{0}, nil)
		if bias != nil {
			y = graph.Add(y, graph.ExpandLeftToRank(bias, y.Rank()))
		}
		if withReLU {
			y = relu(y)
		}
		return y
	}
	act := activation.TypeNone
	if withReLU {
		act = activation.TypeRelu
	}
	return nn.Dense(patches, k2, bias, compute.DenseLayoutInputOutputs, act)
}

// MaxSpaceToDepthOverhead bounds the extra multiply-adds (zero kernel taps) that rewriting a
// strided k×k convolution as a stride-1 one costs: 64/49 ≈ 1.31 for ResNet50's 7×7/2 conv1,
// 16/9 ≈ 1.78 for a 3×3/2 (which then keeps im2col).
var MaxSpaceToDepthOverhead = 1.35

func roundUp(a, b int) int { return (a + b - 1) / b * b }

func s2dFlopsRatio(kh, kw, s int) float64 {
	return float64(roundUp(kh, s)*roundUp(kw, s)) / float64(kh*kw)
}

// spaceToDepthConv is a valid kh×kw convolution with stride s rewritten as a stride-1 one:
// the input's s×s pixel blocks become channels ([n, h/s, w/s, s·s·c]) and the kernel, zero-
// padded to a multiple of s, is rearranged to match ([⌈kh/s⌉, ⌈kw/s⌉, s·s·c, cOut]). Output
// (oh, ow) tap (i, j) = (s·a+p, s·b+q) reads input (s·(oh+a)+p, s·(ow+b)+q) = block (oh+a, ow+b),
// channel (p, q, c). This replaces kh·kw strided slices of c-channel pixels (ResNet50's conv1:
// 49 slices of 3 floats per pixel, the slowest im2col of the network) by one transpose.
func spaceToDepthConv(x, kernel, bias *graph.Node, s int, withReLU bool) *graph.Node {
	dims := x.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	kDims := kernel.Shape().Dimensions
	kh, kw, cOut := kDims[0], kDims[1], kDims[3]
	ho, wo := OutputSize(h, kh, s), OutputSize(w, kw, s)
	kh2, kw2 := roundUp(kh, s), roundUp(kw, s)
	// Input rows/cols needed by the padded kernel, rounded to whole blocks; crop or zero-pad.
	hs, ws := roundUp(max((ho-1)*s+kh2, h), s), roundUp(max((wo-1)*s+kw2, w), s)
	x = zeroPadAxis(zeroPadAxis(x, 1, 0, hs-h), 2, 0, ws-w)
	x = graph.Reshape(x, n, hs/s, s, ws/s, s, c)
	x = graph.TransposeAllAxes(x, 0, 1, 3, 2, 4, 5)
	x = graph.Reshape(x, n, hs/s, ws/s, s*s*c)
	k := zeroPadAxis(zeroPadAxis(kernel, 0, 0, kh2-kh), 1, 0, kw2-kw)
	k = graph.Reshape(k, kh2/s, s, kw2/s, s, c, cOut)
	k = graph.TransposeAllAxes(k, 0, 2, 1, 3, 4, 5)
	k = graph.Reshape(k, kh2/s, kw2/s, s*s*c, cOut)
	y := matmulConv(x, k, bias, 1, withReLU)
	if y.Shape().Dim(1) != ho || y.Shape().Dim(2) != wo {
		y = graph.Slice(y, graph.AxisRange(), graph.AxisRange(0, ho), graph.AxisRange(0, wo))
	}
	return y
}

// MaxWideOverhead bounds the extra MatMul rows (computed then discarded) that the "wide" stride-1
// formulation may cost relative to im2col: about 1.07 at 56×56, 1.15 at 28×28, 1.31 at 14×14
// and 1.65 at 7×7 (batch 32; more at batch 1). Above it im2col's strided slices are used.
// 1.4 measured best on ResNet50 at batch 8 (CPU s/image: 0.23 vs 0.25 with 1.2 and 0.26 with
// im2col only).
var MaxWideOverhead = 1.4

// wideRowsRatio is the number of MatMul rows of wideConv over those of im2col.
func wideRowsRatio(dims []int, kh, kw int) float64 {
	n, hp, wp := dims[0], dims[1], dims[2]
	if roundUp(n*hp*wp+kw-1, kw) > n*hp*wp+wp { // wideConv's horizontal stage would not fit
		return math.Inf(1)
	}
	ho, wo := hp-kh+1, wp-kw+1
	return float64((n*hp+kh)*wp) / float64(n*ho*wo)
}

// wideConv is a stride-1 valid kh×kw convolution that builds its patches with memcpy-speed ops
// only (Pad and Concatenate; the Go backend's Slice copies element by element). Treating the
// batch as one tall image flattened to rows of c channels, the input of tap (i, j) for output
// pixel P is row P + i·wp + j: each tap is the flattened input shifted by a constant, i.e. one
// Pad. The MatMul then computes every pixel position of the padded grid, and one pair of
// slices keeps the valid ones (the discarded rows cost MaxWideOverhead at most).
func wideConv(x, kernel, bias *graph.Node, withReLU bool) *graph.Node {
	dims := x.Shape().Dimensions
	n, hp, wp, c := dims[0], dims[1], dims[2], dims[3]
	kDims := kernel.Shape().Dimensions
	kh, kw, cOut := kDims[0], kDims[1], kDims[3]
	ho, wo := hp-kh+1, wp-kw+1
	pixels := n * hp * wp
	rows := (n*hp + kh) * wp // a whole number of image rows, to reshape the output
	flat := graph.Reshape(x, pixels, c)
	// Patch row q = P + offMax, offMax = (kh−1)·wp + kw−1, holds for tap (i, j) flat row P + i·wp + j. Built in two stages,
	// because the Go backend's Concatenate copies input by input, so concatenating kh·kw
	// narrow (c-float) blocks per row sweeps the whole output kh·kw times:
	// 1. Horizontal: row q of h holds flat rows q−kw+1 … q. Its rows q ≡ r (mod kw) are the
	//    flat rows right-shifted by kw−1−r and reshaped kw at a time, so h is kw shifted
	//    copies (each one memcpy) interleaved by one Concatenate of kw·c-float blocks.
	hLen := roundUp(pixels+kw-1, kw)
	groups := make([]*graph.Node, kw)
	for r := range kw {
		shifted := zeroPadAxis(flat, 0, kw-1-r, hLen-pixels-(kw-1-r))
		groups[r] = graph.Reshape(shifted, hLen/kw, 1, kw*c)
	}
	h := graph.Reshape(graph.Concatenate(groups, 1), hLen, kw*c)
	// 2. Vertical: patch row q holds h rows q − (kh−1−i)·wp for i < kh: kh shifted copies of h,
	//    one Concatenate of kw·c-float blocks. (Summing kh shifted h × kernel[i] products would
	//    move fewer bytes, but kh independent MatMuls ready at once can deadlock the Go backend
	//    of compute v0.1.2: each waits in workerspool.Saturate for a worker the others hold.)
	taps := make([]*graph.Node, kh)
	for i := range kh {
		shift := (kh - 1 - i) * wp
		taps[i] = zeroPadAxis(h, 0, shift, rows-hLen-shift)
	}
	patches := graph.Concatenate(taps, 1)                                     // [rows, kh·kw·c]
	y := dense(patches, graph.Reshape(kernel, kh*kw*c, cOut), bias, withReLU) // [rows, cOut]
	// Output pixel (b, h, w) sits at row offMax + (b·hp + h)·wp + w = (b·hp + h + kh−1)·wp + (w + kw−1).
	y = graph.Reshape(y, n*hp+kh, wp, cOut)
	y = graph.Slice(y, graph.AxisRange(kh-1, kh-1+n*hp), graph.AxisRange(kw-1, wp))
	y = graph.Reshape(y, n, hp, wo, cOut)
	return graph.Slice(y, graph.AxisRange(), graph.AxisRange(0, ho))
}

// Im2Col returns the patches of a valid, strided kh×kw convolution over x [batch, h, w, c]:
// [batch, ho, wo, kh·kw·c] with the last axis ordered (i, j, c) like a Keras kernel's
// [kh, kw, c] axes. A 1×1 kernel needs no copy at stride 1 (x itself) and one strided slice
// otherwise.
func Im2Col(x *graph.Node, kh, kw, stride int) *graph.Node {
	dims := x.Shape().Dimensions
	ho, wo := OutputSize(dims[1], kh, stride), OutputSize(dims[2], kw, stride)
	tap := func(x *graph.Node, i, j int) *graph.Node {
		return graph.Slice(x, graph.AxisRange(),
			graph.AxisRange(i, i+(ho-1)*stride+1).Stride(stride),
			graph.AxisRange(j, j+(wo-1)*stride+1).Stride(stride))
	}
	if kh == 1 && kw == 1 {
		if stride == 1 {
			return x
		}
		return tap(x, 0, 0)
	}
	taps := make([]*graph.Node, 0, kh*kw)
	for i := range kh {
		for j := range kw {
			taps = append(taps, tap(x, i, j))
		}
	}
	return graph.Concatenate(taps, 3)
}

// MaxPool2D is a valid (unpadded) window×window max-pool with the given stride over NHWC x:
// [batch, (h−window)/stride+1, (w−window)/stride+1, c]. On the fast path it is the maximum of
// strided slices, separably along W then H: the Go backend's ReduceWindow allocates per
// element and took about a third of a ResNet50 forward. Elsewhere it is graph.MaxPool.
// Gradients flow to one maximal input per window (the first on ties along each axis).
func MaxPool2D(x *graph.Node, window, stride int) *graph.Node {
	if x.Rank() != 4 || window < 1 || stride < 1 || x.Shape().Dim(1) < window || x.Shape().Dim(2) < window {
		exceptions.Panicf("conv.MaxPool2D: want NHWC x at least %d×%d, window and stride ≥ 1; got x %s, window %d, stride %d",
			window, window, x.Shape(), window, stride)
	}
	if !UsesFastPath(x.Graph()) {
		return graph.MaxPool(x).Window(window).Strides(stride).NoPadding().Done()
	}
	dims := x.Shape().Dimensions
	ho, wo := OutputSize(dims[1], window, stride), OutputSize(dims[2], window, stride)
	var y *graph.Node
	for j := range window {
		t := graph.Slice(x, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(j, j+(wo-1)*stride+1).Stride(stride))
		if y == nil {
			y = t
		} else {
			y = graph.Max(y, t)
		}
	}
	var z *graph.Node
	for i := range window {
		t := graph.Slice(y, graph.AxisRange(), graph.AxisRange(i, i+(ho-1)*stride+1).Stride(stride))
		if z == nil {
			z = t
		} else {
			z = graph.Max(z, t)
		}
	}
	return z
}

// ZeroPad2D pads the two spatial axes of NHWC x with n zeros on each side, like Keras'
// ZeroPadding2D(n): [batch, h+2n, w+2n, c]. Unlike graph.Pad, which has no gradient in GoMLX
// v0.28, it is differentiable (it is built from Concatenate), so fine-tuning works through it.
func ZeroPad2D(x *graph.Node, n int) *graph.Node {
	if x.Rank() != 4 || n < 0 {
		exceptions.Panicf("conv.ZeroPad2D: want NHWC x and n ≥ 0, got x %s, n %d", x.Shape(), n)
	}
	return zeroPadAxis(zeroPadAxis(x, 1, n, n), 2, n, n)
}

// zeroPadAxis adds before and after zeros along axis of x with one Concatenate (a memcpy per
// block on the Go backend; differentiable, unlike graph.Pad).
func zeroPadAxis(x *graph.Node, axis, before, after int) *graph.Node {
	parts := make([]*graph.Node, 0, 3)
	zeros := func(size int) *graph.Node {
		dims := slices.Clone(x.Shape().Dimensions)
		dims[axis] = size
		return graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
	}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	if len(parts) == 1 {
		return x
	}
	return graph.Concatenate(parts, axis)
}

// Conv2DReLU returns ReLU(conv(x, kernel) + bias) with the given stride; on the fast path the
// bias and ReLU are applied in one pass over the MatMul output. bias may be nil.
func Conv2DReLU(x, kernel, bias *graph.Node, stride int) *graph.Node {
	checkShapes(x, kernel, bias, stride)
	if UsesFastPath(x.Graph()) {
		return matmulConv(x, kernel, bias, stride, true)
	}
	return relu(Conv2D(x, kernel, bias, stride))
}

// FoldBatchNormValues is FoldBatchNorm on host values, for frozen layers whose weights do not
// change between runs: folding once when the graph is built saves the per-run fold (on the go
// backend a broadcast multiply over every kernel weight: about a fifth of a batch-1 ResNet50
// forward). kernel is a flattened Keras kernel whose last axis has len(gamma) output channels;
// bias may be nil.
func FoldBatchNormValues(kernel, bias, gamma, beta, mean, variance []float32, epsilon float64) (foldedKernel, foldedBias []float32) {
	cOut := len(gamma)
	if cOut == 0 || len(kernel)%cOut != 0 || len(beta) != cOut || len(mean) != cOut || len(variance) != cOut || (bias != nil && len(bias) != cOut) {
		exceptions.Panicf("conv.FoldBatchNormValues: kernel of %d values and BatchNorm parameters of %d, %d, %d, %d (bias %d) do not match",
			len(kernel), len(gamma), len(beta), len(mean), len(variance), len(bias))
	}
	scale := make([]float32, cOut)
	foldedBias = make([]float32, cOut)
	for c := range cOut {
		// The same float32 operations as scaleShift's graph: γ / √(σ² + ε), β − μ·scale.
		s := gamma[c] / float32(math.Sqrt(float64(variance[c]+float32(epsilon))))
		scale[c] = s
		b := float32(0)
		if bias != nil {
			b = bias[c] * s
		}
		foldedBias[c] = b + (beta[c] - mean[c]*s)
	}
	foldedKernel = make([]float32, len(kernel))
	for i := 0; i < len(kernel); i += cOut {
		for c, s := range scale {
			foldedKernel[i+c] = kernel[i+c] * s
		}
	}
	return foldedKernel, foldedBias
}
