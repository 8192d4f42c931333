package resnet50

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

func TestCutBefore(t *testing.T) {
	for prefix, want := range map[string]string{"conv5": "conv4_block6_out", "conv4_block6": "conv4_block5_out",
		"conv5_block3": "conv5_block2_out", "conv2": "pool1_pool"} {
		if got, err := CutBefore(prefix); err != nil || got != want {
			t.Errorf("CutBefore(%q) = %q, %v; want %q", prefix, got, err, want)
		}
	}
	for _, prefix := range []string{"conv4_block6_2", "conv5_block1_1_bn", "conv5_block1_0", "nope"} {
		if got, err := CutBefore(prefix); err == nil {
			t.Errorf("CutBefore(%q) = %q, want an error", prefix, got)
		} else {
			t.Logf("CutBefore(%q): %v", prefix, err)
		}
	}
}

// TestFromMatchesWhole: the whole model's output equals the one of the model built From
// conv4_block6_out fed with the whole model's conv4_block6_out, and the From model creates
// exactly the variables of the layers after the cut, under the same names.
func TestFromMatchesWhole(t *testing.T) {
	const n, size, cut = 2, 64, "conv4_block6_out"
	b := goBackend(t)
	w := RandomWeights(3, false)
	store := model.NewStore()
	whole := model.MustNewExec(b, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		return BuildGraph(scope.In("base"), x).PreTrained(w).DoneAt(cut, "")
	})
	outs := whole.MustCall(tensors.FromFlatDataAndDimensions(randomImages(2, n, size, size), n, size, size, 3))
	mid, want := outs[0], tensors.MustCopyFlatData[float32](outs[1])
	ex, err := NewBase(b, w, Options{StopAt: cut, Pooling: PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	if shape := ex.OutputShape(n, size, size); !slices.Equal(shape, mid.Shape().Dimensions) {
		t.Errorf("Base StopAt %q: OutputShape %v, the layer's output is %v", cut, shape, mid.Shape().Dimensions)
	}
	exMid, err := ex.ExtractFloats(randomImages(2, n, size, size), n, size, size)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxRelDiff(exMid, tensors.MustCopyFlatData[float32](mid)); d > 1e-5 {
		t.Errorf("Base StopAt %q differs from DoneAt by %g relative", cut, d)
	}
	fromStore := model.NewStore()
	from := model.MustNewExec(b, fromStore, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return BuildGraph(scope.In("base"), x).PreTrained(w).From(cut, size, size).TrainableFrom("conv5").Done()
	})
	got := tensors.MustCopyFlatData[float32](from.MustCall1(mid))
	if len(got) != len(want) {
		t.Fatalf("From output has %d values, the whole model %d", len(got), len(want))
	}
	if d := maxRelDiff(got, want); d > 1e-5 {
		t.Errorf("From(%q) differs from the whole model by %g relative", cut, d)
	}
	for v := range fromStore.IterVariables() {
		if store.GetVariable(v.Path()) == nil || !strings.HasPrefix(v.Path(), "/base/conv5_") {
			t.Errorf("From model created %s: not a conv5 variable of the whole model", v.Path())
		}
		if trainable := !strings.HasPrefix(v.Path()[strings.LastIndex(v.Path(), "/"):], "/moving_"); v.Trainable != trainable {
			t.Errorf("%s trainable %v, want %v", v.Path(), v.Trainable, trainable)
		}
	}
	if fromStore.GetVariable("/base/conv5_block1_0_conv/kernel") == nil {
		t.Error("From model has no /base/conv5_block1_0_conv/kernel")
	}
}

func TestFromBadInput(t *testing.T) {
	b := goBackend(t)
	for name, fn := range map[string]func(scope *model.Scope, x *graph.Node) *graph.Node{
		"shape": func(scope *model.Scope, x *graph.Node) *graph.Node {
			return BuildGraph(scope, x).From("conv4_block6_out", 32, 32).Done()
		},
		"inside a block": func(scope *model.Scope, x *graph.Node) *graph.Node {
			return BuildGraph(scope, x).From("conv4_block6_1_relu", 64, 64).Done()
		},
	} {
		exec := model.MustNewExec(b, model.NewStore(), fn)
		_, err := exec.Call(tensors.FromFlatDataAndDimensions(make([]float32, 4*4*1024), 1, 4, 4, 1024))
		if err == nil || !strings.Contains(err.Error(), "From(") {
			t.Errorf("%s: err %v, want a From(…) panic", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
