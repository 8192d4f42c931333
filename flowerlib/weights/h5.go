package weights

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/hdf5"
	"github.com/pkg/errors"
)

// KerasVersion is written to the keras_version root attribute by WriteH5: the Keras 2
// weights layout this package reads and writes.
const KerasVersion = "2.2.4"

// ReadH5 reads a Keras 2 weights file (`model.save_weights("x.h5")`, as
// keras.applications publishes ResNet50's): the root attribute layer_names lists the
// layers in model order; each layer group's weight_names attribute lists its weights,
// stored as float32 datasets at /<layer>/<weight name>. A full-model file
// (`model.save`) is accepted too: its weights are read from /model_weights.
// Layers without weights are kept, with no Weights, so the layer order is Keras's.
func ReadH5(path string) (*File, error) {
	h, err := hdf5.Open(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	root := h.Root()
	if root.Attr("layer_names") == nil && root.Attr("layer_names0") == nil {
		if c, ok := root.Lookup("model_weights"); ok && c.Group != nil {
			root = c.Group
		}
	}
	layerNames, err := stringsAttr(root, "layer_names")
	if err != nil {
		return nil, errors.WithMessagef(err, "%q is not a Keras weights file", path)
	}
	out := &File{Layers: make([]Layer, 0, len(layerNames))}
	seen := map[string]bool{}
	for _, name := range layerNames {
		if seen[name] {
			return nil, errors.Errorf("Keras weights file %q lists layer %q twice in layer_names", path, name)
		}
		seen[name] = true
		c, ok := root.Lookup(name)
		if !ok || c.Group == nil {
			return nil, errors.Errorf("Keras weights file %q: layer %q is listed in layer_names but has no group", path, name)
		}
		wnames, err := stringsAttr(c.Group, "weight_names")
		if err != nil {
			return nil, errors.WithMessagef(err, "Keras weights file %q, layer %q", path, name)
		}
		layer := Layer{Name: name, Weights: make([]Tensor, 0, len(wnames))}
		for _, wn := range wnames {
			wc, ok := c.Group.Lookup(wn)
			if !ok || wc.Dataset == nil {
				return nil, errors.Errorf("Keras weights file %q: layer %q lists weight %q but there is no dataset /%s/%s", path, name, wn, name, wn)
			}
			data, err := wc.Dataset.Float32s()
			if err != nil {
				return nil, errors.WithMessagef(err, "layer %q weight %q", name, wn)
			}
			shape := append([]int{}, wc.Dataset.Shape...)
			layer.Weights = append(layer.Weights, Tensor{Name: wn, Shape: shape, Data: data})
		}
		out.Layers = append(out.Layers, layer)
	}
	return out, nil
}

// stringsAttr reads a string-list attribute the way Keras's
// load_attributes_from_hdf5_group does: name, or name0, name1, ... when Keras split a
// list too large for one HDF5 object header. An empty numeric attribute is an empty list.
func stringsAttr(g *hdf5.Group, name string) ([]string, error) {
	if a := g.Attr(name); a != nil {
		return a.Strings()
	}
	var out []string
	for i := 0; ; i++ {
		a := g.Attr(name + strconv.Itoa(i))
		if a == nil {
			if i == 0 {
				return nil, errors.Errorf("no %q attribute in group %q", name, g.Path)
			}
			return out, nil
		}
		s, err := a.Strings()
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
}

// Attr is an extra root attribute for WriteH5 (e.g. a note that weights are random).
type Attr struct{ Name, Value string }

// WriteH5 writes f as a Keras 2 weights file that Keras's `model.load_weights`, h5py
// and h5dump read: root attributes layer_names, backend="tensorflow", keras_version,
// plus any extra string attributes; one group per layer with its weight_names
// (an empty float64 array for layers without weights, as Keras writes it); float32
// datasets at /<layer>/<weight name>. The file is written to a temporary name,
// synced and renamed.
func WriteH5(path string, f *File, extra ...Attr) error {
	if err := Validate(f); err != nil {
		return errors.WithMessagef(err, "writing %q", path)
	}
	root := hdf5.NewRoot()
	names := make([]string, len(f.Layers))
	for i, l := range f.Layers {
		names[i] = l.Name
	}
	root.SetAttrStrings("layer_names", names)
	root.SetAttrString("backend", "tensorflow")
	root.SetAttrString("keras_version", KerasVersion)
	for _, a := range extra {
		root.SetAttrString(a.Name, a.Value)
	}
	for _, l := range f.Layers {
		g, err := root.Group(l.Name)
		if err != nil {
			return errors.WithMessagef(err, "writing %q", path)
		}
		if len(l.Weights) == 0 {
			g.SetAttrFloat64s("weight_names", nil)
			continue
		}
		wn := make([]string, len(l.Weights))
		for i, w := range l.Weights {
			wn[i] = w.Name
			if err := g.CreateDataset(w.Name, w.Shape, w.Data); err != nil {
				return errors.WithMessagef(err, "writing %q, layer %q", path, l.Name)
			}
		}
		g.SetAttrStrings("weight_names", wn)
	}
	return hdf5.WriteFile(path, root)
}

// Validate checks that layer names are unique and non-empty, weight names unique
// within a layer, and each tensor's data length equals the product of its shape.
func Validate(f *File) error {
	if f == nil {
		return errors.New("weights: nil File")
	}
	seen := map[string]bool{}
	for _, l := range f.Layers {
		if l.Name == "" || strings.Contains(l.Name, "/") || seen[l.Name] {
			return errors.Errorf("weights: bad or duplicate layer name %q", l.Name)
		}
		seen[l.Name] = true
		wseen := map[string]bool{}
		for _, w := range l.Weights {
			if w.Name == "" || wseen[w.Name] {
				return errors.Errorf("weights: layer %q: bad or duplicate weight name %q", l.Name, w.Name)
			}
			wseen[w.Name] = true
			n := 1
			for _, d := range w.Shape {
				if d < 0 {
					return errors.Errorf("weights: %q: negative dimension in %v", w.Name, w.Shape)
				}
				n *= d
			}
			if n != len(w.Data) {
				return errors.Errorf("weights: %q: shape %v holds %d values, got %d", w.Name, w.Shape, n, len(w.Data))
			}
		}
	}
	return nil
}

// NumParams returns the number of weight values in f.
func (f *File) numParams() int {
	n := 0
	for _, l := range f.Layers {
		for _, w := range l.Weights {
			n += len(w.Data)
		}
	}
	return n
}

// Describe returns a table of the layers with weights (name, weight shapes,
// parameters) and totals, in file order; layers without weights are counted.
func Describe(f *File) string {
	var b strings.Builder
	withWeights := 0
	fmt.Fprintf(&b, "%-28s %-56s %12s\n", "layer", "weights", "params")
	for _, l := range f.Layers {
		if len(l.Weights) == 0 {
			continue
		}
		withWeights++
		var parts []string
		n := 0
		for _, w := range l.Weights {
			short := w.Name[strings.LastIndex(w.Name, "/")+1:]
			parts = append(parts, fmt.Sprintf("%s%v", strings.TrimSuffix(short, ":0"), w.Shape))
			n += len(w.Data)
		}
		fmt.Fprintf(&b, "%-28s %-56s %12d\n", l.Name, strings.Join(parts, " "), n)
	}
	fmt.Fprintf(&b, "%d layers (%d with weights), %d tensors, %d parameters\n",
		len(f.Layers), withWeights, numTensors(f), f.numParams())
	return b.String()
}

func numTensors(f *File) int {
	n := 0
	for _, l := range f.Layers {
		n += len(l.Weights)
	}
	return n
}

// Equal reports whether a and b have the same layers, weight names, shapes and values;
// the error says where they first differ.
func Equal(a, b *File) error {
	if len(a.Layers) != len(b.Layers) {
		return errors.Errorf("%d layers vs %d", len(a.Layers), len(b.Layers))
	}
	for i := range a.Layers {
		la, lb := a.Layers[i], b.Layers[i]
		if la.Name != lb.Name || len(la.Weights) != len(lb.Weights) {
			return errors.Errorf("layer %d: %q with %d weights vs %q with %d", i, la.Name, len(la.Weights), lb.Name, len(lb.Weights))
		}
		for j := range la.Weights {
			wa, wb := la.Weights[j], lb.Weights[j]
			if wa.Name != wb.Name || fmt.Sprint(wa.Shape) != fmt.Sprint(wb.Shape) || len(wa.Data) != len(wb.Data) {
				return errors.Errorf("layer %q weight %d: %q%v vs %q%v", la.Name, j, wa.Name, wa.Shape, wb.Name, wb.Shape)
			}
			for k := range wa.Data {
				if wa.Data[k] != wb.Data[k] {
					return errors.Errorf("%q[%d]: %v vs %v", wa.Name, k, wa.Data[k], wb.Data[k])
				}
			}
		}
	}
	return nil
}

// NoteAttr is the root attribute in which flowerlib records where a weights file came
// from when it is not an official one (e.g. "RANDOM weights ... NOT ImageNet").
const NoteAttr = "flowers_note"

// RootAttrs returns the string-valued root attributes of an HDF5 file (e.g. backend,
// keras_version, flowers_note); list attributes are joined with ", ".
func RootAttrs(path string) (map[string]string, error) {
	h, err := hdf5.Open(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	out := map[string]string{}
	for _, a := range h.Root().Attrs {
		if a.Type.Class != hdf5.ClassString && a.Type.Class != hdf5.ClassVarLen {
			continue
		}
		s, err := a.Strings()
		if err != nil {
			return nil, errors.WithMessagef(err, "reading %q", path)
		}
		out[a.Name] = strings.Join(s, ", ")
	}
	return out, nil
}
