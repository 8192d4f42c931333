// Package resnet50 is Keras' ResNet50 (keras.applications.ResNet50, ResNet v1 as in Keras'
// applications/resnet.py) in GoMLX: same layers, same layer and weight names, same numbers,
// so a Keras weights file maps onto it one to one.
//
// Architecture details that matter for exact agreement with Keras: convolutions have biases;
// BatchNormalization epsilon is 1.001e-5; the stem is ZeroPadding2D(3) → 7×7/2 valid conv →
// BN → ReLU → ZeroPadding2D(1) → 3×3/2 valid max-pool; in stages 3–5 the stride 2 is on the
// first 1×1 convolution of block1 (and on its 1×1 shortcut); 3×3 convolutions use "same"
// padding. Input is NHWC float32 after Preprocess ('caffe' mode: BGR, mean-subtracted, no
// scaling), any size ≥ 32×32.
//
// Every convolution goes through flowerlib/internal/conv, which picks the fastest formulation
// per backend.
//
// Measured: on 16 real sample photos at 224² with the same random Keras-layout weights, the
// pooled features agree with an independent PyTorch ResNet50 (tools/reference) within 4.1e-7
// relative, and the top-5 classes of the with-top model are identical (max probability
// difference 6e-6). Speed: BenchmarkForward and `flowers bench` (docs/BENCHMARKS.md).
package resnet50

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Config builds a ResNet50 graph; create it with BuildGraph, configure it with the setters,
// and call Done.
type Config struct {
	scope         *model.Scope
	images        *Node
	weights       *weights.File
	trainable     bool
	trainableFrom string
	pooling       Pooling
	includeTop    bool
	preprocessed  bool
}

// BuildGraph starts building ResNet50 on images, float32 [batch, height, width, 3] with RGB
// values in 0..255 (Preprocess is applied inside, unless Preprocessed(true)). Variables are
// created under scope, in sub-scopes named after the Keras layers ("conv1_conv/kernel",
// "conv2_block1_1_bn/moving_mean", …).
//
// Defaults are Keras': trainable, no pooling, no top, random (untrained) weights unless
// PreTrained is given. Variables already in the Store (e.g. from a checkpoint) are reused
// as they are: PreTrained only fills the missing ones.
func BuildGraph(scope *model.Scope, images *Node) *Config {
	return &Config{scope: scope, images: images, trainable: true}
}

// PreTrained sets the weights (e.g. from weights.ReadH5 or RandomWeights) for the variables not
// yet in the Store. Done checks the whole file against the model first and panics with one
// error naming every missing, unexpected or mis-shaped tensor (see CheckWeights).
func (c *Config) PreTrained(w *weights.File) *Config {
	c.weights = w
	return c
}

// Trainable(false) freezes the whole model, as Keras' `base_model.trainable = False`: its
// variables are marked non-trainable (optimizers skip them) and BatchNorm always uses its
// moving statistics. Trainable(true), the default, trains everything: BatchNorm then uses the
// batch statistics while the graph is training (model.Store.IsTraining) and updates its moving
// averages with momentum 0.99, as Keras does.
func (c *Config) Trainable(trainable bool) *Config {
	c.trainable = trainable
	return c
}

// TrainableFrom makes only the layers from the first one whose name starts with layerPrefix
// (in Layers order) trainable, e.g. "conv5" (fine-tune the last stage) or "conv4_block6";
// the layers before it are frozen as with Trainable(false). It implies Trainable(true).
func (c *Config) TrainableFrom(layerPrefix string) *Config {
	c.trainable = true
	c.trainableFrom = layerPrefix
	return c
}

// Pooling sets what follows the last block when the top is not included.
func (c *Config) Pooling(p Pooling) *Config {
	c.pooling = p
	return c
}

// IncludeTop adds global average pooling and the 1000-class "predictions" Dense layer with
// softmax: Done then returns ImageNet class probabilities [batch, 1000].
func (c *Config) IncludeTop(include bool) *Config {
	c.includeTop = include
	return c
}

// Preprocessed(true) says images already went through Preprocess (BGR, mean subtracted).
func (c *Config) Preprocessed(preprocessed bool) *Config {
	c.preprocessed = preprocessed
	return c
}

// Done builds the graph and returns the output: [batch, h/32, w/32, 2048] (PoolingNone;
// rounded as the strided convolutions do: 7×7 at 224²), [batch, 2048] with pooling, or
// [batch, 1000] probabilities with the top. It panics on bad shapes or weights.
func (c *Config) Done() *Node {
	x := c.images
	if x.Rank() != 4 || x.Shape().Dimensions[3] != 3 {
		exceptions.Panicf("resnet50.BuildGraph(): images must be [batch, height, width, 3] (NHWC RGB), got shape %s", x.Shape())
	}
	if h, w := x.Shape().Dimensions[1], x.Shape().Dimensions[2]; h < MinSize || w < MinSize {
		exceptions.Panicf("resnet50.BuildGraph(): images must be at least %d×%d, got shape %s", MinSize, MinSize, x.Shape())
	}
	if x.DType() != dtypes.Float32 {
		exceptions.Panicf("resnet50.BuildGraph(): images must be float32, got shape %s", x.Shape())
	}
	if c.pooling < PoolingNone || c.pooling > PoolingMax {
		exceptions.Panicf("resnet50.BuildGraph(): invalid pooling %d", int(c.pooling))
	}
	trainable, err := trainableLayers(c.trainable, c.trainableFrom, c.includeTop)
	if err != nil {
		panic(err)
	}
	b := &builder{scope: c.scope, g: x.Graph(), trainable: trainable}
	if c.weights != nil {
		b.values, err = weightsByName(c.weights, c.includeTop)
		if err != nil {
			panic(err)
		}
	}
	b.training = c.scope.IsTraining(b.g)
	b.differentiable = b.training && c.trainable

	if !c.preprocessed {
		x = Preprocess(x)
	}
	x = zeroPad(x, 3, b.differentiable) // conv1_pad
	x = b.convBN(x, "conv1", 2, true)   // conv1_conv, conv1_bn, conv1_relu
	x = zeroPad(x, 1, b.differentiable) // pool1_pad: zeros are safe after the ReLU
	if b.differentiable && !conv.UsesFastPath(b.g) {
		x = maxPool3x3s2(x) // pool1_pool; graph.MaxPool has no gradient on the go backend
	} else {
		x = conv.MaxPool2D(x, 3, 2) // pool1_pool
	}
	for _, st := range stages {
		x = b.stack1(x, st.filters, st.blocks, st.stride, st.name)
	}
	switch {
	case c.includeTop:
		x = ReduceMean(x, 1, 2) // avg_pool
		x = b.dense(x, TopLayerName)
		x = Softmax(x, -1)
	case c.pooling == PoolingAvg:
		x = ReduceMean(x, 1, 2)
	case c.pooling == PoolingMax:
		x = ReduceMax(x, 1, 2)
	}
	return x
}

// Preprocess is keras.applications.resnet50.preprocess_input ('caffe' mode) on float32 NHWC
// RGB values in 0..255: it flips RGB→BGR and subtracts the ImageNet channel means
// [103.939, 116.779, 123.68] (B, G, R), without scaling. The output is what the Keras ResNet50
// (and its weights) expect. Input in 0..1 (the seed article's rescale=1/255) is wrong for these
// weights: the Extractor warns about it.
func Preprocess(x *Node) *Node {
	if x.Rank() < 1 || x.Shape().Dimensions[x.Rank()-1] != 3 {
		exceptions.Panicf("resnet50.Preprocess(): the last axis must be 3 RGB channels, got shape %s", x.Shape())
	}
	axis := x.Rank() - 1
	// Channel slices rather than Reverse: GoMLX has no gradient for Reverse.
	bgr := Concatenate([]*Node{SliceAxis(x, axis, AxisElem(2)), SliceAxis(x, axis, AxisElem(1)), SliceAxis(x, axis, AxisElem(0))}, axis)
	mean := Const(x.Graph(), []float32{103.939, 116.779, 123.68})
	return Sub(bgr, ConvertDType(ExpandLeftToRank(mean, x.Rank()), x.DType()))
}

// zeroPad pads the two spatial axes of NHWC x with n zeros on each side (Keras ZeroPadding2D(n)).
// GoMLX's Pad has no gradient, so training graphs concatenate zeros instead.
func zeroPad(x *Node, n int, differentiable bool) *Node {
	if !differentiable {
		return Pad(x, ScalarZero(x.Graph(), x.DType()),
			compute.PadAxis{}, compute.PadAxis{Start: n, End: n}, compute.PadAxis{Start: n, End: n}, compute.PadAxis{})
	}
	for axis := 1; axis <= 2; axis++ {
		dims := slices.Clone(x.Shape().Dimensions)
		dims[axis] = n
		zeros := Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
		x = Concatenate([]*Node{zeros, x, zeros}, axis)
	}
	return x
}

// maxPool3x3s2 is a 3×3/2 valid max-pool of NHWC x as the maximum of the 9 strided views:
// differentiable where graph.MaxPool is not (go backend, native convolution mode).
func maxPool3x3s2(x *Node) *Node {
	h, w := x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	oh, ow := (h-3)/2+1, (w-3)/2+1
	var out *Node
	for i := range 3 {
		for j := range 3 {
			view := Slice(x, AxisRange(), AxisRange(i, i+2*(oh-1)+1).Stride(2), AxisRange(j, j+2*(ow-1)+1).Stride(2))
			if out == nil {
				out = view
			} else {
				out = Max(out, view)
			}
		}
	}
	return out
}

type builder struct {
	scope     *model.Scope
	g         *Graph
	trainable map[string]bool            // layers whose kernel/bias/gamma/beta train
	values    map[string]*weights.Tensor // "layer/weight" → pre-trained value
	training  bool                       // graph is a training step
	// differentiable: gradients flow into the base (training a trainable base).
	differentiable bool
}

// variable returns the value node of layer/name: the existing variable, else one created from
// the pre-trained weights, else one from init. Trainability follows the configuration (moving
// statistics are never trainable, as in Keras).
func (b *builder) variable(layer, name string, dims []int, init model.VariableInitializer, trainable bool) *model.Variable {
	scope := b.scope.At("%s", layer)
	v := scope.GetVariable(name)
	shape := shapes.Make(dtypes.Float32, dims...)
	if v == nil {
		if t := b.values[layer+"/"+name]; t != nil {
			var err error
			v, err = scope.CreateVariable(name, tensorFromWeights(t))
			if err != nil {
				panic(err)
			}
		} else {
			v = scope.WithInitializer(init).VariableWithShape(name, shape)
		}
	} else if !v.Shape().Equal(shape) {
		exceptions.Panicf("resnet50.BuildGraph(): variable %q has shape %s, ResNet50 needs %s", v.Path(), v.Shape(), shape)
	}
	v.SetTrainable(trainable)
	return v
}

// convBN is a Conv2D (valid padding) named name+"_conv" followed by its BatchNormalization
// name+"_bn" and, with withReLU, the ReLU name+"_relu": folded into one inference op when
// frozen or not training, Keras' training-mode BatchNorm otherwise.
func (b *builder) convBN(x *Node, name string, stride int, withReLU bool) *Node {
	convName, bnName := name+"_conv", name+"_bn"
	cIn := x.Shape().Dimensions[3]
	var kh, cOut int
	if name == "conv1" {
		kh, cOut = 7, 64
	} else {
		kh, cOut = b.convDims(name)
	}
	trainConv, trainBN := b.trainable[convName], b.trainable[bnName]
	kernel := b.variable(convName, "kernel", []int{kh, kh, cIn, cOut}, initializer.GlorotUniformFn(b.scope), trainConv).NodeValue(b.g)
	bias := b.variable(convName, "bias", []int{cOut}, initializer.Zero, trainConv).NodeValue(b.g)
	gammaVar := b.variable(bnName, "gamma", []int{cOut}, initializer.One, trainBN)
	betaVar := b.variable(bnName, "beta", []int{cOut}, initializer.Zero, trainBN)
	meanVar := b.variable(bnName, "moving_mean", []int{cOut}, initializer.Zero, false)
	varVar := b.variable(bnName, "moving_variance", []int{cOut}, initializer.One, false)
	bn := conv.BatchNorm{
		Gamma: gammaVar.NodeValue(b.g), Beta: betaVar.NodeValue(b.g),
		MovingMean: meanVar.NodeValue(b.g), MovingVariance: varVar.NodeValue(b.g),
		Epsilon: BatchNormEpsilon,
	}
	if kh == 3 {
		x = zeroPad(x, 1, b.differentiable) // Keras padding="same" for 3×3/1
	}
	if !trainBN || !b.training {
		if withReLU {
			return conv.Conv2DBatchNormReLU(x, kernel, bias, bn, stride)
		}
		return conv.Conv2DBatchNorm(x, kernel, bias, bn, stride)
	}
	y := batchNormTraining(conv.Conv2D(x, kernel, bias, stride), bn, meanVar, varVar)
	if withReLU {
		y = relu(y)
	}
	return y
}

// convDims returns the kernel size and output channels of the convolution of a block layer
// named like "conv3_block1_2" from its stage and position.
func (b *builder) convDims(name string) (kernel, filters int) {
	for _, st := range stages {
		if strings.HasPrefix(name, st.name+"_") {
			switch name[len(name)-2:] {
			case "_1":
				return 1, st.filters
			case "_2":
				return 3, st.filters
			default: // _0 shortcut and _3
				return 1, 4 * st.filters
			}
		}
	}
	exceptions.Panicf("resnet50: unknown convolution %q", name)
	return
}

// batchNormTraining is Keras' BatchNormalization in training mode: it normalizes y with the
// batch mean and (biased) variance over batch, height and width, and sets the moving averages
// to moving·0.99 + batch·0.01. The moving variance uses the biased batch variance, as Keras 3
// does; TF-Keras 2's fused kernel uses the unbiased one, a factor n/(n−1) with n = batch·h·w
// (under 0.1% at batch 32, 7×7).
func batchNormTraining(y *Node, bn conv.BatchNorm, meanVar, varVar *model.Variable) *Node {
	mean := ReduceAndKeep(y, ReduceMean, 0, 1, 2)
	centered := Sub(y, mean)
	variance := ReduceAndKeep(Square(centered), ReduceMean, 0, 1, 2)
	normalized := Div(centered, Sqrt(AddScalar(variance, BatchNormEpsilon))) // Rsqrt has no gradient in GoMLX
	out := Add(Mul(normalized, ExpandLeftToRank(bn.Gamma, 4)), ExpandLeftToRank(bn.Beta, 4))
	m := BatchNormMomentum
	batchMean, batchVar := StopGradient(Reshape(mean, -1)), StopGradient(Reshape(variance, -1))
	meanVar.SetNodeValue(Add(MulScalar(bn.MovingMean, m), MulScalar(batchMean, 1-m)))
	varVar.SetNodeValue(Add(MulScalar(bn.MovingVariance, m), MulScalar(batchVar, 1-m)))
	return out
}

// block1 mirrors Keras' resnet.block1 (bottleneck block, stride on the first 1×1 conv).
func (b *builder) block1(x *Node, filters, stride int, convShortcut bool, name string) *Node {
	_ = filters // encoded in the layer names, see convDims
	shortcut := x
	if convShortcut {
		shortcut = b.convBN(x, name+"_0", stride, false)
	}
	x = b.convBN(x, name+"_1", stride, true)
	x = b.convBN(x, name+"_2", 1, true)
	x = b.convBN(x, name+"_3", 1, false)
	return relu(Add(shortcut, x)) // _add, _out
}

// stack1 mirrors Keras' resnet.stack1.
func (b *builder) stack1(x *Node, filters, blocks, stride1 int, name string) *Node {
	x = b.block1(x, filters, stride1, true, name+"_block1")
	for i := 2; i <= blocks; i++ {
		x = b.block1(x, filters, 1, false, fmt.Sprintf("%s_block%d", name, i))
	}
	return x
}

// dense is the top's Dense layer (logits; softmax applied by the caller).
func (b *builder) dense(x *Node, name string) *Node {
	train := b.trainable[name]
	kernel := b.variable(name, "kernel", []int{FeatureChannels, NumClasses}, initializer.GlorotUniformFn(b.scope), train).NodeValue(b.g)
	bias := b.variable(name, "bias", []int{NumClasses}, initializer.Zero, train).NodeValue(b.g)
	return Add(MatMul(x, kernel), ExpandLeftToRank(bias, 2))
}

func relu(x *Node) *Node { return Max(x, ScalarZero(x.Graph(), x.DType())) }
