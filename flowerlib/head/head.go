// Package head is what sits on the frozen ResNet50: a GoMLX function from the base's output
// (the 7×7×2048 feature map, or its 2048 pooled values) to the logits of the classes,
//
//	func(scope *model.Scope, x *graph.Node) *graph.Node
//
// written in a notebook cell as the article writes flower_model() in Keras, or as fastai
// takes a custom_head. The layers it offers are Keras' (names, initial values and BatchNorm
// semantics), so that a head maps one to one onto the Keras model it stands for:
//
//	x = head.Flatten(x)                          // Flatten()
//	x = head.BatchNorm(scope, x)                 // BatchNormalization()
//	x = head.Dense(scope, x, 2048, head.HeNormal(42)) // Dense(2048, kernel_initializer=he_normal(seed=42))
//	x = activation.Relu(x)                       //   activation='relu' (GoMLX)
//	x = layers.DropoutStatic(scope, x, 0.5)      // Dropout(0.5) (GoMLX)
//	…
//	return head.Dense(scope, x, 5)               // Dense(5): the logits; the softmax is in the loss
//
// Any GoMLX code works in a head: GoMLX's own layers, ops, other activations. Layers are named
// as Keras names them in a model ("dense", "dense_1", …, "batch_normalization", …), each with
// Keras' weight names (kernel, bias, gamma, beta, moving_mean, moving_variance).
//
// Keras semantics reproduced: BatchNormalization(momentum=0.99, epsilon=1e-3) (internal/nn);
// he_normal is VarianceScaling(2, fan_in, truncated_normal): a normal truncated at 2σ with σ =
// sqrt(2/fan_in)/0.87962566 (so the truncated values have stddev sqrt(2/fan_in)); Dense's
// default is glorot_uniform (limit sqrt(6/(fan_in+fan_out))); biases start at zero. Initial
// values are drawn on the host from the layer's seed, the same on every backend.
//
// Init creates a head's variables in a Store; Describe lists its layers (a Keras-like summary)
// and fingerprints it, so that a run folder knows when its head changed.
package head

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// Func is a head: the model on the frozen base's output x, float32 [batch, …], returning the
// logits [batch, classes]. It creates (or reuses) its variables under scope and may ask
// scope.IsTraining(x.Graph()) whether it is training (BatchNorm, dropout).
type Func = func(scope *model.Scope, x *graph.Node) *graph.Node

// Keras constants the layers reproduce, and ResNet50's output.
const (
	BNMomentum = 0.99
	BNEpsilon  = 1e-3
	// FeatureChannels is ResNet50's last feature depth; FeatureGrid its 7×7 grid at 224².
	FeatureChannels = 2048
	FeatureGrid     = 7
)

// ArticleHidden are the article's hidden Dense widths: Dense(2048), then Dense(1024).
func ArticleHidden() []int { return []int{2048, 1024} }

// Article is the article's flower_model() head for classes outputs:
//
//	Flatten → BatchNormalization → Dense(2048, relu, he_normal(42))
//	        → BatchNormalization → Dense(1024, relu, he_normal(42))
//	        → BatchNormalization → Dense(classes)
//
// with hidden widths (nil: ArticleHidden) and an optional dropout after each hidden layer's
// ReLU (0: none, as the article). On pooled features ([batch, 2048]) the Flatten changes
// nothing: it is the `flowers -head avg|max` head.
func Article(classes int, hidden []int, dropout float64) Func {
	if hidden == nil {
		hidden = ArticleHidden()
	}
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		x = Flatten(x)
		for _, width := range hidden {
			x = BatchNorm(scope, x)
			x = Dense(scope, x, width, HeNormal(42))
			x = activation.Relu(x)
			x = layers.DropoutStatic(scope, x, dropout)
		}
		x = BatchNorm(scope, x)
		return Dense(scope, x, classes) // the logits: the softmax is in the loss
	}
}
