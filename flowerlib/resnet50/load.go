package resnet50

import (
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// TopLayerAliases are other names the 1000-class top Dense layer has in published files:
// keras-applications' resnet_common.py (which wrote the official with-top ImageNet file,
// weights.TopURL) calls it "probs"; tf.keras and Keras 3 call it "predictions"
// (TopLayerName). Keras loads .h5 weights by layer order, so the name never mattered there.
var TopLayerAliases = []string{"probs"}

// LoadReport says how MapWeights paired a weights file's layers with ResNet50's.
type LoadReport struct {
	Format weights.Format
	// Layers is the number of layers with weights that were loaded (106 without the top, 107 with).
	Layers int
	// Renamed lists the layers loaded under another name than the file's (by position in a
	// Keras 2 file, by key in a Keras 3 one), e.g. {File: "probs", Model: "predictions"}.
	Renamed []Rename
	// IgnoredTop names the file's top Dense layer when a with-top file feeds a model without
	// the top ("" otherwise).
	IgnoredTop string
}

// Rename is a layer loaded by Keras' rules under a name other than the file's.
type Rename struct{ File, Model string }

// Notes returns one line for each thing a user may want to know about the mapping (renamed
// layers, an unused top), or nil when the file matched ResNet50 name for name.
func (r *LoadReport) Notes() []string {
	var out []string
	if len(r.Renamed) > 0 {
		var pairs []string
		for i, rn := range r.Renamed {
			if i == 3 {
				pairs = append(pairs, fmt.Sprintf("… %d more", len(r.Renamed)-3))
				break
			}
			pairs = append(pairs, fmt.Sprintf("%q → %q", rn.File, rn.Model))
		}
		how := "by position, as Keras loads .h5 weights"
		if r.Format == weights.FormatKeras3 {
			how = "by key, as Keras 3 loads .weights.h5 files"
		}
		out = append(out, fmt.Sprintf("%d layer(s) loaded %s under ResNet50's names: %s", len(r.Renamed), how, strings.Join(pairs, ", ")))
	}
	if r.IgnoredTop != "" {
		out = append(out, fmt.Sprintf("the file's top layer %q is not used by ResNet50 without the top", r.IgnoredTop))
	}
	return out
}

// LegacyError is MapWeights' error for the weights of the older keras-applications ResNet50
// (resnet50.py of keras-applications ≤ 1.0.7, files from weights.LegacyNoTopURL and
// weights.LegacyTopURL, whose names equal today's): layers conv1, bn_conv1, res2a_branch2a, …,
// fc1000. That network has BatchNormalization epsilon 1e-3 where keras.applications.ResNet50
// has 1.001e-5, so the weights are refused rather than mapped: loaded into today's ResNet50 they
// would not compute what they were trained to.
type LegacyError struct {
	Top bool // the file has the fc1000 top
}

func (e *LegacyError) Error() string {
	oldURL, oldMD5 := weights.LegacyNoTopURL, weights.LegacyNoTopMD5
	url, md5, flag := weights.NoTopURL, weights.NoTopMD5, ""
	if e.Top {
		oldURL, oldMD5 = weights.LegacyTopURL, weights.LegacyTopMD5
		url, md5, flag = weights.TopURL, weights.TopMD5, " -top"
	}
	return fmt.Sprintf("resnet50: these are the weights of the older keras-applications ResNet50 (layer names conv1, bn_conv1, "+
		"res2a_branch2a, …, fc1000; published at %s, md5 %s, under the same file name as today's): that network has other "+
		"layer names and BatchNormalization epsilon 1e-3 where keras.applications.ResNet50 has 1.001e-5, so these weights do "+
		"not compute the same here. Use today's file %s (md5 %s): `flowers weights -download%s` fetches it",
		oldURL, oldMD5, url, md5, flag)
}

// isLegacy reports whether f has the older keras-applications ResNet50's layer names.
func isLegacy(f *weights.File) *LegacyError {
	if f.Layer("bn_conv1") == nil && f.Layer("res2a_branch2a") == nil {
		return nil
	}
	return &LegacyError{Top: f.Layer("fc1000") != nil}
}

// CheckWeights checks a weights file against ResNet50 (with or without the top) with Keras'
// loading rules (see MapWeights) and returns one error naming every problem (nil when the file
// loads).
func CheckWeights(w *weights.File, top bool) error {
	_, _, err := MapWeights(w, top)
	return err
}

// MapWeights pairs the layers of a Keras weights file with ResNet50's the way Keras itself
// loads weights, and returns the file in ResNet50's own layout (Keras 2, the layers of Layers
// in order, weights named like "conv1_conv/kernel:0"; the tensors' data is shared, not copied):
//
//   - Keras 2 .h5 (tf-keras `saving/legacy/hdf5_format.py`, `load_weights_from_hdf5_group`):
//     the file's layers with weights, in layer_names order, go to the model's layers with
//     weights, in model.layers order; each weight by position. The counts must agree, except
//     that a with-top file feeds the model without the top (its last Dense, [2048, n], is then
//     not used).
//   - Keras 3 .weights.h5 (saving_lib `_load_container_state`): the n-th layer of a class in
//     model.layers order reads /layers/<snake_case(class)>[_n]/vars; each variable by position.
//
// Every weight's shape is checked. Names serve as a cross-check and in messages: a file layer
// whose name belongs to another ResNet50 layer (layers in another order: conv2_block1_0_conv
// and conv2_block1_3_conv even have the same shape) is an error, and so are Keras 2 weight
// names out of order (gamma, beta, moving_mean, moving_variance share one shape); any other
// name (keras-applications' top "probs", see TopLayerAliases, or a renamed model's layers)
// loads as Keras would and is listed in the report. The older keras-applications ResNet50
// (bn_conv1, res2a_branch2a, …) is refused with a *LegacyError.
func MapWeights(w *weights.File, top bool) (*weights.File, *LoadReport, error) {
	if w == nil {
		return nil, nil, errors.New("resnet50: no weights (nil *weights.File)")
	}
	if le := isLegacy(w); le != nil {
		return nil, nil, le
	}
	layers, err := Layers(Options{IncludeTop: top})
	if err != nil {
		return nil, nil, err
	}
	m := &mismatch{top: top}
	rep := &LoadReport{Format: w.Format}
	var src []*weights.Layer // file layer for each model layer with weights, nil for none
	if w.Format == weights.FormatKeras3 {
		src = pairByKey(w, layers, top, m, rep)
	} else {
		src = pairByOrder(w, layers, top, m, rep)
	}
	if m.any() {
		return nil, nil, m.err(w, top)
	}
	out := &weights.File{Format: weights.FormatKeras2, Layers: make([]weights.Layer, len(layers))}
	k := 0
	for i := range layers {
		l := &layers[i]
		out.Layers[i].Name = l.Name
		if len(l.Weights) == 0 {
			continue
		}
		fl := src[k]
		k++
		checkPair(l, fl, k-1, layers, w.Format, m, rep)
		if m.any() {
			continue
		}
		for j := range l.Weights {
			out.Layers[i].Weights = append(out.Layers[i].Weights, weights.Tensor{
				Name: l.KerasWeightName(j), Shape: fl.Weights[j].Shape, Data: fl.Weights[j].Data,
			})
		}
	}
	if m.any() {
		return nil, nil, m.err(w, top)
	}
	rep.Layers = k
	return out, rep, nil
}

// weightedLayers returns the layers of ls that have weights.
func weightedLayers[L any](ls []L, weighted func(*L) bool) []*L {
	var out []*L
	for i := range ls {
		if weighted(&ls[i]) {
			out = append(out, &ls[i])
		}
	}
	return out
}

// looksLikeTop reports whether fl is a classifier Dense on ResNet50's 2048 pooled features.
func looksLikeTop(fl *weights.Layer) bool {
	return len(fl.Weights) == 2 && len(fl.Weights[0].Shape) == 2 && fl.Weights[0].Shape[0] == FeatureChannels &&
		len(fl.Weights[1].Shape) == 1 && fl.Weights[1].Shape[0] == fl.Weights[0].Shape[1]
}

// pairByOrder is Keras 2's rule: the i-th weighted layer of the file feeds the i-th of the model.
func pairByOrder(w *weights.File, layers []Layer, top bool, m *mismatch, rep *LoadReport) []*weights.Layer {
	model := weightedLayers(layers, func(l *Layer) bool { return len(l.Weights) > 0 })
	file := weightedLayers(w.Layers, func(l *weights.Layer) bool { return len(l.Weights) > 0 })
	if !top && len(file) == len(model)+1 && looksLikeTop(file[len(file)-1]) {
		rep.IgnoredTop = file[len(file)-1].Name
		file = file[:len(file)-1]
	}
	if len(file) != len(model) {
		m.count = fmt.Sprintf("the model has %d layers with weights, the file %d (Keras loads .h5 weights layer by layer, in order)", len(model), len(file))
		diagnoseByName(model, file, m)
		return nil
	}
	return file
}

// diagnoseByName explains a layer-count mismatch by name: which of the model's tensors the file
// lacks, which it has in excess, which have another shape.
func diagnoseByName(model []*Layer, file []*weights.Layer, m *mismatch) {
	byName := map[string]*weights.Layer{}
	for _, fl := range file {
		name := fl.Name
		if slices.Contains(TopLayerAliases, name) {
			name = TopLayerName
		}
		byName[name] = fl
	}
	inModel := map[string]bool{}
	for _, l := range model {
		inModel[l.Name] = true
		fl := byName[l.Name]
		for j, wt := range l.Weights {
			key := l.Name + "/" + wt.Name
			switch {
			case fl == nil || j >= len(fl.Weights):
				m.missing = append(m.missing, fmt.Sprintf("%s %v", key, wt.Shape))
			case !slices.Equal(fl.Weights[j].Shape, wt.Shape):
				m.misShaped = append(m.misShaped, fmt.Sprintf("%s: file has %v, ResNet50 needs %v", key, fl.Weights[j].Shape, wt.Shape))
			}
		}
		if fl != nil && len(fl.Weights) > len(l.Weights) {
			for _, t := range fl.Weights[len(l.Weights):] {
				m.unexpected = append(m.unexpected, fmt.Sprintf("%s/%s %v", l.Name, shortWeightName(t.Name), t.Shape))
			}
		}
	}
	for _, fl := range file {
		if name := fl.Name; !inModel[name] && !(slices.Contains(TopLayerAliases, name) && inModel[TopLayerName]) {
			for _, t := range fl.Weights {
				m.unexpected = append(m.unexpected, fmt.Sprintf("%s/%s %v", name, shortWeightName(t.Name), t.Shape))
			}
		}
	}
}

var (
	snakeUpper = regexp.MustCompile(`(.)([A-Z][a-z]+)`)
	snakeLower = regexp.MustCompile(`([a-z])([A-Z])`)
	snakeNonW  = regexp.MustCompile(`\W+`)
)

// snakeCase is Keras 3's naming.to_snake_case of a class name: "Conv2D" → "conv2d",
// "BatchNormalization" → "batch_normalization".
func snakeCase(class string) string {
	s := snakeNonW.ReplaceAllString(class, "")
	s = snakeUpper.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(snakeLower.ReplaceAllString(s, "${1}_${2}"))
}

// Keras3Keys returns the key Keras 3 gives each layer of Layers(opts) in a .weights.h5 file
// (/layers/<key>/vars): the snake-cased class name, with "_n" for the n-th (from 0) layer of
// that class in model.layers order ("conv2d", "conv2d_1", …).
func Keras3Keys(layers []Layer) []string {
	used := map[string]int{}
	keys := make([]string, len(layers))
	for i, l := range layers {
		stem := snakeCase(l.Type)
		keys[i] = weights.Key3(stem, used[stem])
		used[stem]++
	}
	return keys
}

// ToKeras3 returns w (mapped onto ResNet50 by MapWeights) in Keras 3's layout, every layer of
// Layers with its Keras 3 key (Keras3Keys), ready for weights.WriteKeras3; the tensors' data is
// shared.
func ToKeras3(w *weights.File, top bool) (*weights.File, error) {
	mapped, _, err := MapWeights(w, top)
	if err != nil {
		return nil, err
	}
	layers, err := Layers(Options{IncludeTop: top})
	if err != nil {
		return nil, err
	}
	out := &weights.File{Format: weights.FormatKeras3, Layers: make([]weights.Layer, len(layers))}
	for i, key := range Keras3Keys(layers) {
		out.Layers[i] = weights.Layer{Name: layers[i].Name, Key: key}
		for j, t := range mapped.Layers[i].Weights {
			out.Layers[i].Weights = append(out.Layers[i].Weights, weights.Tensor{Name: "vars/" + strconv.Itoa(j), Shape: t.Shape, Data: t.Data})
		}
	}
	return out, nil
}

// pairByKey is Keras 3's rule: each model layer reads the file's layer with its key.
func pairByKey(w *weights.File, layers []Layer, top bool, m *mismatch, rep *LoadReport) []*weights.Layer {
	byKey := map[string]*weights.Layer{}
	for i := range w.Layers {
		byKey[w.Layers[i].Key] = &w.Layers[i]
	}
	used := map[string]bool{}
	var out []*weights.Layer
	for i, key := range Keras3Keys(layers) {
		l := &layers[i]
		if len(l.Weights) == 0 {
			continue
		}
		fl := byKey[key]
		if fl == nil || len(fl.Weights) == 0 {
			for _, wt := range l.Weights {
				m.missing = append(m.missing, fmt.Sprintf("%s/%s %v (/layers/%s/vars)", l.Name, wt.Name, wt.Shape, key))
			}
			continue
		}
		used[key] = true
		out = append(out, fl)
	}
	for i := range w.Layers {
		fl := &w.Layers[i]
		if used[fl.Key] || len(fl.Weights) == 0 {
			continue
		}
		if stem, _ := weights.SplitKey(fl.Key); !top && stem == "dense" && rep.IgnoredTop == "" && looksLikeTop(fl) {
			rep.IgnoredTop = fl.Name
			continue
		}
		for j, t := range fl.Weights {
			m.unexpected = append(m.unexpected, fmt.Sprintf("%s variable %d %v (/layers/%s/vars)", fl.Name, j, t.Shape, fl.Key))
		}
	}
	return out
}

// checkPair checks the file layer fl loaded into the model's k-th weighted layer l: names as a
// cross-check, then the number of weights and every shape.
func checkPair(l *Layer, fl *weights.Layer, k int, layers []Layer, format weights.Format, m *mismatch, rep *LoadReport) {
	where := fmt.Sprintf("layer #%d", k)
	if format == weights.FormatKeras3 {
		where = "/layers/" + fl.Key
	}
	if fl.Name != l.Name {
		isAlias := l.Name == TopLayerName && slices.Contains(TopLayerAliases, fl.Name)
		if j := slices.IndexFunc(layers, func(o Layer) bool { return o.Name == fl.Name }); j >= 0 && !isAlias {
			m.order = append(m.order, fmt.Sprintf("%s: the file's %q would load into ResNet50's %q: the file lists ResNet50's layers in another order",
				where, fl.Name, l.Name))
			return
		}
		rep.Renamed = append(rep.Renamed, Rename{File: fl.Name, Model: l.Name})
	}
	names := func(n int, name func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = name(i)
		}
		return strings.Join(s, ", ")
	}
	if len(fl.Weights) != len(l.Weights) {
		m.misShaped = append(m.misShaped, fmt.Sprintf("%s (%s): the file has %d weights (%s), ResNet50 needs %d (%s)", l.Name, where,
			len(fl.Weights), names(len(fl.Weights), func(i int) string { return shortWeightName(fl.Weights[i].Name) }),
			len(l.Weights), names(len(l.Weights), func(i int) string { return l.Weights[i].Name })))
		return
	}
	for j, wt := range l.Weights {
		t := &fl.Weights[j]
		key := l.Name + "/" + wt.Name
		if format == weights.FormatKeras2 {
			short := shortWeightName(t.Name)
			if short != wt.Name && slices.ContainsFunc(l.Weights, func(o Weight) bool { return o.Name == short }) {
				m.order = append(m.order, fmt.Sprintf("%s: weight %d of the file's %q is %q, ResNet50's is %q: the weights are in another order",
					where, j, fl.Name, t.Name, wt.Name))
				continue
			}
		}
		switch {
		case !slices.Equal(t.Shape, wt.Shape):
			m.misShaped = append(m.misShaped, fmt.Sprintf("%s: file has %v, ResNet50 needs %v%s", key, t.Shape, wt.Shape, fileName(fl, l, where)))
		case len(t.Data) != numElements(t.Shape):
			m.misShaped = append(m.misShaped, fmt.Sprintf("%s: shape %v but %d values%s", key, t.Shape, len(t.Data), fileName(fl, l, where)))
		}
	}
}

// fileName is " (the file's X, layer #k)" when the file calls the layer otherwise, else "".
func fileName(fl *weights.Layer, l *Layer, where string) string {
	if fl.Name == l.Name {
		return ""
	}
	return fmt.Sprintf(" (the file's %q, %s)", fl.Name, where)
}

// mismatch collects what keeps a file from loading, for one error.
type mismatch struct {
	top                                   bool
	count                                 string // layer-count mismatch, when there is one
	missing, unexpected, misShaped, order []string
}

func (m *mismatch) any() bool {
	return m.count != "" || len(m.missing)+len(m.unexpected)+len(m.misShaped)+len(m.order) > 0
}

func (m *mismatch) err(w *weights.File, top bool) error {
	var sb strings.Builder
	what := "ResNet50 without top"
	if top {
		what = "ResNet50 with top"
	}
	fmt.Fprintf(&sb, "resnet50: weights (%s) do not match %s (%d missing, %d unexpected, %d mis-shaped tensors, %d out of order)",
		w.Format, what, len(m.missing), len(m.unexpected), len(m.misShaped), len(m.order))
	if m.count != "" {
		sb.WriteString(": " + m.count)
	}
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&sb, "\n  %s:", title)
		const maxItems = 12
		for i, it := range items {
			if i == maxItems {
				fmt.Fprintf(&sb, "\n    … and %d more", len(items)-maxItems)
				break
			}
			sb.WriteString("\n    " + it)
		}
	}
	list("missing", m.missing)
	list("unexpected", m.unexpected)
	list("mis-shaped", m.misShaped)
	list("out of order", m.order)
	if top && !slices.ContainsFunc(w.Layers, func(l weights.Layer) bool { return looksLikeTop(&l) }) {
		sb.WriteString("\n  (this looks like a no-top file: use the with-top weights, or IncludeTop(false))")
	}
	return errors.New(sb.String())
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

// CheckStatistics reports the first value of w (mapped onto ResNet50, see MapWeights) that
// weights nobody vouches for (weights.Integrity not verified) must not hold: NaN or ±Inf
// (checkFinite), or a BatchNorm moving variance that is not positive. A sign or exponent bit
// flipped in a variance shows here; a variance of exactly 0 can come from a channel that died
// in training, so verified files are only held to checkFinite.
func CheckStatistics(w *weights.File) error {
	if err := checkFinite(w); err != nil {
		return err
	}
	for _, l := range w.Layers {
		for _, t := range l.Weights {
			if shortWeightName(t.Name) != "moving_variance" {
				continue
			}
			for i, v := range t.Data {
				if v <= 0 {
					return errors.Errorf("tensor %s holds %v at index %d: a BatchNorm variance must be positive", t.Name, v, i)
				}
			}
		}
	}
	return nil
}

// checkFinite reports the first tensor holding NaN or ±Inf: such weights make every feature
// NaN, which would otherwise surface as a "NaN loss" far from its cause.
func checkFinite(w *weights.File) error {
	for _, l := range w.Layers {
		for _, t := range l.Weights {
			for i, v := range t.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return errors.Errorf("tensor %s/%s holds %v at index %d", l.Name, t.Name, v, i)
				}
			}
		}
	}
	return nil
}

// weightsByName maps "layer/weight" (ResNet50's names) to the file's tensors, by Keras' rules
// (see MapWeights).
func weightsByName(w *weights.File, top bool) (map[string]*weights.Tensor, error) {
	mapped, _, err := MapWeights(w, top)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*weights.Tensor)
	for i := range mapped.Layers {
		l := &mapped.Layers[i]
		for j := range l.Weights {
			out[l.Name+"/"+shortWeightName(l.Weights[j].Name)] = &l.Weights[j]
		}
	}
	return out, nil
}

// LoadIntoScope creates (or overwrites) ResNet50's variables under scope from w, mapped first
// with MapWeights: "conv1_conv/kernel", …, "predictions/bias" with top. Use it to load weights
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

// LoadWeights returns the weights named by spec, mapped onto ResNet50 (with or without the
// top) by MapWeights, in ResNet50's own layout:
//   - "imagenet" or "": $FLOWERS_WEIGHTS when set, else the official Keras file, downloaded
//     once into cacheDir and verified (weights.Resolve);
//   - "random" or "random:SEED": RandomWeights (seed 1 by default), NOT ImageNet weights — a
//     loud warning goes to log;
//   - anything else: a Keras 2 .h5 or Keras 3 .weights.h5 weights file.
//
// Files are read through weights.Load's converted cache in cacheDir ("" reads the file
// directly). MapWeights' notes (e.g. the official with-top file's "probs" layer loaded as
// "predictions") go to log. It is LoadPretrained without the identity.
func LoadWeights(spec, cacheDir string, top bool, log io.Writer) (*weights.File, error) {
	p, err := LoadPretrained(spec, cacheDir, top, log)
	if err != nil {
		return nil, err
	}
	return p.File, nil
}

// LoadMissing creates under scope the variables of the model opts describes that scope does
// not have yet, from w, marked trainable as Layers(opts) says; existing ones (e.g. a
// checkpoint's) are left as they are. A model built From a layer creates only the variables
// after it: this fills in those before, so the Store also serves the whole model.
func LoadMissing(scope *model.Scope, w *weights.File, opts Options) error {
	values, err := weightsByName(w, opts.IncludeTop)
	if err != nil {
		return err
	}
	layers, err := Layers(opts)
	if err != nil {
		return err
	}
	for _, l := range layers {
		for _, wt := range l.Weights {
			s := scope.At("%s", l.Name)
			if s.GetVariable(wt.Name) != nil {
				continue
			}
			v, err := s.CreateVariable(wt.Name, tensorFromWeights(values[l.Name+"/"+wt.Name]))
			if err != nil {
				return errors.WithMessage(err, "resnet50.LoadMissing")
			}
			v.SetTrainable(wt.Trainable)
		}
	}
	return nil
}
