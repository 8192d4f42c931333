package weights

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/hdf5"
	"github.com/pkg/errors"
)

// KerasVersion is written to the keras_version root attribute by WriteH5: the Keras 2
// weights layout this package reads and writes.
const KerasVersion = "2.2.4"

// ReadH5 reads a Keras weights file in either layout Keras writes:
//   - Keras 2 (tf-keras `model.save_weights("x.h5")`, as keras.applications publishes
//     ResNet50's): the root attribute layer_names lists the layers in model order; each layer
//     group's weight_names attribute lists its weights, stored as float32 datasets at
//     /<layer>/<weight name>. A full-model file (`model.save("x.h5")`) is accepted too: its
//     weights are read from /model_weights. Layers without weights are kept, with no
//     Weights, so the layer order is Keras's.
//   - Keras 3 (`model.save_weights("x.weights.h5")`): see FormatKeras3.
//
// A Keras 3 `.keras` archive (a zip holding model.weights.h5) is refused with a message that
// says so. The content is verified (File.Integrity, see verify): a file whose tensors do not
// match the checksum flowers wrote into it is refused as damaged.
func ReadH5(path string) (*File, error) {
	if isZip(path) {
		return nil, errors.Errorf("%q is a zip archive, not HDF5: a Keras 3 .keras model file holds its weights in "+
			"model.weights.h5 inside it (unzip it and pass that file), or save them with model.save_weights(\"x.weights.h5\")", path)
	}
	h, err := hdf5.Open(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	f, err := readLayers(h, path)
	if err != nil {
		return nil, err
	}
	if f.Integrity, err = verify(path, h.Root(), f); err != nil {
		return nil, err
	}
	return f, nil
}

// readLayers reads the layers of an opened Keras weights file (see ReadH5).
func readLayers(h *hdf5.File, path string) (*File, error) {
	root := h.Root()
	if root.Attr("layer_names") == nil && root.Attr("layer_names0") == nil {
		if c, ok := root.Lookup("model_weights"); ok && c.Group != nil {
			root = c.Group
		} else if c, ok := root.Lookup("layers"); ok && c.Group != nil {
			return readKeras3(path, c.Group)
		}
	}
	layerNames, err := stringsAttr(root, "layer_names")
	if err != nil {
		return nil, errors.WithMessagef(err, "%q is not a Keras weights file (neither Keras 2's layer_names "+
			"attribute nor Keras 3's /layers group)", path)
	}
	out := &File{Format: FormatKeras2, Layers: make([]Layer, 0, len(layerNames))}
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
			t, err := readTensor(wn, wc.Dataset)
			if err != nil {
				return nil, errors.WithMessagef(err, "Keras weights file %q, layer %q weight %q", path, name, wn)
			}
			layer.Weights = append(layer.Weights, t)
		}
		out.Layers = append(out.Layers, layer)
	}
	return out, nil
}

func readTensor(name string, ds *hdf5.Dataset) (Tensor, error) {
	data, err := ds.Float32s()
	if err != nil {
		return Tensor{}, err
	}
	return Tensor{Name: name, Shape: append([]int{}, ds.Shape...), Data: data}, nil
}

// readKeras3 reads Keras 3's layout below the /layers group (see FormatKeras3). Layers come
// out ordered by class key, then counter; the file stores no order across classes.
func readKeras3(path string, layers *hdf5.Group) (*File, error) {
	out := &File{Format: FormatKeras3}
	seen := map[string]string{}
	for _, c := range layers.Children {
		if c.Group == nil {
			return nil, errors.Errorf("Keras 3 weights file %q: /layers/%s is a dataset, want a layer group", path, c.Name)
		}
		layer := Layer{Name: c.Name, Key: c.Name}
		for _, sub := range c.Group.Children {
			if sub.Name != "vars" {
				return nil, errors.Errorf("Keras 3 weights file %q: /layers/%s/%s: nested layers or models are not supported "+
					"(save the weights of a flat model, e.g. keras.applications.ResNet50 itself)", path, c.Name, sub.Name)
			}
		}
		vc, ok := c.Group.Lookup("vars")
		if !ok || vc.Group == nil {
			return nil, errors.Errorf("Keras 3 weights file %q: layer /layers/%s has no vars group", path, c.Name)
		}
		if a := vc.Group.Attr("name"); a != nil {
			s, err := a.Strings()
			if err != nil || len(s) != 1 || s[0] == "" {
				return nil, errors.Errorf("Keras 3 weights file %q: /layers/%s/vars has a bad name attribute (%v)", path, c.Name, err)
			}
			layer.Name = s[0]
		}
		if other, dup := seen[layer.Name]; dup {
			return nil, errors.Errorf("Keras 3 weights file %q: layers /layers/%s and /layers/%s are both named %q", path, other, c.Name, layer.Name)
		}
		seen[layer.Name] = c.Name
		vars := make([]*hdf5.Dataset, len(vc.Group.Children)) // HDF5 sorts names as text: "10" before "2"
		for _, d := range vc.Group.Children {
			i, err := strconv.Atoi(d.Name)
			if err != nil || i < 0 || i >= len(vars) || strconv.Itoa(i) != d.Name || d.Dataset == nil || vars[i] != nil {
				return nil, errors.Errorf("Keras 3 weights file %q: /layers/%s/vars holds %q: want datasets named 0 … %d",
					path, c.Name, d.Name, len(vars)-1)
			}
			vars[i] = d.Dataset
		}
		for i, d := range vars {
			t, err := readTensor("vars/"+strconv.Itoa(i), d)
			if err != nil {
				return nil, errors.WithMessagef(err, "Keras 3 weights file %q, /layers/%s/vars/%d", path, c.Name, i)
			}
			layer.Weights = append(layer.Weights, t)
		}
		out.Layers = append(out.Layers, layer)
	}
	if len(out.Layers) == 0 {
		return nil, errors.Errorf("Keras 3 weights file %q: the /layers group is empty", path)
	}
	sort.SliceStable(out.Layers, func(i, j int) bool {
		si, ni := SplitKey(out.Layers[i].Key)
		sj, nj := SplitKey(out.Layers[j].Key)
		if si != sj {
			return si < sj
		}
		return ni < nj
	})
	return out, nil
}

// SplitKey splits a Keras 3 layer key into its class stem and counter: "conv2d_12" →
// ("conv2d", 12), "conv2d" → ("conv2d", 0).
func SplitKey(key string) (stem string, n int) {
	i := strings.LastIndexByte(key, '_')
	if i < 0 {
		return key, 0
	}
	v, err := strconv.Atoi(key[i+1:])
	if err != nil || v < 1 || key[i+1] == '0' {
		return key, 0
	}
	return key[:i], v
}

// Key3 returns the key Keras 3 gives the n-th layer (from 0, in model.layers order) of a
// class stem: "conv2d" for n = 0, "conv2d_3" for n = 3.
func Key3(stem string, n int) string {
	if n == 0 {
		return stem
	}
	return stem + "_" + strconv.Itoa(n)
}

// isZip reports whether the file starts with a zip local-file header.
func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 4 && string(b[:]) == "PK\x03\x04"
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
// plus any extra string attributes and the checksum of the tensors (ChecksumAttr, verified
// by ReadH5); one group per layer with its weight_names
// (an empty float64 array for layers without weights, as Keras writes it); float32
// datasets at /<layer>/<weight name>. The file is written to a temporary name,
// synced and renamed.
func WriteH5(path string, f *File, extra ...Attr) error {
	if err := Validate(f); err != nil {
		return errors.WithMessagef(err, "writing %q", path)
	}
	if f.Format != FormatKeras2 {
		// Its layers are in class order, not model order: written as Keras 2, they would load
		// into the wrong layers.
		return errors.Errorf("writing %q: WriteH5 writes the Keras 2 layout, whose layer order is the model's; "+
			"this %s content has no model order (map it onto the model first, e.g. resnet50.MapWeights)", path, f.Format)
	}
	root := hdf5.NewRoot()
	names := make([]string, len(f.Layers))
	for i, l := range f.Layers {
		names[i] = l.Name
	}
	root.SetAttrStrings("layer_names", names)
	root.SetAttrString("backend", "tensorflow")
	root.SetAttrString("keras_version", KerasVersion)
	setAttrs(root, f, extra)
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
	if a.Format != b.Format {
		return errors.Errorf("format %s vs %s", a.Format, b.Format)
	}
	if len(a.Layers) != len(b.Layers) {
		return errors.Errorf("%d layers vs %d", len(a.Layers), len(b.Layers))
	}
	for i := range a.Layers {
		la, lb := a.Layers[i], b.Layers[i]
		if la.Name != lb.Name || la.Key != lb.Key || len(la.Weights) != len(lb.Weights) {
			return errors.Errorf("layer %d: %q (key %q) with %d weights vs %q (key %q) with %d", i, la.Name, la.Key, len(la.Weights), lb.Name, lb.Key, len(lb.Weights))
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

// WriteKeras3 writes f, whose layers all have a Key, in Keras 3's `.weights.h5` layout (see
// FormatKeras3), which Keras 3's `model.load_weights("x.weights.h5")` reads:
// /layers/<key>/vars with attribute name (the layer's name) and float32 datasets "0", "1", … in
// the layer's weight order, and an empty /vars group for the model itself. Keras 3 pairs the
// keys with its layers by class and position, so the keys must come from the model (e.g.
// resnet50.ToKeras3). Root attributes: the extra ones and ChecksumAttr. The file is written to
// a temporary name, synced and renamed.
func WriteKeras3(path string, f *File, extra ...Attr) error {
	if err := Validate(f); err != nil {
		return errors.WithMessagef(err, "writing %q", path)
	}
	root := hdf5.NewRoot()
	setAttrs(root, f, extra)
	if _, err := root.Group("vars"); err != nil {
		return errors.WithMessagef(err, "writing %q", path)
	}
	seen := map[string]bool{}
	for _, l := range f.Layers {
		if l.Key == "" || strings.Contains(l.Key, "/") || seen[l.Key] {
			return errors.Errorf("writing %q: layer %q has an empty, bad or duplicate Keras 3 key %q", path, l.Name, l.Key)
		}
		seen[l.Key] = true
		g, err := root.Group("layers/" + l.Key + "/vars")
		if err != nil {
			return errors.WithMessagef(err, "writing %q", path)
		}
		g.SetAttrString("name", l.Name)
		for i, w := range l.Weights {
			if err := g.CreateDataset(strconv.Itoa(i), w.Shape, w.Data); err != nil {
				return errors.WithMessagef(err, "writing %q, layer %q", path, l.Name)
			}
		}
	}
	return hdf5.WriteFile(path, root)
}
