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
	"os"
	"strings"
	"sync/atomic"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
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
	foldedKernel = graph.Mul(kernel, graph.ExpandLeftToRank(scale, kernel.Rank()))
	if bias == nil {
		return foldedKernel, shift
	}
	return foldedKernel, graph.Add(graph.Mul(bias, scale), shift)
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
	patches := Im2Col(x, kh, kw, stride)
	k2 := graph.Reshape(kernel, kh*kw*cIn, cOut)
	if BFloat16() && x.DType() == dtypes.Float32 {
		patches = graph.ConvertDType(patches, dtypes.BFloat16)
		k2 = graph.ConvertDType(k2, dtypes.BFloat16)
		y := graph.Dot(patches, k2).WithOutputDType(dtypes.Float32).General([]int{3}, nil, []int{0}, nil)
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
	// nn.Dense: MatMul, then bias and activation in place on its output on the Go backend
	// (one pass instead of two or three); its gradient is the decomposed ops'.
	return nn.Dense(patches, k2, bias, compute.DenseLayoutInputOutputs, act)
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
