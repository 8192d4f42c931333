package resnet50

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
)

func TestRandomWeightsLayout(t *testing.T) {
	w := RandomWeights(5, false)
	layers, _ := Layers(Options{})
	if len(w.Layers) != len(layers) {
		t.Fatalf("%d layers, want %d", len(w.Layers), len(layers))
	}
	for i, l := range layers {
		fl := w.Layers[i]
		if fl.Name != l.Name || len(fl.Weights) != len(l.Weights) {
			t.Fatalf("layer %d: %s with %d weights, want %s with %d", i, fl.Name, len(fl.Weights), l.Name, len(l.Weights))
		}
		for j := range l.Weights {
			if fl.Weights[j].Name != l.KerasWeightName(j) || !slices.Equal(fl.Weights[j].Shape, l.Weights[j].Shape) {
				t.Fatalf("%s weight %d: %s %v", l.Name, j, fl.Weights[j].Name, fl.Weights[j].Shape)
			}
		}
	}
	if got := w.Layer("conv1_bn").Weights[3].Name; got != "conv1_bn/moving_variance:0" {
		t.Errorf("conv1_bn weight 3 is %q", got)
	}
	for _, v := range w.Layer("conv2_block1_1_bn").Weights[3].Data {
		if v < 0.5 || v > 1.5 {
			t.Fatalf("moving_variance %g outside [0.5, 1.5]", v)
		}
	}
	again, other := RandomWeights(5, false), RandomWeights(6, false)
	k := func(f *weights.File) []float32 { return f.Layer("conv4_block3_2_conv").Weights[0].Data }
	if !slices.Equal(k(w), k(again)) || slices.Equal(k(w), k(other)) {
		t.Error("RandomWeights must be deterministic per seed and differ between seeds")
	}
	// He-normal: std ≈ sqrt(2/fan_in).
	data := k(w)
	var ss float64
	for _, v := range data {
		ss += float64(v) * float64(v)
	}
	if std, want := math.Sqrt(ss/float64(len(data))), math.Sqrt(2.0/(3*3*256)); math.Abs(std/want-1) > 0.02 {
		t.Errorf("conv4_block3_2_conv kernel std %g, want %g", std, want)
	}
}

// On real photos the random base gives O(1) features that differ between images.
func TestRandomWeightsActivationScale(t *testing.T) {
	dir := testdata.Photos(t) // the 200-photo sample, else the embedded 50
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	slices.Sort(paths)
	const n, size = 6, 64
	var x []float32
	for i := range n {
		img, err := images.Load(paths[i*len(paths)/n], size)
		if err != nil {
			t.Fatal(err)
		}
		x = append(x, img.Float32()...)
	}
	ex, err := NewBase(goBackend(t), testWeights, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	f, err := ex.ExtractFloats(x, n, size, size)
	if err != nil {
		t.Fatal(err)
	}
	rowLen := len(f) / n
	var sum, ss, between float64
	for i, v := range f {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("feature %d is %g", i, v)
		}
		sum += float64(v)
		ss += float64(v) * float64(v)
		if i >= rowLen {
			d := float64(v - f[i-rowLen])
			between += d * d
		}
	}
	rms := math.Sqrt(ss / float64(len(f)))
	diff := math.Sqrt(between / float64(len(f)-rowLen))
	t.Logf("features [%d, 2, 2, 2048]: mean %.3f, rms %.3f, rms difference between images %.3f", n, sum/float64(len(f)), rms, diff)
	if rms < 0.1 || rms > 20 {
		t.Errorf("features rms %g: activations are not O(1)", rms)
	}
	if diff < 0.1*rms {
		t.Errorf("features barely depend on the image (rms difference %g vs rms %g)", diff, rms)
	}
}
