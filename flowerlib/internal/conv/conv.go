// Package conv holds the 2D convolution used by flowerlib's ResNet50, chosen per backend:
// XLA keeps its native convolution (fast there); GoMLX's pure-Go backend gets a faster
// formulation (1×1 as MatMul, k×k via im2col) because its native Convolve is ~300× slower
// than PyTorch on CPU.
//
// All functions take NHWC input x [batch, h, w, cIn] and a Keras kernel [kh, kw, cIn, cOut],
// and use "valid" padding: callers pad explicitly, as Keras' ZeroPadding2D does.
package conv

import (
	"github.com/gomlx/gomlx/core/graph"
)

// Conv2D returns conv(x, kernel) + bias with the given stride; bias [cOut] may be nil.
func Conv2D(x, kernel, bias *graph.Node, stride int) *graph.Node {
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

// Conv2DBatchNorm returns BN(conv(x, kernel) + bias) using the moving statistics
// (frozen inference). It may fold the BatchNorm into the kernel and bias.
func Conv2DBatchNorm(x, kernel, bias *graph.Node, bn BatchNorm, stride int) *graph.Node {
	y := Conv2D(x, kernel, bias, stride)
	scale := graph.Mul(bn.Gamma, graph.Rsqrt(graph.AddScalar(bn.MovingVariance, bn.Epsilon)))
	shift := graph.Sub(bn.Beta, graph.Mul(bn.MovingMean, scale))
	return graph.Add(graph.Mul(y, graph.ExpandLeftToRank(scale, y.Rank())), graph.ExpandLeftToRank(shift, y.Rank()))
}
