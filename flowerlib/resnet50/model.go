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
// The graph is built by walking Layers, the one description of the model (the layer list
// that model.summary() prints and a weights file is checked against). Every convolution goes
// through flowerlib/internal/conv, which picks the fastest formulation per backend.
//
// Measured: on 16 real sample photos at 224² with the same random Keras-layout weights, the
// pooled features agree with an independent PyTorch ResNet50 (tools/reference) within 4.1e-7
// relative, and the top-5 classes of the with-top model are identical (max probability
// difference 6e-6). Speed: BenchmarkForward and `flowers bench` (docs/BENCHMARKS.md).
package resnet50

import (
	"slices"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Config builds a ResNet50 graph: create it with BuildGraph, configure it with the setters
// (each sets a field of its Options, the one description of a ResNet50 that Layers, Summary
// and NewBase take too), and call Done.
type Config struct {
	scope   *model.Scope
	images  *Node
	weights *weights.File
	opts    Options
	from    string // the layer whose output images is ("": the images)
}

// BuildGraph starts building ResNet50 on images, float32 [batch, height, width, 3] with RGB
// values in 0..255 (Preprocess is applied inside). Variables are created under scope, in
// sub-scopes named after the Keras layers ("conv1_conv/kernel",
// "conv2_block1_1_bn/moving_mean", …).
//
// Defaults are Keras': trainable, no pooling, no top, random (untrained) weights unless
// PreTrained is given. Variables already in the Store (e.g. from a checkpoint) are reused
// as they are: PreTrained only fills the missing ones.
func BuildGraph(scope *model.Scope, images *Node) *Config {
	return &Config{scope: scope, images: images}
}

// With replaces the whole configuration by opts (Height and Width come from the images).
func (c *Config) With(opts Options) *Config {
	c.opts = opts
	return c
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
	c.opts.Frozen = !trainable
	return c
}

// TrainableFrom makes only the layers from the first one whose name starts with layerPrefix
// (in Layers order) trainable, e.g. "conv5" (fine-tune the last stage) or "conv4_block6";
// the layers before it are frozen as with Trainable(false). It implies Trainable(true).
func (c *Config) TrainableFrom(layerPrefix string) *Config {
	c.opts.Frozen = false
	c.opts.TrainableFrom = layerPrefix
	return c
}

// Pooling sets what follows the last block when the top is not included.
func (c *Config) Pooling(p Pooling) *Config {
	c.opts.Pooling = p
	return c
}

// IncludeTop adds global average pooling and the 1000-class "predictions" Dense layer with
// softmax: Done then returns ImageNet class probabilities [batch, 1000].
func (c *Config) IncludeTop(include bool) *Config {
	c.opts.IncludeTop = include
	return c
}

// Done builds the graph and returns the output: [batch, h/32, w/32, 2048] (PoolingNone;
// rounded as the strided convolutions do: 7×7 at 224²), [batch, 2048] with pooling, or
// [batch, 1000] probabilities with the top. It panics on bad shapes or weights.
func (c *Config) Done() *Node { return c.DoneAt("")[0] }

// From makes BuildGraph's input the output of the named layer instead of the images: x is
// then that layer's output [batch, h, w, c] for images height×width (what DoneAt(layer)
// returns, e.g. "conv4_block6_out" [batch, 14, 14, 1024] at 224²), and only the layers after
// it are built, with the same variables (scopes, names, trainability) as the whole model, so
// that both share a Store. Every later layer must depend on the images only through this one
// (CutBefore finds such a layer); Done panics otherwise.
func (c *Config) From(layer string, height, width int) *Config {
	c.from = layer
	c.opts.Height, c.opts.Width = height, width
	return c
}

// DoneAt builds the graph up to the named layers and returns their outputs, e.g.
// DoneAt("conv2_block3_out", "conv3_block4_out") for the stage outputs (the layer names of
// Layers); "" names the model's output. Only the layers the outputs depend on are built.
func (c *Config) DoneAt(names ...string) []*Node {
	layers, first, in := c.input()
	want := make(map[string]int, len(names))
	last := first
	for i, name := range names {
		if name == "" {
			name = layers[len(layers)-1].Name
			names[i] = name
		}
		k := slices.IndexFunc(layers, func(l Layer) bool { return l.Name == name })
		if k < 0 {
			exceptions.Panicf("resnet50.BuildGraph(): no layer %q (see resnet50.Layers for the names)", name)
		}
		if k < first {
			exceptions.Panicf("resnet50.BuildGraph(): layer %q comes before From(%q): it is not built", name, c.from)
		}
		want[name] = k
		last = max(last, k)
	}
	b := &builder{scope: c.scope, g: in.Graph(), layers: layers, values: map[string]*Node{}}
	if c.weights != nil {
		var err error
		if b.pretrained, err = weightsByName(c.weights, c.opts.IncludeTop); err != nil {
			panic(err)
		}
	}
	b.training = c.scope.IsTraining(b.g)
	b.differentiable = b.training && !c.opts.Frozen
	b.values[layers[first].Name] = in
	for i := first + 1; i <= last; i++ {
		b.layer(i)
	}
	out := make([]*Node, len(names))
	for i, name := range names {
		out[i] = b.values[name]
	}
	return out
}

// input checks BuildGraph's input and returns the layers, the index of the layer whose output
// the input is (0, the input layer, without From) and that output (the preprocessed images
// without From).
func (c *Config) input() ([]Layer, int, *Node) {
	x := c.images
	if c.from == "" {
		if x.Rank() != 4 || x.Shape().Dimensions[3] != 3 {
			exceptions.Panicf("resnet50.BuildGraph(): images must be [batch, height, width, 3] (NHWC RGB), got shape %s", x.Shape())
		}
		c.opts.Height, c.opts.Width = x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	}
	if x.DType() != dtypes.Float32 {
		exceptions.Panicf("resnet50.BuildGraph(): the input must be float32, got shape %s", x.Shape())
	}
	layers, err := Layers(c.opts)
	if err != nil {
		exceptions.Panicf("resnet50.BuildGraph(): %v (input %s)", err, x.Shape())
	}
	if c.from == "" {
		return layers, 0, Preprocess(x)
	}
	k, err := cutAt(layers, c.from)
	if err != nil {
		exceptions.Panicf("resnet50.BuildGraph(): From(%q): %v", c.from, err)
	}
	if want := append([]int{x.Shape().Dimensions[0]}, layers[k].OutputShape...); !slices.Equal(x.Shape().Dimensions, want) {
		exceptions.Panicf("resnet50.BuildGraph(): From(%q) at %d×%d: the input must be the layer's output %v, got shape %s",
			c.from, c.opts.Height, c.opts.Width, want, x.Shape())
	}
	return layers, k, x
}

// Preprocess is keras.applications.resnet50.preprocess_input ('caffe' mode) on float32 NHWC
// RGB values in 0..255: it flips RGB→BGR and subtracts the ImageNet channel means
// [103.939, 116.779, 123.68] (B, G, R), without scaling. The output is what the Keras ResNet50
// (and its weights) expect. Input in 0..1 (the article's rescale=1/255) is wrong for these
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

type builder struct {
	scope      *model.Scope
	g          *Graph
	layers     []Layer
	values     map[string]*Node           // layer name → output
	pretrained map[string]*weights.Tensor // "layer/weight" → pre-trained value
	training   bool                       // graph is a training step
	// differentiable: gradients flow into the base (training a trainable base).
	differentiable bool
}

// layer builds layer i of b.layers from its inputs' outputs. A Conv2D is built together with
// the BatchNormalization that follows it (and that one's ReLU), so that frozen layers fold
// into one convolution: its own output is never needed on its own.
func (b *builder) layer(i int) {
	l := &b.layers[i]
	if _, done := b.values[l.Name]; done {
		return
	}
	in := func(k int) *Node {
		v, ok := b.values[l.Inputs[k]]
		if !ok {
			exceptions.Panicf("resnet50: layer %q needs %q, not built yet", l.Name, l.Inputs[k])
		}
		return v
	}
	switch l.Type {
	case "ZeroPadding2D":
		b.values[l.Name] = b.zeroPad(in(0), (l.OutputShape[0]-b.layerByName(l.Inputs[0]).OutputShape[0])/2)
	case "Conv2D":
		bn := b.consumer(l.Name, "BatchNormalization")
		if bn == nil {
			exceptions.Panicf("resnet50: convolution %q has no BatchNormalization after it", l.Name)
		}
		relu := b.consumer(bn.Name, "Activation")
		y := b.convBN(in(0), l, bn, relu != nil)
		b.values[l.Name] = nil // folded: not available on its own
		b.values[bn.Name] = y
		if relu != nil {
			b.values[relu.Name] = y
		}
	case "BatchNormalization":
		exceptions.Panicf("resnet50: BatchNormalization %q without its convolution", l.Name)
	case "Activation":
		b.values[l.Name] = activation.Relu(in(0))
	case "MaxPooling2D":
		if b.differentiable && !conv.UsesFastPath(b.g) && backend.IsGo(b.g.Backend()) {
			exceptions.Panicf("resnet50: training the base on the go backend needs the fast convolution path " +
				"(graph.MaxPool has no gradient there): unset FLOWERS_CONV=native")
		}
		b.values[l.Name] = conv.MaxPool2D(in(0), l.Kernel, l.Stride)
	case "Add":
		b.values[l.Name] = Add(in(0), in(1))
	case "GlobalAveragePooling2D":
		b.values[l.Name] = ReduceMean(in(0), 1, 2)
	case "GlobalMaxPooling2D":
		b.values[l.Name] = ReduceMax(in(0), 1, 2)
	case "Dense":
		b.values[l.Name] = Softmax(b.dense(in(0), l), -1)
	default:
		exceptions.Panicf("resnet50: layer %q of unknown type %q", l.Name, l.Type)
	}
}

func (b *builder) layerByName(name string) *Layer {
	for i := range b.layers {
		if b.layers[i].Name == name {
			return &b.layers[i]
		}
	}
	return nil
}

// consumer returns the layer of the given type whose only input is name, if any.
func (b *builder) consumer(name, typ string) *Layer {
	for i := range b.layers {
		if l := &b.layers[i]; l.Type == typ && len(l.Inputs) == 1 && l.Inputs[0] == name {
			return l
		}
	}
	return nil
}

// zeroPad is Keras' ZeroPadding2D(n); "same" 3×3 convolutions pad by 1 the same way. Graphs
// that train the base use conv.ZeroPad2D (graph.Pad has no gradient in GoMLX v0.28).
func (b *builder) zeroPad(x *Node, n int) *Node {
	if b.differentiable {
		return conv.ZeroPad2D(x, n)
	}
	return Pad(x, ScalarZero(x.Graph(), x.DType()),
		compute.PadAxis{}, compute.PadAxis{Start: n, End: n}, compute.PadAxis{Start: n, End: n}, compute.PadAxis{})
}

// variable returns layer l's weight w: the existing variable, else one created from the
// pre-trained weights, else one from its initializer. Trainability is the weight's in Layers.
func (b *builder) variable(l *Layer, w Weight) *model.Variable {
	scope := b.scope.At("%s", l.Name)
	v := scope.GetVariable(w.Name)
	shape := shapes.Make(dtypes.Float32, w.Shape...)
	if v == nil {
		if t := b.pretrained[l.Name+"/"+w.Name]; t != nil {
			var err error
			if v, err = scope.CreateVariable(w.Name, tensorFromWeights(t)); err != nil {
				panic(err)
			}
		} else {
			v = scope.WithInitializer(initializerOf(b.scope, w.Name)).VariableWithShape(w.Name, shape)
		}
	} else if !v.Shape().Equal(shape) {
		exceptions.Panicf("resnet50.BuildGraph(): variable %q has shape %s, ResNet50 needs %s", v.Path(), v.Shape(), shape)
	}
	v.SetTrainable(w.Trainable)
	return v
}

// initializerOf is Keras' initializer for a weight of that name (untrained models).
func initializerOf(scope *model.Scope, name string) model.VariableInitializer {
	switch name {
	case "kernel":
		return initializer.GlorotUniformFn(scope)
	case "gamma", "moving_variance":
		return initializer.One
	}
	return initializer.Zero
}

// convBN is a Conv2D layer c followed by its BatchNormalization bn and, with withReLU, the
// ReLU: folded into one inference op when the BN is frozen or the graph is not training,
// Keras' training-mode BatchNorm otherwise.
func (b *builder) convBN(x *Node, c, bnLayer *Layer, withReLU bool) *Node {
	kernelVar, biasVar := b.variable(c, c.Weights[0]), b.variable(c, c.Weights[1])
	v := make([]*model.Variable, 6) // kernel, bias, gamma, beta, moving_mean, moving_variance
	v[0], v[1] = kernelVar, biasVar
	for i, w := range bnLayer.Weights {
		v[2+i] = b.variable(bnLayer, w)
	}
	if c.Padding == "same" {
		x = b.zeroPad(x, (c.Kernel-1)/2)
	}
	if !bnLayer.Weights[0].Trainable && !c.Weights[0].Trainable && conv.UsesFastPath(b.g) {
		// Frozen on the fast path: fold the BatchNorm into the kernel once, on the host, now
		// (the values cannot change while the graph lives), instead of in every run.
		if k, bb, ok := foldOnHost(c, v, c.Weights[0].Shape); ok {
			kernelC, biasC := ConstTensor(b.g, k), ConstTensor(b.g, bb)
			if withReLU {
				return conv.Conv2DReLU(x, kernelC, biasC, c.Stride)
			}
			return conv.Conv2D(x, kernelC, biasC, c.Stride)
		}
	}
	if !bnLayer.Weights[0].Trainable || !b.training {
		kernel, bias := kernelVar.NodeValue(b.g), biasVar.NodeValue(b.g)
		folded := conv.BatchNorm{Gamma: v[2].NodeValue(b.g), Beta: v[3].NodeValue(b.g),
			MovingMean: v[4].NodeValue(b.g), MovingVariance: v[5].NodeValue(b.g), Epsilon: BatchNormEpsilon}
		if withReLU {
			return conv.Conv2DBatchNormReLU(x, kernel, bias, folded, c.Stride)
		}
		return conv.Conv2DBatchNorm(x, kernel, bias, folded, c.Stride)
	}
	bn := nn.BatchNorm{Gamma: v[2], Beta: v[3], MovingMean: v[4], MovingVariance: v[5],
		Epsilon: BatchNormEpsilon, Momentum: BatchNormMomentum}
	y, _ := bn.Apply(conv.Conv2D(x, kernelVar.NodeValue(b.g), biasVar.NodeValue(b.g), c.Stride), true)
	if withReLU {
		y = activation.Relu(y)
	}
	return y
}

// foldOnHost folds a frozen BatchNorm into its convolution's kernel and bias from the
// variables' current values (v: kernel, bias, gamma, beta, moving_mean, moving_variance); ok
// is false when a variable has no value yet (an untrained model initialised in the graph).
func foldOnHost(c *Layer, v []*model.Variable, kernelDims []int) (kernel, bias *tensors.Tensor, ok bool) {
	vals := make([][]float32, len(v))
	for i, vr := range v {
		if !vr.HasValue() {
			return nil, nil, false
		}
		vals[i] = tensors.MustCopyFlatData[float32](vr.MustValue())
	}
	k, b := conv.FoldBatchNormValues(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], BatchNormEpsilon)
	return tensors.FromFlatDataAndDimensions(k, kernelDims...), tensors.FromFlatDataAndDimensions(b, len(b)), true
}

// dense is the top's Dense layer (logits; the softmax is the layer's activation).
func (b *builder) dense(x *Node, l *Layer) *Node {
	kernel := b.variable(l, l.Weights[0]).NodeValue(b.g)
	bias := b.variable(l, l.Weights[1]).NodeValue(b.g)
	return Add(MatMul(x, kernel), ExpandLeftToRank(bias, 2))
}
