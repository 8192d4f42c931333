package resnet50

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
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
