package resnet50

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func goBackend(testing.TB) compute.Backend { return backend.MustNew("go", nil) }

// randomImages returns n images h×w with RGB values in 0..255.
func randomImages(seed uint64, n, h, w int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*h*w*3)
	for i := range x {
		x[i] = float32(rng.IntN(256))
	}
	return x
}

var testWeights = RandomWeights(1, true)

// The variables the graph creates are exactly the weights of Layers, by name and shape.
func TestVariablesMatchLayers(t *testing.T) {
	b := goBackend(t)
	store := model.NewStore()
	exec := model.MustNewExec(b, store, func(scope *model.Scope, images *graph.Node) *graph.Node {
		return BuildGraph(scope.In("base"), images).PreTrained(testWeights).IncludeTop(true).Done()
	})
	probs := exec.MustCall1(tensors.FromFlatDataAndDimensions(randomImages(1, 2, 32, 32), 2, 32, 32, 3))
	if got := probs.Shape().Dimensions; !slices.Equal(got, []int{2, 1000}) {
		t.Fatalf("top output %v", got)
	}
	var got []string
	for v := range store.IterVariables() {
		got = append(got, strings.TrimPrefix(v.Path(), "/base/")+" "+v.Shape().String())
	}
	layers, _ := Layers(Options{IncludeTop: true})
	var want []string
	for _, l := range layers {
		for _, w := range l.Weights {
			want = append(want, l.Name+"/"+w.Name+" "+tensors.FromFlatDataAndDimensions(make([]float32, w.Size()), w.Shape...).Shape().String())
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("variables differ from Layers: got %d, want %d", len(got), len(want))
	}
	// Loaded values are the file's.
	v := store.GetVariable("/base/conv4_block2_2_conv/kernel")
	if v == nil {
		t.Fatal("no /base/conv4_block2_2_conv/kernel")
	}
	vals := tensors.MustCopyFlatData[float32](v.MustValue())
	if !slices.Equal(vals, testWeights.Layer("conv4_block2_2_conv").Weights[0].Data) {
		t.Error("conv4_block2_2_conv/kernel differs from the weights file")
	}
	// Probabilities sum to 1.
	p := tensors.MustCopyFlatData[float32](probs)
	var sum float64
	for _, x := range p[:1000] {
		sum += float64(x)
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("probabilities sum to %g", sum)
	}
}

func TestCheckWeights(t *testing.T) {
	if err := CheckWeights(testWeights, true); err != nil {
		t.Fatal(err)
	}
	if err := CheckWeights(testWeights, false); err != nil {
		t.Errorf("a with-top file should feed the base model: %v", err)
	}
	if err := CheckWeights(RandomWeights(1, false), true); err == nil || !strings.Contains(err.Error(), "predictions/kernel [2048 1000]") {
		t.Errorf("no-top file for a with-top model: %v", err)
	}
	// Break one of each kind.
	bad := RandomWeights(2, false)
	l := bad.Layer("conv3_block2_2_conv")
	l.Weights[0].Shape = []int{3, 3, 128, 64}
	l.Weights[0].Data = l.Weights[0].Data[:3*3*128*64]
	l2 := bad.Layer("conv1_bn")
	l2.Weights = l2.Weights[:3] // drop moving_variance
	bad.Layers = append(bad.Layers, weights.Layer{Name: "extra_dense", Weights: []weights.Tensor{{Name: "extra_dense/kernel:0", Shape: []int{2}, Data: []float32{1, 2}}}})
	err := CheckWeights(bad, false)
	if err == nil {
		t.Fatal("broken file accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"1 missing, 1 unexpected, 1 mis-shaped",
		"conv1_bn/moving_variance [64]",
		"extra_dense/kernel [2]",
		"conv3_block2_2_conv/kernel: file has [3 3 128 64], ResNet50 needs [3 3 128 128]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}
