package export

import (
	"encoding/json"

	"github.com/flowerlib/flowers/flowerlib/internal/hdf5"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/pkg/errors"
)

// Keras export: the legacy HDF5 full-model format of model.save("x.h5"), which tf-keras'
// load_model reads natively and Keras 3's load_model through its legacy loader, with no custom
// code: every layer is a built-in one. The root attribute model_config holds the functional
// model's configuration (JSON), model_weights the weights as tf-keras writes them
// (model_weights/<layer>/<layer>/<weight>:0, with layer_names and weight_names attributes).
const (
	// KerasVersion is the Keras version the file says wrote it (the tf-keras the tests load it with).
	KerasVersion = "2.21.0"
	// KerasInput is the input layer's name (tf-keras' default for the first Input).
	KerasInput = resnet50.InputLayerName
	// KerasPreprocess names the frozen 1×1 Conv2D that does ResNet50's 'caffe' preprocessing:
	// its kernel reorders RGB to BGR (weights 0 and 1, exact) and its bias subtracts the
	// ImageNet means, so the model takes RGB 0..255 as the Go program and ONNX model do, without
	// a Lambda layer (which would need custom code to load).
	KerasPreprocess = "preprocess"
)

// kerasLayer is one entry of a functional model's config.
type kerasLayer struct {
	ClassName    string         `json:"class_name"`
	Config       map[string]any `json:"config"`
	Name         string         `json:"name"`
	InboundNodes [][][]any      `json:"inbound_nodes"`
	weights      []Weight
}

func newKerasLayer(class, name string, trainable bool, inputs []string, config map[string]any) kerasLayer {
	if config == nil {
		config = map[string]any{}
	}
	config["name"], config["dtype"] = name, "float32"
	if class != "InputLayer" { // which takes no trainable
		config["trainable"] = trainable
	}
	l := kerasLayer{ClassName: class, Config: config, Name: name, InboundNodes: [][][]any{}}
	if len(inputs) > 0 {
		var node [][]any
		for _, in := range inputs {
			node = append(node, []any{in, 0, 0, map[string]any{}})
		}
		l.InboundNodes = [][][]any{node}
	}
	return l
}

// WriteKeras writes m to path as a Keras HDF5 model (see the constants), atomically: input
// float32 [batch, size, size, 3] RGB 0..255, output the probabilities. The base's layers are
// frozen (trainable false) as in training; the head's are trainable.
func WriteKeras(path string, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	layers, err := kerasLayers(m)
	if err != nil {
		return err
	}
	config := map[string]any{"class_name": "Functional", "config": map[string]any{
		"name": "flowers", "trainable": true, "layers": layers,
		"input_layers":  [][]any{{KerasInput, 0, 0}},
		"output_layers": [][]any{{layers[len(layers)-1].Name, 0, 0}},
	}}
	js, err := json.Marshal(config)
	if err != nil {
		return errors.Wrap(err, "export: encoding the Keras model config")
	}
	root := hdf5.NewRoot()
	root.SetAttrVarString("backend", "tensorflow")
	root.SetAttrVarString("keras_version", KerasVersion)
	root.SetAttrVarString("model_config", string(js))
	mw, err := root.Group("model_weights")
	if err != nil {
		return err
	}
	mw.SetAttrString("backend", "tensorflow")
	mw.SetAttrString("keras_version", KerasVersion)
	var names []string
	for _, l := range layers {
		names = append(names, l.Name)
		g, err := mw.Group(l.Name)
		if err != nil {
			return err
		}
		if len(l.weights) == 0 {
			g.SetAttrFloat64s("weight_names", nil) // as Keras stores an empty list
			continue
		}
		var wn []string
		for _, w := range l.weights {
			name := l.Name + "/" + w.Name + ":0"
			wn = append(wn, name)
			if err := g.CreateDataset(name, w.Dims, w.Data); err != nil {
				return err
			}
		}
		g.SetAttrStrings("weight_names", wn)
	}
	mw.SetAttrStrings("layer_names", names)
	return errors.WithMessage(hdf5.WriteFile(path, root), "export")
}

// kerasLayers lists the model's Keras layers in order: the input, the preprocessing
// convolution, ResNet50's layers (resnet50.Layers) and the head's.
func kerasLayers(m *Model) ([]kerasLayer, error) {
	s := m.ImageSize
	out := []kerasLayer{newKerasLayer("InputLayer", KerasInput, true, nil,
		map[string]any{"batch_input_shape": []any{nil, s, s, 3}, "sparse": false, "ragged": false})}
	pre := newKerasLayer("Conv2D", KerasPreprocess, false, []string{KerasInput}, conv2DConfig(3, 1, 1, "valid"))
	kernel := make([]float32, 9)
	kernel[2*3+0], kernel[1*3+1], kernel[0*3+2] = 1, 1, 1 // [1, 1, in, out]: B ← R, G ← G, R ← B
	pre.weights = []Weight{{Name: "kernel", Tensor: Tensor{Dims: []int{1, 1, 3, 3}, Data: kernel}},
		{Name: "bias", Tensor: Tensor{Dims: []int{3}, Data: []float32{-103.939, -116.779, -123.68}}}}
	out = append(out, pre)
	base, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return nil, err
	}
	for _, l := range base[1:] {
		inputs := l.Inputs
		if len(inputs) == 1 && inputs[0] == KerasInput {
			inputs = []string{KerasPreprocess}
		}
		var config map[string]any
		switch l.Type {
		case "ZeroPadding2D":
			n := (l.OutputShape[0] - layerShape(base, l.Inputs[0])[0]) / 2
			config = map[string]any{"padding": [][]int{{n, n}, {n, n}}, "data_format": "channels_last"}
		case "Conv2D":
			config = conv2DConfig(l.Weights[0].Shape[3], l.Kernel, l.Stride, l.Padding)
		case "BatchNormalization":
			config = map[string]any{"axis": -1, "momentum": resnet50.BatchNormMomentum, "epsilon": resnet50.BatchNormEpsilon, "center": true, "scale": true}
		case "Activation":
			config = map[string]any{"activation": ReLU}
		case "MaxPooling2D":
			config = map[string]any{"pool_size": []int{l.Kernel, l.Kernel}, "strides": []int{l.Stride, l.Stride}, "padding": "valid", "data_format": "channels_last"}
		case "GlobalAveragePooling2D", "GlobalMaxPooling2D":
			config = map[string]any{"data_format": "channels_last", "keepdims": false}
		case "Add":
		default:
			return nil, errors.Errorf("export: Keras: ResNet50 layer %q of type %s is not handled", l.Name, l.Type)
		}
		kl := newKerasLayer(l.Type, l.Name, false, inputs, config)
		for _, w := range l.Weights {
			kl.weights = append(kl.weights, Weight{Name: w.Name, Tensor: m.Base[l.Name+"/"+w.Name]})
		}
		out = append(out, kl)
	}
	prev := out[len(out)-1].Name
	for _, l := range m.Head {
		kl, err := kerasHeadLayer(l, prev)
		if err != nil {
			return nil, err
		}
		out = append(out, kl)
		prev = l.Name
	}
	return out, nil
}

func conv2DConfig(filters, kernel, stride int, padding string) map[string]any {
	return map[string]any{"filters": filters, "kernel_size": []int{kernel, kernel}, "strides": []int{stride, stride},
		"padding": padding, "data_format": "channels_last", "dilation_rate": []int{1, 1}, "groups": 1,
		"activation": Linear, "use_bias": true}
}

// kerasHeadLayer is a head layer's Keras entry; only the exporters' known layer types have one.
func kerasHeadLayer(l Layer, input string) (kerasLayer, error) {
	act := l.Activation
	if act == "" {
		act = Linear
	}
	var config map[string]any
	switch l.Type {
	case Flatten:
		config = map[string]any{"data_format": "channels_last"}
	case Dense:
		config = map[string]any{"units": l.Units, "activation": act, "use_bias": true}
	case BatchNormalization:
		config = map[string]any{"axis": -1, "momentum": l.Momentum, "epsilon": l.Epsilon, "center": true, "scale": true}
	case Dropout:
		config = map[string]any{"rate": l.Rate}
	case Activation:
		config = map[string]any{"activation": act}
	default:
		return kerasLayer{}, errors.Errorf("export: Keras has no built-in layer for head layer %q of type %q", l.Name, l.Type)
	}
	if act != Linear && l.Type != Dense && l.Type != Activation {
		return kerasLayer{}, errors.Errorf("export: Keras: head layer %q (%s) has activation %q: Keras' %s takes none (add an Activation layer)",
			l.Name, l.Type, act, l.Type)
	}
	kl := newKerasLayer(l.Type, l.Name, true, []string{input}, config)
	kl.weights = l.Weights
	return kl, nil
}
