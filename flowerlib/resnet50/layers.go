package resnet50

import (
	"fmt"
	"strings"

	"github.com/pkg/errors"
)

// Pooling selects what follows the last residual block when the top is not included,
// as Keras' `pooling` argument of ResNet50.
type Pooling int

const (
	// PoolingNone outputs the last block's feature map, [batch, h/32, w/32, 2048] ([batch, 7, 7, 2048] at 224²).
	PoolingNone Pooling = iota
	// PoolingAvg outputs the global average over the spatial axes, [batch, 2048] (Keras layer "avg_pool").
	PoolingAvg
	// PoolingMax outputs the global maximum over the spatial axes, [batch, 2048] (Keras layer "max_pool").
	PoolingMax
)

// String returns "none", "avg" or "max", as accepted by ParsePooling.
func (p Pooling) String() string {
	switch p {
	case PoolingNone:
		return "none"
	case PoolingAvg:
		return "avg"
	case PoolingMax:
		return "max"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// ParsePooling parses "none" (or ""), "avg" or "max".
func ParsePooling(s string) (Pooling, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return PoolingNone, nil
	case "avg", "average", "mean":
		return PoolingAvg, nil
	case "max":
		return PoolingMax, nil
	}
	return PoolingNone, errors.Errorf("unknown pooling %q: use none, avg or max", s)
}

const (
	// DefaultSize is the input height and width the ImageNet weights were trained at.
	DefaultSize = 224
	// MinSize is the smallest input height or width: below it the last stage has no pixel left.
	MinSize = 32
	// NumClasses is the number of ImageNet classes of the top ("predictions").
	NumClasses = 1000
	// FeatureChannels is the number of channels of the last block's output.
	FeatureChannels = 2048
	// BatchNormEpsilon is Keras ResNet50's BatchNormalization epsilon.
	BatchNormEpsilon = 1.001e-5
	// BatchNormMomentum is Keras' BatchNormalization momentum for the moving averages:
	// moving = moving·momentum + batch·(1-momentum).
	BatchNormMomentum = 0.99
	// InputLayerName is the name Keras 2 gives the input layer of keras.applications.ResNet50.
	InputLayerName = "input_1"
	// TopLayerName is the name of the 1000-class Dense layer of the top.
	TopLayerName = "predictions"
)

// Options describe a ResNet50: the one configuration that Layers, Summary, NewBase and
// the graph builder (BuildGraph's setters) share. The zero value is Keras'
// ResNet50(include_top=False, pooling=None, input 224×224), trainable.
type Options struct {
	// IncludeTop adds "avg_pool" and the 1000-class softmax "predictions" (Pooling is then ignored).
	IncludeTop bool
	// Pooling after the last block when IncludeTop is false.
	Pooling Pooling
	// Height, Width of the input images; 0 means DefaultSize. At least MinSize.
	Height, Width int
	// Frozen marks every weight non-trainable (Keras `base_model.trainable = False`); BatchNorm
	// then always uses its moving statistics. NewBase always runs the frozen model.
	Frozen bool
	// TrainableFrom, if set, makes only the layers from the first one whose name starts with
	// this prefix (in Layers order) trainable, e.g. "conv5" or "conv4_block6".
	TrainableFrom string
	// Outputs, for NewBase, names layers whose outputs to return instead of the model's
	// (e.g. the stage outputs, StageOutputs): each is pooled (Pooling must be avg or max) and
	// they are concatenated in order, [n, Σ channels]. One pass computes them all.
	Outputs []string
	// StopAt, for NewBase, names a layer whose output map to return as it is, e.g.
	// "conv4_block6_out" [n, 14, 14, 1024] at 224² (Pooling and the top do not apply): the
	// input of a model built From that layer. Not with Outputs; not a Conv2D (see CutBefore).
	StopAt string
}

// StageOutputs are the outputs of ResNet50's four stages, early (general) to late (specific).
var StageOutputs = []string{"conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"}

func (o Options) size() (h, w int) {
	h, w = o.Height, o.Width
	if h == 0 {
		h = DefaultSize
	}
	if w == 0 {
		w = DefaultSize
	}
	return
}

func (o Options) validate() error {
	h, w := o.size()
	if h < MinSize || w < MinSize {
		return errors.Errorf("resnet50: input %d×%d is too small, height and width must be at least %d", h, w, MinSize)
	}
	if o.Pooling < PoolingNone || o.Pooling > PoolingMax {
		return errors.Errorf("resnet50: invalid pooling %d", int(o.Pooling))
	}
	if len(o.Outputs) > 0 && (o.Pooling == PoolingNone || o.IncludeTop) {
		return errors.Errorf("resnet50: Outputs %v need avg or max pooling and no top (maps of different sizes cannot be concatenated)", o.Outputs)
	}
	if o.StopAt != "" && len(o.Outputs) > 0 {
		return errors.Errorf("resnet50: StopAt %q and Outputs %v are exclusive", o.StopAt, o.Outputs)
	}
	return nil
}

// Weight describes one weight of a Layer: its short Keras name ("kernel", "bias", "gamma",
// "beta", "moving_mean", "moving_variance"), shape (Keras order: conv kernels [kh, kw, in, out],
// Dense kernels [in, out]) and whether Keras counts it as trainable (the BatchNorm moving
// statistics never are).
type Weight struct {
	Name      string
	Shape     []int
	Trainable bool
}

// Size returns the number of values of the weight.
func (w Weight) Size() int {
	n := 1
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// Layer is one Keras layer of ResNet50, as listed by Keras' model.layers and model.summary().
type Layer struct {
	// Name is the Keras layer name, e.g. "conv2_block1_0_conv"; it is also the variable scope.
	Name string
	// Type is the Keras class name, e.g. "Conv2D", "BatchNormalization", "Add".
	Type string
	// OutputShape without the batch axis, e.g. [56, 56, 256].
	OutputShape []int
	// Inputs are the names of the layers feeding this one (Keras "Connected to").
	Inputs []string
	// Weights in Keras' weight_names order (kernel, bias; gamma, beta, moving_mean, moving_variance).
	Weights []Weight
	// Stride of a Conv2D or pooling layer; Kernel is its window (1, 3 or 7).
	Stride, Kernel int
	// Padding of a Conv2D: "valid" (ResNet50 pads explicitly) or "same" (the 3×3/1 ones).
	Padding string
}

// NumParams returns the number of values in the layer's weights, and how many are trainable.
func (l *Layer) NumParams() (total, trainable int) {
	for _, w := range l.Weights {
		total += w.Size()
		if w.Trainable {
			trainable += w.Size()
		}
	}
	return
}

// KerasWeightName returns the name of weight i as stored in a Keras weights file,
// e.g. "conv1_conv/kernel:0".
func (l *Layer) KerasWeightName(i int) string {
	return l.Name + "/" + l.Weights[i].Name + ":0"
}

// layerList builds the layer list in Keras' model.layers order. For the functional ResNet50
// that order is Keras' topological sort by depth: inside a block with a convolution
// shortcut, the shortcut's 0_conv comes after the main path's 2_relu, and 0_bn after 3_conv.
type layerList struct {
	layers []Layer
	h, w   int // current spatial size
	c      int // current channels
}

func (ll *layerList) add(l Layer) string {
	ll.layers = append(ll.layers, l)
	return l.Name
}

// convLayer returns a Conv2D layer with bias: "valid" padding (ResNet50 pads explicitly),
// or same=true for the 3×3/1 convolutions Keras builds with padding="same".
func convLayer(name, input string, inShape []int, kernel, stride, filters int, same bool) Layer {
	h, w := inShape[0], inShape[1]
	padding := "same"
	if !same {
		h = (h-kernel)/stride + 1
		w = (w-kernel)/stride + 1
		padding = "valid"
	}
	return Layer{
		Name: name, Type: "Conv2D", OutputShape: []int{h, w, filters}, Inputs: []string{input},
		Stride: stride, Kernel: kernel, Padding: padding,
		Weights: []Weight{
			{Name: "kernel", Shape: []int{kernel, kernel, inShape[2], filters}, Trainable: true},
			{Name: "bias", Shape: []int{filters}, Trainable: true},
		},
	}
}

func bnLayer(name string, in *Layer) Layer {
	c := in.OutputShape[2]
	return Layer{
		Name: name, Type: "BatchNormalization", OutputShape: in.OutputShape, Inputs: []string{in.Name},
		Weights: []Weight{
			{Name: "gamma", Shape: []int{c}, Trainable: true},
			{Name: "beta", Shape: []int{c}, Trainable: true},
			{Name: "moving_mean", Shape: []int{c}, Trainable: false},
			{Name: "moving_variance", Shape: []int{c}, Trainable: false},
		},
	}
}

func simpleLayer(name, typ string, in *Layer) Layer {
	return Layer{Name: name, Type: typ, OutputShape: in.OutputShape, Inputs: []string{in.Name}}
}

// block1 mirrors Keras' resnet.block1: bottleneck residual block; conv_shortcut adds the
// 1×1 convolution shortcut (0_conv, 0_bn) with the block's stride.
func (ll *layerList) block1(input *Layer, filters, stride int, convShortcut bool, name string) *Layer {
	c1 := convLayer(name+"_1_conv", input.Name, input.OutputShape, 1, stride, filters, false)
	b1 := bnLayer(name+"_1_bn", &c1)
	r1 := simpleLayer(name+"_1_relu", "Activation", &b1)
	c2 := convLayer(name+"_2_conv", r1.Name, r1.OutputShape, 3, 1, filters, true)
	b2 := bnLayer(name+"_2_bn", &c2)
	r2 := simpleLayer(name+"_2_relu", "Activation", &b2)
	c3 := convLayer(name+"_3_conv", r2.Name, r2.OutputShape, 1, 1, 4*filters, false)
	b3 := bnLayer(name+"_3_bn", &c3)
	shortcut := input.Name
	order := []Layer{c1, b1, r1, c2, b2, r2}
	if convShortcut {
		c0 := convLayer(name+"_0_conv", input.Name, input.OutputShape, 1, stride, 4*filters, false)
		b0 := bnLayer(name+"_0_bn", &c0)
		shortcut = b0.Name
		order = append(order, c0, c3, b0, b3)
	} else {
		order = append(order, c3, b3)
	}
	add := Layer{Name: name + "_add", Type: "Add", OutputShape: b3.OutputShape, Inputs: []string{shortcut, b3.Name}}
	out := simpleLayer(name+"_out", "Activation", &add)
	order = append(order, add, out)
	ll.layers = append(ll.layers, order...)
	return &ll.layers[len(ll.layers)-1]
}

// stack1 mirrors Keras' resnet.stack1: a block with a convolution shortcut, then blocks-1
// identity blocks.
func (ll *layerList) stack1(x *Layer, filters, blocks, stride1 int, name string) *Layer {
	x = ll.block1(x, filters, stride1, true, name+"_block1")
	for i := 2; i <= blocks; i++ {
		x = ll.block1(x, filters, 1, false, fmt.Sprintf("%s_block%d", name, i))
	}
	return x
}

// stages of ResNet50: (name, filters, blocks, stride of the first block).
var stages = []struct {
	name            string
	filters, blocks int
	stride          int
}{
	{"conv2", 64, 3, 1},
	{"conv3", 128, 4, 2},
	{"conv4", 256, 6, 2},
	{"conv5", 512, 3, 2},
}

// Layers returns ResNet50's layers in Keras' model.layers order (the order of model.summary()
// and of the layer_names of a Keras weights file): 175 layers without the top (input_1 …
// conv5_block3_out), plus "avg_pool"/"max_pool" with pooling, or "avg_pool" and "predictions"
// with the top (177). Trainable flags follow opts.Frozen and opts.TrainableFrom.
func Layers(opts Options) ([]Layer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	h, w := opts.size()
	ll := &layerList{}
	last := func() *Layer { return &ll.layers[len(ll.layers)-1] }
	ll.add(Layer{Name: InputLayerName, Type: "InputLayer", OutputShape: []int{h, w, 3}})
	ll.add(Layer{Name: "conv1_pad", Type: "ZeroPadding2D", OutputShape: []int{h + 6, w + 6, 3}, Inputs: []string{InputLayerName}})
	ll.add(convLayer("conv1_conv", "conv1_pad", last().OutputShape, 7, 2, 64, false))
	ll.add(bnLayer("conv1_bn", last()))
	ll.add(simpleLayer("conv1_relu", "Activation", last()))
	s := last().OutputShape
	ll.add(Layer{Name: "pool1_pad", Type: "ZeroPadding2D", OutputShape: []int{s[0] + 2, s[1] + 2, s[2]}, Inputs: []string{"conv1_relu"}})
	s = last().OutputShape
	ll.add(Layer{Name: "pool1_pool", Type: "MaxPooling2D", OutputShape: []int{(s[0]-3)/2 + 1, (s[1]-3)/2 + 1, s[2]},
		Inputs: []string{"pool1_pad"}, Stride: 2, Kernel: 3})
	x := last()
	for _, st := range stages {
		x = ll.stack1(x, st.filters, st.blocks, st.stride, st.name)
	}
	if opts.IncludeTop {
		ll.add(Layer{Name: "avg_pool", Type: "GlobalAveragePooling2D", OutputShape: []int{FeatureChannels}, Inputs: []string{x.Name}})
		ll.add(Layer{Name: TopLayerName, Type: "Dense", OutputShape: []int{NumClasses}, Inputs: []string{"avg_pool"},
			Weights: []Weight{
				{Name: "kernel", Shape: []int{FeatureChannels, NumClasses}, Trainable: true},
				{Name: "bias", Shape: []int{NumClasses}, Trainable: true},
			}})
	} else if opts.Pooling == PoolingAvg {
		ll.add(Layer{Name: "avg_pool", Type: "GlobalAveragePooling2D", OutputShape: []int{FeatureChannels}, Inputs: []string{x.Name}})
	} else if opts.Pooling == PoolingMax {
		ll.add(Layer{Name: "max_pool", Type: "GlobalMaxPooling2D", OutputShape: []int{FeatureChannels}, Inputs: []string{x.Name}})
	}
	if err := applyTrainable(ll.layers, !opts.Frozen, opts.TrainableFrom); err != nil {
		return nil, err
	}
	return ll.layers, nil
}

// applyTrainable clears the Trainable flag of the weights of frozen layers: all of them when
// trainable is false, else those before the first layer named with the prefix from.
func applyTrainable(layers []Layer, trainable bool, from string) error {
	first := 0
	if !trainable {
		first = len(layers)
	} else if from != "" {
		first = -1
		for i := range layers {
			if strings.HasPrefix(layers[i].Name, from) {
				first = i
				break
			}
		}
		if first < 0 {
			return errors.Errorf("resnet50: TrainableFrom(%q): no layer name starts with %q (use a stage such as \"conv5\" or a block such as \"conv4_block6\")", from, from)
		}
	}
	for i := range first {
		for j := range layers[i].Weights {
			layers[i].Weights[j].Trainable = false
		}
	}
	return nil
}
