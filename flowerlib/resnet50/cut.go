package resnet50

import (
	"slices"
	"strings"

	"github.com/pkg/errors"
)

// CutBefore returns the layer whose output alone feeds the layers from the first one whose
// name starts with prefix (in Layers order) on: "conv4_block6_out" for "conv5",
// "conv4_block5_out" for "conv4_block6". A model built From that layer computes what the whole
// model computes from there, so the layers before it can run once ahead (fine-tuning from
// prefix on unaugmented images). It fails when no layer has the prefix, when those layers also
// need other earlier outputs (a prefix inside a block, e.g. "conv4_block6_2", also needs the
// block's input for the shortcut), or when the one they need is a convolution's (folded with
// its BatchNorm, never computed on its own).
func CutBefore(prefix string) (string, error) {
	layers, err := Layers(Options{TrainableFrom: prefix})
	if err != nil {
		return "", err
	}
	first := slices.IndexFunc(layers, func(l Layer) bool { return strings.HasPrefix(l.Name, prefix) })
	feeds := cutInputs(layers, first)
	if len(feeds) != 1 {
		return "", errors.Errorf("resnet50: the layers from %q on need %d earlier outputs (%s), not one", prefix, len(feeds), strings.Join(feeds, ", "))
	}
	if _, err := cutAt(layers, feeds[0]); err != nil {
		return "", errors.WithMessagef(err, "resnet50: the layers from %q on", prefix)
	}
	return feeds[0], nil
}

// cutAt returns the index of layer name, checking that the layers after it need no earlier
// output but its own and that its output exists on its own (not a folded convolution's).
func cutAt(layers []Layer, name string) (int, error) {
	k := slices.IndexFunc(layers, func(l Layer) bool { return l.Name == name })
	if k < 0 {
		return 0, errors.Errorf("no layer %q (see resnet50.Layers for the names)", name)
	}
	if layers[k].Type == "Conv2D" {
		return 0, errors.Errorf("%q is a convolution, computed together with its BatchNormalization: start from %q's output instead",
			name, name[:len(name)-len("conv")]+"bn")
	}
	feeds := cutInputs(layers, k+1)
	if len(feeds) > 1 || len(feeds) == 1 && feeds[0] != name {
		return 0, errors.Errorf("the layers after %q also need %s", name, strings.Join(slices.DeleteFunc(feeds, func(f string) bool { return f == name }), ", "))
	}
	return k, nil
}

// cutInputs returns the outputs of layers before index first that layers from first on read,
// in Layers order.
func cutInputs(layers []Layer, first int) []string {
	index := make(map[string]int, len(layers))
	for i, l := range layers {
		index[l.Name] = i
	}
	var ks []int
	for _, l := range layers[first:] {
		for _, in := range l.Inputs {
			if k := index[in]; k < first && !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
	}
	slices.Sort(ks)
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = layers[k].Name
	}
	return out
}
