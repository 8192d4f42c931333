// Package weights holds Keras model weights in memory, in the layout of a Keras 2
// weights file (`model.save_weights("x.h5")`, as keras.applications publishes them):
// layers in `layer_names` order, each with its weights in `weight_names` order,
// named like "conv1_conv/kernel:0".
package weights

// Tensor is one weight: its Keras name (e.g. "conv1_conv/kernel:0"), shape
// (row-major, Keras order: conv kernels are [kh, kw, in, out]) and float32 values.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Layer is one Keras layer and its weights (none for layers such as ReLU or Add).
type Layer struct {
	Name    string
	Weights []Tensor
}

// File is the content of a Keras weights file.
type File struct {
	Layers []Layer
}

// Layer returns the layer with the given name, or nil.
func (f *File) Layer(name string) *Layer {
	for i := range f.Layers {
		if f.Layers[i].Name == name {
			return &f.Layers[i]
		}
	}
	return nil
}
