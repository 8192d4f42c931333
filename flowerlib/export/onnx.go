package export

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/pkg/errors"
	"google.golang.org/protobuf/proto"
)

// ONNX export: opset 13 (IR version 7). Every operator the model needs (Conv, BatchNormalization,
// MaxPool, Pad, Gemm, Softmax, …) has its current semantics there: Softmax over one axis (13
// changed it from "flatten to 2-D") and Pad's pads as an input (11); nothing newer is needed
// (18 only moved the Reduce* axes to inputs), and 13 is what the most runtimes take: ONNX
// Runtime since 1.7, TensorRT, OpenVINO, onnxruntime-web, the onnx 1.12 checker of Debian 12.
const (
	ONNXOpset     = 13
	onnxIRVersion = 7
	// ONNXInput and ONNXOutput name the model's input, float32 [batch, size, size, 3] RGB 0..255,
	// and output, the probabilities [batch, classes].
	ONNXInput  = "image"
	ONNXOutput = "probabilities"
)

// onnxGraph builds the graph node by node; values are named after the Keras layers.
type onnxGraph struct {
	g *onnx.GraphProto
}

func (o *onnxGraph) node(op, out string, inputs []string, attrs ...*onnx.AttributeProto) string {
	o.g.Node = append(o.g.Node, &onnx.NodeProto{OpType: op, Name: out, Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

func (o *onnxGraph) initializer(name string, dims []int, data []float32) string {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	o.g.Initializer = append(o.g.Initializer, &onnx.TensorProto{Name: name, Dims: d, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw})
	return name
}

func (o *onnxGraph) ints(name string, dims []int, data []int64) string {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	d := make([]int64, len(dims))
	for i, v := range dims {
		d[i] = int64(v)
	}
	o.g.Initializer = append(o.g.Initializer, &onnx.TensorProto{Name: name, Dims: d, DataType: int32(onnx.TensorProto_INT64), RawData: raw})
	return name
}

func attrInts(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
}

func attrInt(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

func attrFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

func tensorType(dims ...any) *onnx.TypeProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(v)}})
		case string:
			shape.Dim = append(shape.Dim, &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: v}})
		}
	}
	return &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape}}}
}

// WriteONNX writes m as an ONNX model (opset ONNXOpset) to path, atomically: input ONNXInput,
// float32 [batch, size, size, 3] RGB 0..255 (NHWC, as the photos are decoded); output
// ONNXOutput, the probabilities. Inside, the graph is NCHW as ONNX's Conv wants: a Transpose,
// the 'caffe' preprocessing (channels reordered to BGR by a Gather, the ImageNet means
// subtracted), ResNet50's layers as Keras builds them (BatchNormalization not folded, nodes
// named after the Keras layers), and the head.
func WriteONNX(path string, m *Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	o := &onnxGraph{g: &onnx.GraphProto{Name: "flowers"}}
	s := m.ImageSize
	o.g.Input = []*onnx.ValueInfoProto{{Name: ONNXInput, Type: tensorType("batch", s, s, 3)}}
	x := o.node("Transpose", "nchw", []string{ONNXInput}, attrInts("perm", 0, 3, 1, 2))
	x = o.node("Gather", "bgr", []string{x, o.ints("bgr_order", []int{3}, []int64{2, 1, 0})}, attrInt("axis", 1))
	mean := o.initializer("imagenet_mean", []int{1, 3, 1, 1}, []float32{103.939, 116.779, 123.68})
	x = o.node("Sub", "preprocessed", []string{x, mean})
	x, err := o.base(m, x)
	if err != nil {
		return err
	}
	x, err = o.head(m, x)
	if err != nil {
		return err
	}
	o.node("Identity", ONNXOutput, []string{x})
	o.g.Output = []*onnx.ValueInfoProto{{Name: ONNXOutput, Type: tensorType("batch", len(m.Classes))}}
	model := &onnx.ModelProto{IrVersion: onnxIRVersion, OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: ONNXOpset}},
		ProducerName: "flowers", DocString: "flowers export: " + m.Source, Graph: o.g,
		MetadataProps: []*onnx.StringStringEntryProto{{Key: "classes", Value: jsonString(m.Classes)},
			{Key: "input", Value: fmt.Sprintf("float32 [batch, %d, %d, 3] RGB 0..255 (photos resized to %d×%d); preprocessing is inside", s, s, s, s)}}}
	b, err := proto.Marshal(model)
	if err != nil {
		return errors.Wrapf(err, "encoding %q", path)
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// base adds ResNet50's layers (resnet50.Layers) on the preprocessed NCHW x.
func (o *onnxGraph) base(m *Model, x string) (string, error) {
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return "", err
	}
	w := func(l resnet50.Layer, name string) Tensor { return m.Base[l.Name+"/"+name] }
	values := map[string]string{resnet50.InputLayerName: x}
	for _, l := range layers[1:] {
		in := values[l.Inputs[0]]
		switch l.Type {
		case "ZeroPadding2D":
			n := int64((l.OutputShape[0] - layerShape(layers, l.Inputs[0])[0]) / 2)
			pads := o.ints(l.Name+"_pads", []int{8}, []int64{0, 0, n, n, 0, 0, n, n})
			x = o.node("Pad", l.Name, []string{in, pads}, &onnx.AttributeProto{Name: "mode", Type: onnx.AttributeProto_STRING, S: []byte("constant")})
		case "Conv2D":
			k, b := w(l, "kernel"), w(l, "bias")
			attrs := []*onnx.AttributeProto{attrInts("strides", int64(l.Stride), int64(l.Stride)), attrInts("kernel_shape", int64(l.Kernel), int64(l.Kernel))}
			if l.Padding == "same" {
				p := int64((l.Kernel - 1) / 2)
				attrs = append(attrs, attrInts("pads", p, p, p, p))
			}
			kernel := o.initializer(l.Name+"/kernel", []int{k.Dims[3], k.Dims[2], k.Dims[0], k.Dims[1]}, hwioToOIHW(k))
			x = o.node("Conv", l.Name, []string{in, kernel, o.initializer(l.Name+"/bias", b.Dims, b.Data)}, attrs...)
		case "BatchNormalization":
			ins := []string{in}
			for _, n := range []string{"gamma", "beta", "moving_mean", "moving_variance"} {
				t := w(l, n)
				ins = append(ins, o.initializer(l.Name+"/"+n, t.Dims, t.Data))
			}
			x = o.node("BatchNormalization", l.Name, ins, attrFloat("epsilon", resnet50.BatchNormEpsilon))
		case "Activation":
			x = o.node("Relu", l.Name, []string{in})
		case "MaxPooling2D":
			x = o.node("MaxPool", l.Name, []string{in}, attrInts("kernel_shape", int64(l.Kernel), int64(l.Kernel)), attrInts("strides", int64(l.Stride), int64(l.Stride)))
		case "Add":
			x = o.node("Add", l.Name, []string{in, values[l.Inputs[1]]})
		case "GlobalAveragePooling2D", "GlobalMaxPooling2D":
			op := map[string]string{"GlobalAveragePooling2D": "GlobalAveragePool", "GlobalMaxPooling2D": "GlobalMaxPool"}[l.Type]
			x = o.node("Flatten", l.Name, []string{o.node(op, l.Name+"_nc11", []string{in})}, attrInt("axis", 1))
		default:
			return "", errors.Errorf("export: ONNX: ResNet50 layer %q of type %s is not handled", l.Name, l.Type)
		}
		values[l.Name] = x
	}
	if m.Pooling == resnet50.PoolingNone {
		// Back to NHWC, so that a Flatten orders the features as Keras' (and the head's weights) do.
		x = o.node("Transpose", "features_nhwc", []string{x}, attrInts("perm", 0, 2, 3, 1))
	}
	return x, nil
}

func layerShape(layers []resnet50.Layer, name string) []int {
	for _, l := range layers {
		if l.Name == name {
			return l.OutputShape
		}
	}
	return nil
}

// hwioToOIHW reorders a Keras conv kernel [kh, kw, in, out] to ONNX's [out, in, kh, kw].
func hwioToOIHW(k Tensor) []float32 {
	kh, kw, ci, co := k.Dims[0], k.Dims[1], k.Dims[2], k.Dims[3]
	out := make([]float32, len(k.Data))
	for h := range kh {
		for w := range kw {
			for i := range ci {
				for o := range co {
					out[((o*ci+i)*kh+h)*kw+w] = k.Data[((h*kw+w)*ci+i)*co+o]
				}
			}
		}
	}
	return out
}

// head adds the head's layers on x ([batch, features] pooled, else NHWC).
func (o *onnxGraph) head(m *Model, x string) (string, error) {
	for _, l := range m.Head {
		switch l.Type {
		case Flatten:
			x = o.node("Flatten", l.Name, []string{x}, attrInt("axis", 1))
		case Dense:
			k, b := l.Weight("kernel"), l.Weight("bias")
			x = o.node("Gemm", l.Name, []string{x, o.initializer(l.Name+"/kernel", k.Dims, k.Data), o.initializer(l.Name+"/bias", b.Dims, b.Data)})
		case BatchNormalization:
			ins := []string{x}
			for _, n := range []string{"gamma", "beta", "moving_mean", "moving_variance"} {
				t := l.Weight(n)
				ins = append(ins, o.initializer(l.Name+"/"+n, t.Dims, t.Data))
			}
			x = o.node("BatchNormalization", l.Name, ins, attrFloat("epsilon", float32(l.Epsilon)))
		case Dropout, Activation: // Dropout is the identity in inference: no node
		default:
			return "", errors.Errorf("export: ONNX: head layer %q has unknown type %q", l.Name, l.Type)
		}
		switch l.Activation {
		case ReLU:
			x = o.node("Relu", l.Name+"_relu", []string{x})
		case Softmax:
			x = o.node("Softmax", l.Name+"_softmax", []string{x}, attrInt("axis", -1))
		}
	}
	return x, nil
}
