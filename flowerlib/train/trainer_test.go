package train

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
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
	// The evaluation report shows the same loss as the last epoch's val_loss.
	ev, err := tr.Evaluate(syntheticFeatures(50, 2))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ev.Report(tr.Opts.Classes)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.Loss-last.ValLoss) > 1e-4*math.Max(1, last.ValLoss) || math.Abs(rep.Accuracy-last.ValAccuracy) > 1e-9 {
		t.Errorf("report loss %.5f / accuracy %.4f, last epoch val_loss %.5f / val_accuracy %.4f",
			rep.Loss, rep.Accuracy, last.ValLoss, last.ValAccuracy)
	}
}

// TestResumeChecksClasses: a run directory refuses another class list, naming the differences.
func TestResumeChecksClasses(t *testing.T) {
	dir := t.TempDir()
	cfg := head.Config{Kind: head.Avg, Hidden: []int{16, 8}}
	tr := newHeadTrainer(t, dir, cfg, Options{Epochs: 1, BatchSize: 16, Classes: []string{"a", "b", "c", "d", "e"}})
	if _, err := tr.Fit(syntheticFeatures(40, 1), nil); err != nil {
		t.Fatal(err)
	}
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	_ = head.Init(store.RootScope(), cfg)
	_, err := New(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node { return head.Logits(scope, x, cfg) },
		Options{RunDir: dir, Classes: []string{"a", "b", "c", "d", "x"}})
	if err == nil || !strings.Contains(err.Error(), `missing now: ["e"]`) || !strings.Contains(err.Error(), `new: ["x"]`) {
		t.Fatalf("want an error naming the class differences, got %v", err)
	}
}

// TestEarlyStoppingRestoreBest: with a learning rate that makes validation worse, training stops
// early and ends with the best epoch's weights.
func TestEarlyStoppingRestoreBest(t *testing.T) {
	cfg := head.Config{Kind: head.Avg, Hidden: []int{64, 32}}
	tr := newHeadTrainer(t, t.TempDir(), cfg, Options{Epochs: 12, BatchSize: 16, LearningRate: 0.3,
		EarlyStopping: 2, RestoreBest: true, Classes: []string{"a", "b", "c", "d", "e"}})
	valid := syntheticFeatures(50, 2)
	h, err := tr.Fit(syntheticFeatures(100, 1), valid)
	if err != nil {
		t.Fatal(err)
	}
	if tr.State.Stopped == "" || len(h) >= 12 {
		t.Skipf("validation kept improving for %d epochs: nothing to stop", len(h))
	}
	best := h[tr.State.BestEpoch-1]
	r, err := tr.Evaluate(valid)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Loss-best.ValLoss) > 1e-3*math.Max(1, best.ValLoss) {
		t.Errorf("after restore-best val_loss %.5f, best epoch %d had %.5f", r.Loss, best.Epoch, best.ValLoss)
	}
}
