package train

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// syntheticFeatures: 5 classes, each a random prototype in [2048] plus noise.
func syntheticFeatures(n int, seed uint64) *ArrayData {
	r := rand.New(rand.NewPCG(seed, 1))
	protos := make([][]float32, 5)
	pr := rand.New(rand.NewPCG(7, 7))
	for c := range protos {
		protos[c] = make([]float32, 2048)
		for j := range protos[c] {
			protos[c][j] = float32(pr.ExpFloat64())
		}
	}
	d := &ArrayData{Dims: []int{2048}}
	for i := 0; i < n; i++ {
		c := i % 5
		d.Y = append(d.Y, int32(c))
		for j := 0; j < 2048; j++ {
			d.X = append(d.X, protos[c][j]+float32(r.NormFloat64())*1.5)
		}
	}
	return d
}

func newHeadTrainer(t *testing.T, runDir string, cfg head.Config, opts Options) *Trainer {
	t.Helper()
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	if err := head.Init(store.RootScope(), cfg); err != nil {
		t.Fatal(err)
	}
	opts.RunDir = runDir
	if opts.Grad == nil && os.Getenv("FLOWERS_AUTODIFF") == "" {
		opts.Grad = func(scope *model.Scope, x, labels *graph.Node) *head.Gradients {
			return head.TrainGradients(scope, x, labels, cfg)
		}
	}
	tr, err := New(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return head.Logits(scope, x, cfg)
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestFitPooledSynthetic(t *testing.T) {
	cfg := head.Config{Kind: head.Avg, Hidden: []int{64, 32}}
	tr := newHeadTrainer(t, t.TempDir(), cfg, Options{Epochs: 3, BatchSize: 16, Classes: []string{"a", "b", "c", "d", "e"}, Log: os.Stdout})
	h, err := tr.Fit(syntheticFeatures(100, 1), syntheticFeatures(50, 2))
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	if last.ValAccuracy < 0.95 {
		t.Errorf("val accuracy %.3f < 0.95", last.ValAccuracy)
	}
}
