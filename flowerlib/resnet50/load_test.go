package resnet50

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/weights"
)

// renameLayer returns a deep-enough copy of w with layer from renamed to, weight names included
// (as keras-applications wrote "probs/kernel:0").
func renameLayer(w *weights.File, from, to string) *weights.File {
	out := &weights.File{Format: w.Format, Layers: slices.Clone(w.Layers)}
	for i := range out.Layers {
		l := &out.Layers[i]
		if l.Name != from {
			continue
		}
		l.Name = to
		l.Weights = slices.Clone(l.Weights)
		for j := range l.Weights {
			l.Weights[j].Name = to + "/" + shortWeightName(l.Weights[j].Name) + ":0"
		}
	}
	return out
}

// mustContain fails unless err's message holds every want.
func mustContain(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want an error", what)
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error lacks %q:\n%s", what, s, err)
		}
	}
}

func TestCheckWeights(t *testing.T) {
	if err := CheckWeights(testWeights, true); err != nil {
		t.Fatal(err)
	}
	_, rep, err := MapWeights(testWeights, false)
	if err != nil {
		t.Fatalf("a with-top file should feed the base model: %v", err)
	}
	if rep.IgnoredTop != TopLayerName || rep.Layers != 106 || len(rep.Renamed) != 0 {
		t.Errorf("with-top file into the base: report %+v", rep)
	}
	mustContain(t, "no-top file for a with-top model", CheckWeights(RandomWeights(1, false), true),
		"the model has 107 layers with weights, the file 106", "predictions/kernel [2048 1000]", "predictions/bias [1000]",
		"this looks like a no-top file")

	// One layer too many: the count differs, and the diagnosis by name says which.
	bad := RandomWeights(2, false)
	l := bad.Layer("conv3_block2_2_conv")
	l.Weights[0].Shape = []int{3, 3, 128, 64}
	l.Weights[0].Data = l.Weights[0].Data[:3*3*128*64]
	bad.Layers = append(bad.Layers, weights.Layer{Name: "extra_dense", Weights: []weights.Tensor{{Name: "extra_dense/kernel:0", Shape: []int{2}, Data: []float32{1, 2}}}})
	mustContain(t, "extra layer", CheckWeights(bad, false),
		"(0 missing, 1 unexpected, 1 mis-shaped tensors, 0 out of order): the model has 106 layers with weights, the file 107",
		"extra_dense/kernel [2]",
		"conv3_block2_2_conv/kernel: file has [3 3 128 64], ResNet50 needs [3 3 128 128]")

	// Same count: paired by order; a missing weight and a wrong shape, both named.
	bad = RandomWeights(2, false)
	l = bad.Layer("conv3_block2_2_conv")
	l.Weights[0].Shape = []int{3, 3, 128, 64}
	l.Weights[0].Data = l.Weights[0].Data[:3*3*128*64]
	l2 := bad.Layer("conv1_bn")
	l2.Weights = l2.Weights[:3]
	mustContain(t, "broken layers", CheckWeights(bad, false),
		"(0 missing, 0 unexpected, 2 mis-shaped tensors, 0 out of order)",
		"conv1_bn (layer #1): the file has 3 weights (gamma, beta, moving_mean), ResNet50 needs 4 (gamma, beta, moving_mean, moving_variance)",
		"conv3_block2_2_conv/kernel: file has [3 3 128 64], ResNet50 needs [3 3 128 128]")
}

// The official with-top file names its top "probs" (keras-applications): it loads by order, into
// "predictions" with top, and is ignored without.
func TestMapWeightsProbs(t *testing.T) {
	probs := renameLayer(testWeights, TopLayerName, "probs")
	mapped, rep, err := MapWeights(probs, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Renamed, []Rename{{File: "probs", Model: TopLayerName}}) {
		t.Errorf("renamed %v", rep.Renamed)
	}
	if n := rep.Notes(); len(n) != 1 || n[0] != `1 layer(s) loaded by position, as Keras loads .h5 weights under ResNet50's names: "probs" → "predictions"` {
		t.Errorf("notes %q", n)
	}
	if err := weights.Equal(mapped, testWeights); err != nil {
		t.Errorf("mapped file differs from the original: %v", err)
	}
	if _, rep, err = MapWeights(probs, false); err != nil || rep.IgnoredTop != "probs" {
		t.Errorf("probs file into the base: %+v, %v", rep, err)
	}
	if _, err := weightsByName(probs, true); err != nil {
		t.Errorf("BuildGraph's loader refuses the probs file: %v", err)
	}
}

// Names cross-check the order: the same shapes in another order are refused, not loaded crosswise.
func TestMapWeightsOrderCrossCheck(t *testing.T) {
	w := RandomWeights(4, false)
	i := slices.IndexFunc(w.Layers, func(l weights.Layer) bool { return l.Name == "conv2_block1_0_conv" })
	j := slices.IndexFunc(w.Layers, func(l weights.Layer) bool { return l.Name == "conv2_block1_3_conv" })
	swapped := &weights.File{Layers: slices.Clone(w.Layers)}
	swapped.Layers[i], swapped.Layers[j] = swapped.Layers[j], swapped.Layers[i]
	mustContain(t, "swapped layers", CheckWeights(swapped, false),
		"(0 missing, 0 unexpected, 0 mis-shaped tensors, 2 out of order)",
		`layer #6: the file's "conv2_block1_3_conv" would load into ResNet50's "conv2_block1_0_conv"`)

	bn := &weights.File{Layers: slices.Clone(w.Layers)}
	k := slices.IndexFunc(bn.Layers, func(l weights.Layer) bool { return l.Name == "conv4_block3_2_bn" })
	bn.Layers[k].Weights = slices.Clone(bn.Layers[k].Weights)
	bn.Layers[k].Weights[2], bn.Layers[k].Weights[3] = bn.Layers[k].Weights[3], bn.Layers[k].Weights[2]
	mustContain(t, "BatchNorm weights swapped", CheckWeights(bn, false),
		`weight 2 of the file's "conv4_block3_2_bn" is "conv4_block3_2_bn/moving_variance:0", ResNet50's is "moving_mean"`)

	// Names the model does not know load by position, as Keras does.
	renamed := w
	for _, l := range w.Layers {
		if len(l.Weights) > 0 {
			renamed = renameLayer(renamed, l.Name, "x_"+l.Name)
		}
	}
	mapped, rep, err := MapWeights(renamed, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Renamed) != 106 || rep.Renamed[0] != (Rename{File: "x_conv1_conv", Model: "conv1_conv"}) {
		t.Errorf("renamed: %d, first %v", len(rep.Renamed), rep.Renamed[0])
	}
	if err := weights.Equal(mapped, w); err != nil {
		t.Error(err)
	}
}

// Keras 3's keys: the snake-cased class and a counter per class in model.layers order.
func TestKeras3Keys(t *testing.T) {
	for class, want := range map[string]string{"Conv2D": "conv2d", "BatchNormalization": "batch_normalization",
		"GlobalAveragePooling2D": "global_average_pooling2d", "InputLayer": "input_layer", "ZeroPadding2D": "zero_padding2d"} {
		if got := snakeCase(class); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", class, got, want)
		}
	}
	layers, _ := Layers(Options{IncludeTop: true})
	keys := Keras3Keys(layers)
	got := map[string]string{}
	for i, l := range layers {
		got[l.Name] = keys[i]
	}
	// In block1 of each stage the shortcut's 0_conv comes after 2_relu in model.layers.
	for name, want := range map[string]string{"input_1": "input_layer", "conv1_conv": "conv2d", "conv1_bn": "batch_normalization",
		"conv2_block1_1_conv": "conv2d_1", "conv2_block1_0_conv": "conv2d_3", "conv2_block1_3_conv": "conv2d_4",
		"conv2_block1_0_bn": "batch_normalization_3", "conv5_block3_3_conv": "conv2d_52", "predictions": "dense",
		"avg_pool": "global_average_pooling2d", "conv5_block3_out": "activation_48", "conv5_block3_add": "add_15"} {
		if got[name] != want {
			t.Errorf("key of %s = %q, want %q", name, got[name], want)
		}
	}
}

// A Keras 3 .weights.h5 file written and read back maps onto the same weights, and its checks
// name the file's keys.
func TestMapWeightsKeras3(t *testing.T) {
	dir := t.TempDir()
	for _, top := range []bool{false, true} {
		want := RandomWeights(5, top)
		k3, err := ToKeras3(want, top)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "w.weights.h5")
		if err := weights.WriteKeras3(path, k3); err != nil {
			t.Fatal(err)
		}
		back, err := weights.ReadH5(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Format != weights.FormatKeras3 || back.Layers[0].Key != "activation" {
			t.Fatalf("read back as %s, first layer %q", back.Format, back.Layers[0].Key)
		}
		mapped, rep, err := MapWeights(back, top)
		if err != nil {
			t.Fatal(err)
		}
		if err := weights.Equal(mapped, want); err != nil {
			t.Errorf("top=%v: %v", top, err)
		}
		if len(rep.Renamed) != 0 || rep.Format != weights.FormatKeras3 {
			t.Errorf("top=%v: report %+v", top, rep)
		}
		if !top {
			mustContain(t, "Keras 3 no-top file, with top", CheckWeights(back, true),
				"predictions/kernel [2048 1000] (/layers/dense/vars)", "this looks like a no-top file")
		}
	}
	// A BatchNorm under the key of another: named by key and by name.
	w := RandomWeights(5, false)
	k3, _ := ToKeras3(w, false)
	for i := range k3.Layers {
		switch k3.Layers[i].Key {
		case "batch_normalization_3":
			k3.Layers[i].Key = "batch_normalization_4"
		case "batch_normalization_4":
			k3.Layers[i].Key = "batch_normalization_3"
		}
	}
	mustContain(t, "Keras 3 keys swapped", CheckWeights(k3, false),
		`/layers/batch_normalization_3: the file's "conv2_block1_3_bn" would load into ResNet50's "conv2_block1_0_bn"`)
}

// The older keras-applications ResNet50 (bn_conv1, res2a_branch2a, …) is refused, naming what
// it is and where today's file is.
func TestMapWeightsLegacy(t *testing.T) {
	t3 := func(name string, shape ...int) weights.Tensor {
		return weights.Tensor{Name: name, Shape: shape, Data: make([]float32, numElements(shape))}
	}
	old := &weights.File{Layers: []weights.Layer{
		{Name: "input_1"}, {Name: "conv1_pad"},
		{Name: "conv1", Weights: []weights.Tensor{t3("conv1/kernel:0", 7, 7, 3, 64), t3("conv1/bias:0", 64)}},
		{Name: "bn_conv1", Weights: []weights.Tensor{t3("bn_conv1/gamma:0", 64)}},
		{Name: "res2a_branch2a", Weights: []weights.Tensor{t3("res2a_branch2a/kernel:0", 1, 1, 64, 64)}},
	}}
	err := CheckWeights(old, false)
	var le *LegacyError
	if !errors.As(err, &le) || le.Top {
		t.Fatalf("want a no-top *LegacyError, got %v", err)
	}
	mustContain(t, "legacy no-top", err, "older keras-applications ResNet50", "bn_conv1", weights.LegacyNoTopURL, weights.LegacyNoTopMD5,
		weights.NoTopURL, weights.NoTopMD5, "epsilon 1e-3", "`flowers weights -download`")
	old.Layers = append(old.Layers, weights.Layer{Name: "fc1000", Weights: []weights.Tensor{t3("fc1000/kernel:0", 2048, 1000)}})
	mustContain(t, "legacy with top", CheckWeights(old, true), weights.LegacyTopMD5, weights.TopURL, weights.TopMD5, "-download -top")
}
