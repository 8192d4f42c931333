package resnet50

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// CheckWeights checks a weights file against ResNet50 (with or without the top) by layer and
// weight name, and returns one error naming every missing, unexpected or mis-shaped tensor
// (nil when all match). A file with the top may feed a model without it: its "predictions"
// layer is then ignored. Weightless layers (input, padding, ReLU, Add, pooling) are not
// checked, so Keras 3's "input_layer" name is fine.
func CheckWeights(w *weights.File, top bool) error {
	_, err := weightsByName(w, top)
	return err
}

// shortWeightName returns "kernel" for "conv1_conv/kernel:0" (or "kernel:0", or "kernel").
func shortWeightName(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	return name
}

// weightsByName indexes the file's tensors by "layer/weight" after checking them (see CheckWeights).
func weightsByName(w *weights.File, top bool) (map[string]*weights.Tensor, error) {
	if w == nil {
		return nil, errors.New("resnet50: no weights (nil *weights.File)")
	}
	layers, err := Layers(Options{IncludeTop: top})
	if err != nil {
		return nil, err
	}
	want := make(map[string][]int) // "layer/weight" → shape
	var order []string
	for _, l := range layers {
		for _, wt := range l.Weights {
			key := l.Name + "/" + wt.Name
			want[key] = wt.Shape
			order = append(order, key)
		}
	}
	have := make(map[string]*weights.Tensor)
	var unexpected, mismatched []string
	for i := range w.Layers {
		fl := &w.Layers[i]
		if !top && fl.Name == TopLayerName {
			continue // a with-top file feeding the base model: the head is not needed
		}
		for j := range fl.Weights {
			t := &fl.Weights[j]
			key := fl.Name + "/" + shortWeightName(t.Name)
			shape, ok := want[key]
			switch {
			case !ok:
				unexpected = append(unexpected, fmt.Sprintf("%s %v", key, t.Shape))
			case have[key] != nil:
				unexpected = append(unexpected, fmt.Sprintf("%s (duplicate)", key))
			case !slices.Equal(shape, t.Shape):
				mismatched = append(mismatched, fmt.Sprintf("%s: file has %v, ResNet50 needs %v", key, t.Shape, shape))
			case len(t.Data) != numElements(t.Shape):
				mismatched = append(mismatched, fmt.Sprintf("%s: shape %v but %d values", key, t.Shape, len(t.Data)))
			default:
				have[key] = t
			}
		}
	}
	var missing []string
	for _, key := range order {
		if have[key] == nil && !slices.ContainsFunc(mismatched, func(s string) bool { return strings.HasPrefix(s, key+":") }) {
			missing = append(missing, fmt.Sprintf("%s %v", key, want[key]))
		}
	}
	if len(missing)+len(unexpected)+len(mismatched) == 0 {
		return have, nil
	}
	var sb strings.Builder
	what := "ResNet50 without top"
	if top {
		what = "ResNet50 with top"
	}
	fmt.Fprintf(&sb, "resnet50: weights do not match %s (%d missing, %d unexpected, %d mis-shaped tensors)",
		what, len(missing), len(unexpected), len(mismatched))
	list := func(title string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(&sb, "\n  %s:", title)
			for _, it := range items {
				sb.WriteString("\n    " + it)
			}
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("mis-shaped", mismatched)
	if top && w.Layer(TopLayerName) == nil {
		sb.WriteString("\n  (this looks like a no-top file: use the with-top weights, or IncludeTop(false))")
	}
	return nil, errors.New(sb.String())
}

// LoadIntoScope creates (or overwrites) ResNet50's variables under scope from w, checked first
// with CheckWeights: "conv1_conv/kernel", …, "predictions/bias" with top. Use it to load weights
// outside a graph (BuildGraph then reuses the variables); BuildGraph sets trainability.
func LoadIntoScope(scope *model.Scope, w *weights.File, top bool) error {
	values, err := weightsByName(w, top)
	if err != nil {
		return err
	}
	layers, err := Layers(Options{IncludeTop: top})
	if err != nil {
		return err
	}
	for _, l := range layers {
		for _, wt := range l.Weights {
			t := tensorFromWeights(values[l.Name+"/"+wt.Name])
			s := scope.At("%s", l.Name)
			if v := s.GetVariable(wt.Name); v != nil {
				if !v.Shape().Equal(t.Shape()) {
					return errors.Errorf("resnet50.LoadIntoScope: variable %q has shape %s, the weights %s", v.Path(), v.Shape(), t.Shape())
				}
				if err := v.SetValue(t); err != nil {
					return errors.WithMessagef(err, "resnet50.LoadIntoScope: setting %q", v.Path())
				}
				continue
			}
			if _, err := s.CreateVariable(wt.Name, t); err != nil {
				return errors.WithMessage(err, "resnet50.LoadIntoScope")
			}
		}
	}
	return nil
}

// tensorFromWeights copies a weights tensor into a new GoMLX tensor.
func tensorFromWeights(t *weights.Tensor) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(t.Data, t.Shape...)
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// LoadWeights returns the weights named by spec, checked against ResNet50 (with or without
// the top): LoadPretrained without the identity.
func LoadWeights(spec, cacheDir string, top bool, log io.Writer) (*weights.File, error) {
	p, err := LoadPretrained(spec, cacheDir, top, log)
	if err != nil {
		return nil, err
	}
	return p.File, nil
}
