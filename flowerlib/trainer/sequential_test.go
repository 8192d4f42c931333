package trainer_test

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// fused reports how many kernels the host step fuses (sequential gradients).
func fused(t *testing.T, tr *trainer.Trainer) int {
	t.Helper()
	f, ok := tr.Step().(interface{ FusedKernels() int })
	if !ok {
		t.Fatalf("step %s has no FusedKernels", tr.Step().Kind())
	}
	return f.FusedKernels()
}

// TestSequentialGradients: the host step fuses the kernels of a chain of Dense layers (the
// article's head: 3), and falls back to autodiff for a head with a skip connection; either way
// it trains as autodiff does.
func TestSequentialGradients(t *testing.T) {
	skip := func(scope *model.Scope, x *graph.Node) *graph.Node {
		h := activation.Relu(head.Dense(scope, x, 16, head.HeNormal(42)))
		return graph.Add(head.Dense(scope, h, 5), head.Dense(scope, x, 5)) // the logits see x directly too
	}
	for _, c := range []struct {
		name  string
		fn    head.Func
		fused int
	}{{"article", head.Article(5, []int{32, 16}, 0), 3}, {"skip", skip, 0}} {
		t.Run(c.name, func(t *testing.T) {
			data := syntheticFeatures(48, 5)
			var ref []float64
			for _, kind := range []string{trainer.StepHost, trainer.StepHostAutodiff} {
				be := backend.MustNew("go", nil)
				store := model.NewStore()
				if _, err := head.Init(be, store, c.fn, []int{2048}); err != nil {
					t.Fatal(err)
				}
				tr, err := trainer.New(trainer.Config{Backend: be, Store: store, RunDir: t.TempDir(), Identity: classes5,
					Model: c.fn, StepKind: kind, Options: trainer.Options{Epochs: 1, BatchSize: 16, LearningRate: 3e-3}})
				if err != nil {
					t.Fatal(err)
				}
				var losses []float64
				tr.OnStep = func(s trainer.StepInfo) { losses = append(losses, s.Loss) }
				if _, err := tr.Fit(data, nil); err != nil {
					t.Fatal(err)
				}
				want := c.fused
				if kind == trainer.StepHostAutodiff {
					want = 0
				}
				if got := fused(t, tr); got != want {
					t.Errorf("%s: %d kernels fused, want %d", kind, got, want)
				}
				tr.Close()
				if ref == nil {
					ref = losses
					continue
				}
				for i := range losses {
					if math.Abs(losses[i]-ref[i]) > 1e-5*math.Max(1, ref[i]) {
						t.Errorf("step %d: loss %.7f with autodiff, %.7f fused", i+1, losses[i], ref[i])
					}
				}
			}
		})
	}
}
