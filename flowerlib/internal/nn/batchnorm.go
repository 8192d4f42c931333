// Package nn holds the one definition of Keras layer semantics that GoMLX does not provide in
// the same form, shared by flowerlib/head and flowerlib/resnet50.
package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// BatchNorm is Keras' BatchNormalization over the last axis (channels/features), with its
// variables gamma, beta, moving_mean and moving_variance.
//
// Training: x is normalised with the batch mean and the biased batch variance over every
// other axis, and the moving statistics become moving·Momentum + batch·(1−Momentum), as
// Keras 3 and tf-keras' non-fused path do (tf-keras' fused NHWC kernel keeps the unbiased
// variance in the moving average: a factor n/(n−1), under 0.1% at batch 32 × 7×7).
// Inference: the moving statistics. GoMLX's layers/norm.BatchNorm updates its averages in a
// separate pass and names its variables otherwise, so Keras weights would not map onto it.
type BatchNorm struct {
	Gamma, Beta, MovingMean, MovingVariance *model.Variable
	Epsilon, Momentum                       float64
}

// Apply returns the normalised x and x̂ = (x − mean)/sqrt(var + ε) (before γ, β).
func (bn BatchNorm) Apply(x *graph.Node, training bool) (y, xhat *graph.Node) {
	g := x.Graph()
	rank := x.Rank()
	var mean, variance *graph.Node
	if training {
		axes := make([]int, rank-1)
		for i := range axes {
			axes[i] = i
		}
		mean = graph.ReduceMean(x, axes...)
		variance = graph.ReduceMean(graph.Square(graph.Sub(x, graph.ExpandLeftToRank(mean, rank))), axes...)
		m := bn.Momentum
		bn.MovingMean.SetNodeValue(graph.Add(graph.MulScalar(bn.MovingMean.NodeValue(g), m), graph.MulScalar(graph.StopGradient(mean), 1-m)))
		bn.MovingVariance.SetNodeValue(graph.Add(graph.MulScalar(bn.MovingVariance.NodeValue(g), m), graph.MulScalar(graph.StopGradient(variance), 1-m)))
	} else {
		mean = bn.MovingMean.NodeValue(g)
		variance = bn.MovingVariance.NodeValue(g)
	}
	// Div rather than Rsqrt: GoMLX has no gradient for Rsqrt.
	xhat = graph.Div(graph.Sub(x, graph.ExpandLeftToRank(mean, rank)), graph.ExpandLeftToRank(graph.Sqrt(graph.AddScalar(variance, bn.Epsilon)), rank))
	y = graph.Add(graph.Mul(xhat, graph.ExpandLeftToRank(bn.Gamma.NodeValue(g), rank)), graph.ExpandLeftToRank(bn.Beta.NodeValue(g), rank))
	return y, xhat
}
