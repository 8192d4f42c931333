// Package weights holds Keras model weights in memory, read from the two layouts Keras
// writes: Keras 2's legacy HDF5 (`model.save_weights("x.h5")` in tf-keras, and the files
// keras.applications publishes: layers in `layer_names` order, each with its weights in
// `weight_names` order, named like "conv1_conv/kernel:0") and Keras 3's `.weights.h5`
// (`/layers/<key>/vars/<i>`, see FormatKeras3). How a model maps a file's layers onto its own
// follows Keras' loading rules and is the model's business (flowerlib/resnet50's loader).
package weights

// Format is the layout a weights file was read from. It decides how a model pairs the file's
// layers with its own: Keras 2 files by the order of their weighted layers, Keras 3 files by
// each layer's Key.
type Format int

const (
	// FormatKeras2 is the legacy HDF5 layout of tf-keras / Keras 2 `save_weights("x.h5")` (and
	// of keras.applications' published files): root attribute layer_names in model.layers
	// order, one group per layer with attribute weight_names, datasets at
	// /<layer>/<weight name>. tf-keras loads it by order (`load_weights_from_hdf5_group`).
	FormatKeras2 Format = iota
	// FormatKeras3 is Keras 3's `save_weights("x.weights.h5")`: /layers/<key>/vars/<i>, where
	// key is the snake-cased class name with a counter in model.layers order ("conv2d",
	// "conv2d_1", …, "batch_normalization_52"), the vars group's attribute "name" holds the
	// layer's name, and the datasets "0", "1", … its variables in order (trainable first), with
	// no weight names. Keras 3 loads it by key (saving_lib `_load_container_state`).
	FormatKeras3
)

// String returns "Keras 2 .h5" or "Keras 3 .weights.h5".
func (f Format) String() string {
	if f == FormatKeras3 {
		return "Keras 3 .weights.h5"
	}
	return "Keras 2 .h5"
}

// Tensor is one weight: its name in the file (Keras 2: the weight_names entry, e.g.
// "conv1_conv/kernel:0"; Keras 3: the dataset path under the layer, e.g. "vars/0"), shape
// (row-major, Keras order: conv kernels are [kh, kw, in, out]) and float32 values.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Layer is one Keras layer and its weights (none for layers such as ReLU or Add).
type Layer struct {
	Name string
	// Key is, in Keras 3 files only, the layer's group under /layers (e.g. "conv2d_1"): Keras 3
	// matches layers by it. Empty in Keras 2 files.
	Key     string
	Weights []Tensor
}

// File is the content of a Keras weights file. Keras 2 files keep layer_names order (Keras'
// model.layers order, weightless layers included); Keras 3 files are ordered by class key and
// counter ("conv2d", "conv2d_1", "conv2d_2", …), as the file stores no global order.
type File struct {
	Format Format
	Layers []Layer
	// Integrity says how the content was verified when it was read from a file (zero for
	// content made in memory).
	Integrity Integrity
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
