// Package export turns a trained run into artifacts that run without flowers' run folder:
//
//   - a self-contained executable (Executable): the flowers binary itself with the model
//     appended, which classifies photos (`PATH photo.jpg…`, `-json`) and serves them over HTTP
//     (`PATH serve`), on the pure-Go backend with nothing installed, or on XLA when a plugin is;
//   - a Keras model file (WriteKeras): the legacy `.h5` full-model format that tf-keras'
//     `load_model` and Keras 3's open with no custom code;
//   - an ONNX model (WriteONNX) for ONNX Runtime and the other ONNX tools.
//
// Every exporter works from Model, a neutral description: the class names, the image size,
// ResNet50's weights by Keras name and the head as a list of Keras layers with their weights.
// FromRun fills it from a run folder. All three artifacts take the same input, float32
// [batch, size, size, 3] RGB values in 0..255 (photos decoded and resized as in training), and
// include ResNet50's preprocessing ('caffe': RGB→BGR, minus the ImageNet means); they output
// the class probabilities [batch, classes], in Model.Classes order.
package export

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/pkg/errors"
)

// Tensor is a float32 array, row-major, in Keras' layout (Dense kernels [in, out], conv
// kernels [kh, kw, in, out]).
type Tensor struct {
	Dims []int     `json:"dims"`
	Data []float32 `json:"-"`
}

// Size is the number of values Dims describes.
func (t Tensor) Size() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Weight is one named weight of a layer ("kernel", "bias", "gamma", "beta", "moving_mean",
// "moving_variance": Keras' names).
type Weight struct {
	Name string `json:"name"`
	Tensor
}

// Layer types of a head, by their Keras class names.
const (
	Flatten            = "Flatten"
	Dense              = "Dense"
	BatchNormalization = "BatchNormalization"
	Dropout            = "Dropout"
	Activation         = "Activation"
)

// Activations a Dense or Activation layer may have.
const (
	Linear  = "linear"
	ReLU    = "relu"
	Softmax = "softmax"
)

// Layer is one layer of the head, as Keras names and configures it.
type Layer struct {
	Name       string   `json:"name"`                 // Keras layer name, e.g. "dense_1"
	Type       string   `json:"type"`                 // Keras class name: Flatten, Dense, BatchNormalization, Dropout, Activation
	Units      int      `json:"units,omitempty"`      // Dense
	Activation string   `json:"activation,omitempty"` // Dense, Activation: linear, relu, softmax
	Epsilon    float64  `json:"epsilon,omitempty"`    // BatchNormalization
	Momentum   float64  `json:"momentum,omitempty"`   // BatchNormalization (training only; kept for Keras)
	Rate       float64  `json:"rate,omitempty"`       // Dropout (training only: identity in inference)
	Weights    []Weight `json:"weights,omitempty"`
}

// Weight returns the layer's weight of that name, or nil.
func (l *Layer) Weight(name string) *Weight {
	for i := range l.Weights {
		if l.Weights[i].Name == name {
			return &l.Weights[i]
		}
	}
	return nil
}

// Model is a trained model, described independently of how it was trained: what every
// exporter reads.
type Model struct {
	Classes   []string         `json:"classes"`    // output order
	ImageSize int              `json:"image_size"` // input height and width
	Pooling   resnet50.Pooling `json:"-"`          // what the base does after its last block
	// Base holds ResNet50's weights by "layer/weight" Keras names ("conv1_conv/kernel",
	// "conv1_bn/moving_mean", …): every weight of resnet50.Layers.
	Base map[string]Tensor `json:"-"`
	// Head is applied to the base's output in order; its output must be the probabilities
	// (the last layer a Dense or Activation with softmax).
	Head []Layer `json:"head"`
	// Source says where the model came from (the run folder and checkpoint), for humans.
	Source string `json:"source,omitempty"`
}

// BaseOptions is the ResNet50 the model's base is: no top, the model's pooling and size.
func (m *Model) BaseOptions() resnet50.Options {
	return resnet50.Options{Pooling: m.Pooling, Height: m.ImageSize, Width: m.ImageSize, Frozen: true}
}

// BaseWeights returns the base's weights as a Keras 2 weights file (the weighted layers in
// Layers order, weights named "layer/weight:0"), sharing m.Base's values: what
// resnet50.NewBase takes.
func (m *Model) BaseWeights() (*weights.File, error) {
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return nil, err
	}
	f := &weights.File{Format: weights.FormatKeras2}
	for _, l := range layers {
		if len(l.Weights) == 0 {
			continue
		}
		wl := weights.Layer{Name: l.Name}
		for i, w := range l.Weights {
			t, ok := m.Base[l.Name+"/"+w.Name]
			if !ok {
				return nil, errors.Errorf("export: the model has no %q", l.Name+"/"+w.Name)
			}
			wl.Weights = append(wl.Weights, weights.Tensor{Name: l.KerasWeightName(i), Shape: t.Dims, Data: t.Data})
		}
		f.Layers = append(f.Layers, wl)
	}
	return f, nil
}

// Validate checks that the model is complete and consistent: every ResNet50 weight present
// with its shape, a head of known layers whose weights fit the widths flowing through it, and
// a softmax over len(Classes) outputs at the end. Errors name the layer.
func (m *Model) Validate() error {
	if len(m.Classes) < 2 {
		return errors.Errorf("export: the model has %d classes, need at least 2", len(m.Classes))
	}
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return errors.WithMessage(err, "export")
	}
	for _, l := range layers {
		for _, w := range l.Weights {
			t, ok := m.Base[l.Name+"/"+w.Name]
			if !ok {
				return errors.Errorf("export: the base has no weight %s/%s", l.Name, w.Name)
			}
			if !slices.Equal(t.Dims, w.Shape) || len(t.Data) != t.Size() {
				return errors.Errorf("export: base weight %s/%s is %v (%d values), ResNet50 needs %v", l.Name, w.Name, t.Dims, len(t.Data), w.Shape)
			}
		}
	}
	if len(m.Head) == 0 {
		return errors.New("export: the model has no head")
	}
	dims := slices.Clone(layers[len(layers)-1].OutputShape)
	for i := range m.Head {
		if dims, err = m.Head[i].check(dims); err != nil {
			return err
		}
	}
	last := m.Head[len(m.Head)-1]
	if last.Activation != Softmax || !slices.Equal(dims, []int{len(m.Classes)}) {
		return errors.Errorf("export: the head must end with a softmax over the %d classes, it ends with %s %q giving %v",
			len(m.Classes), last.Type, last.Activation, dims)
	}
	return nil
}

// check checks the layer against its input dims (without the batch axis) and returns its
// output dims.
func (l *Layer) check(in []int) ([]int, error) {
	bad := func(format string, args ...any) error {
		return errors.Errorf("export: head layer %q (%s): %s", l.Name, l.Type, fmt.Sprintf(format, args...))
	}
	want := map[string][]int{}
	out := in
	switch l.Type {
	case Flatten:
		n := 1
		for _, d := range in {
			n *= d
		}
		out = []int{n}
	case Dense:
		if len(in) != 1 {
			return nil, bad("needs a flat input, got %v (put a Flatten before it)", in)
		}
		if l.Units < 1 {
			return nil, bad("units %d", l.Units)
		}
		want["kernel"], want["bias"] = []int{in[0], l.Units}, []int{l.Units}
		out = []int{l.Units}
	case BatchNormalization:
		c := []int{in[len(in)-1]}
		want["gamma"], want["beta"], want["moving_mean"], want["moving_variance"] = c, c, c, c
		if !(l.Epsilon > 0) {
			return nil, bad("epsilon %g must be positive", l.Epsilon)
		}
	case Dropout, Activation:
	default:
		return nil, bad("unknown layer type: the exporters know %s, %s, %s, %s and %s", Flatten, Dense, BatchNormalization, Dropout, Activation)
	}
	switch l.Activation {
	case "", Linear, ReLU, Softmax:
	default:
		return nil, bad("unknown activation %q (linear, relu or softmax)", l.Activation)
	}
	if len(l.Weights) != len(want) {
		return nil, bad("has %d weights, want %d", len(l.Weights), len(want))
	}
	for name, dims := range want {
		w := l.Weight(name)
		if w == nil {
			return nil, bad("has no weight %q", name)
		}
		if !slices.Equal(w.Dims, dims) || len(w.Data) != w.Size() {
			return nil, bad("weight %q is %v (%d values), want %v", name, w.Dims, len(w.Data), dims)
		}
	}
	return out, nil
}

// jsonString is v as JSON text.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
