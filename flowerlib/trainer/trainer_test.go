package trainer_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

var classes5 = []string{"a", "b", "c", "d", "e"}

// syntheticFeatures: 5 classes, each a random prototype in [2048] plus noise.
func syntheticFeatures(n int, seed uint64) *trainer.ArrayData {
	r := rand.New(rand.NewPCG(seed, 1))
	protos := make([][]float32, 5)
	pr := rand.New(rand.NewPCG(7, 7))
	for c := range protos {
		protos[c] = make([]float32, 2048)
		for j := range protos[c] {
			protos[c][j] = float32(pr.ExpFloat64())
		}
	}
	d := &trainer.ArrayData{Dims: []int{2048}}
	for i := 0; i < n; i++ {
		c := i % 5
		d.Y = append(d.Y, int32(c))
		for j := 0; j < 2048; j++ {
			d.X = append(d.X, protos[c][j]+float32(r.NormFloat64())*1.5)
		}
	}
	return d
}

// headCfg is a small version of the article's head (head.Article) on pooled [2048] features.
type headCfg struct {
	Hidden  []int
	Dropout float64
}

// headConfig is the trainer configuration of a head on cached features, as flowerlib/learner
// assembles it.
func headConfig(t testing.TB, b string, runDir string, cfg headCfg, opts trainer.Options) trainer.Config {
	t.Helper()
	be := backend.MustNew(b, nil)
	store := model.NewStore()
	fn := head.Article(5, cfg.Hidden, cfg.Dropout)
	if _, err := head.Init(be, store, fn, []int{2048}); err != nil {
		t.Fatal(err)
	}
	return trainer.Config{Backend: be, Store: store, RunDir: runDir, Identity: classes5, Model: fn, Options: opts}
}

func newHeadTrainer(t testing.TB, runDir string, cfg headCfg, opts trainer.Options) *trainer.Trainer {
	t.Helper()
	tr, err := trainer.New(headConfig(t, "go", runDir, cfg, opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func TestFitPooledSynthetic(t *testing.T) {
	cfg := headCfg{Hidden: []int{64, 32}}
	tr := newHeadTrainer(t, t.TempDir(), cfg, trainer.Options{Epochs: 3, BatchSize: 16, Log: os.Stdout})
	if tr.Step().Kind() != trainer.StepHost {
		t.Errorf("go backend trains with the %s step, want %s", tr.Step().Kind(), trainer.StepHost)
	}
	h, err := tr.Fit(syntheticFeatures(100, 1), syntheticFeatures(50, 2))
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	if last.ValAccuracy < 0.95 {
		t.Errorf("val accuracy %.3f < 0.95", last.ValAccuracy)
	}
	// Evaluation gives the same loss as the last epoch's val_loss.
	ev, err := tr.Evaluate(syntheticFeatures(50, 2))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(ev.Loss-last.ValLoss) > 1e-4*math.Max(1, last.ValLoss) || math.Abs(ev.Accuracy-last.ValAccuracy) > 1e-9 {
		t.Errorf("evaluation loss %.5f / accuracy %.4f, last epoch val_loss %.5f / val_accuracy %.4f",
			ev.Loss, ev.Accuracy, last.ValLoss, last.ValAccuracy)
	}
}

// TestStepsAgree: GoMLX's in-graph step (train.Trainer + Adam) and the host fast path train the
// same head to the same losses and weights, with autodiff and with the sequential (outer-product)
// gradients. On an
// XLA backend (when a PJRT plugin is installed) the graph step gives the same numbers too.
func TestStepsAgree(t *testing.T) {
	cfg := headCfg{Hidden: []int{32, 16}, Dropout: 0}
	data := syntheticFeatures(64, 3)
	type run struct {
		name, backend, step string
	}
	runs := []run{{"host (sequential gradients)", "go", trainer.StepHost}, {"host+autodiff", "go", trainer.StepHostAutodiff},
		{"graph", "go", trainer.StepGraph}}
	if backend.Choose("") == "xla:cpu" || os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" {
		runs = append(runs, run{"xla:cpu graph", "xla:cpu", ""})
	}
	var refLoss []float64
	var refW []float32
	for _, r := range runs {
		c := headConfig(t, r.backend, t.TempDir(), cfg, trainer.Options{Epochs: 1, BatchSize: 16, LearningRate: 3e-3})
		c.StepKind = r.step
		tr, err := trainer.New(c)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		var losses []float64
		tr.OnStep = func(s trainer.StepInfo) { losses = append(losses, s.Loss) }
		if _, err := tr.Fit(data, nil); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if r.backend != "go" && tr.Step().Kind() != trainer.StepGraph {
			t.Errorf("%s trains with the %s step", r.backend, tr.Step().Kind())
		}
		w := tensors.MustCopyFlatData[float32](c.Store.GetVariable("/dense/kernel").MustValue())
		mm := c.Store.GetVariable("/batch_normalization_1/moving_mean")
		tr.Close()
		if mm == nil {
			t.Fatalf("%s: no moving mean", r.name)
		}
		if refLoss == nil {
			refLoss, refW = losses, w
			continue
		}
		for i := range losses {
			if math.Abs(losses[i]-refLoss[i]) > 1e-4*math.Max(1, refLoss[i]) {
				t.Errorf("%s: step %d loss %.6f, %s %.6f", r.name, i+1, losses[i], runs[0].name, refLoss[i])
			}
		}
		worst := 0.0
		for i := range w {
			worst = math.Max(worst, math.Abs(float64(w[i]-refW[i])))
		}
		if worst > 1e-4 {
			t.Errorf("%s: dense/kernel differs by up to %.2g from %s", r.name, worst, runs[0].name)
		}
		t.Logf("%s: %d steps, losses equal within 1e-4, kernel within %.1g", r.name, len(losses), worst)
	}
}

// TestResumeChecksIdentity: a run folder refuses another identity (class list), naming both.
func TestResumeChecksIdentity(t *testing.T) {
	dir := t.TempDir()
	cfg := headCfg{Hidden: []int{16, 8}}
	tr := newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 1, BatchSize: 16})
	if _, err := tr.Fit(syntheticFeatures(40, 1), nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	c := headConfig(t, "go", dir, cfg, trainer.Options{})
	c.Identity = []string{"a", "b", "c", "d", "x"}
	_, err := trainer.New(c)
	if err == nil || !strings.Contains(err.Error(), `["a","b","c","d","e"]`) || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("want an error naming both identities, got %v", err)
	}
	// A custom check names the difference its own way.
	c.CheckIdentity = func(saved json.RawMessage) error { return os.ErrInvalid }
	if _, err := trainer.New(c); err == nil || !strings.Contains(err.Error(), "invalid argument") {
		t.Fatalf("custom identity check not used: %v", err)
	}
}

// TestEarlyStoppingRestoreBest: with a learning rate that makes validation worse, training stops
// early and ends with the best epoch's weights.
func TestEarlyStoppingRestoreBest(t *testing.T) {
	cfg := headCfg{Hidden: []int{64, 32}}
	tr := newHeadTrainer(t, t.TempDir(), cfg, trainer.Options{Epochs: 12, BatchSize: 16, LearningRate: 0.3,
		EarlyStopping: 2, RestoreBest: true})
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

// TestMoreEpochsOnFinishedRun: a finished run asked for more epochs trains them.
func TestMoreEpochsOnFinishedRun(t *testing.T) {
	dir := t.TempDir()
	cfg := headCfg{Hidden: []int{16, 8}}
	data := syntheticFeatures(32, 1)
	tr := newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 2, BatchSize: 16})
	if _, err := tr.Fit(data, nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr = newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 3, BatchSize: 16})
	if tr.Resumed == "" || !tr.State.Done || tr.State.Step != 4 {
		t.Fatalf("resume of the finished run: %q done=%v step=%d", tr.Resumed, tr.State.Done, tr.State.Step)
	}
	h, err := tr.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || tr.State.Step != 6 || !tr.State.Done {
		t.Fatalf("after asking for 3 epochs: %d epochs, step %d, done %v", len(h), tr.State.Step, tr.State.Done)
	}
}

// TestFewerEpochsOnFinishedRun (BAD_INPUTS 35): a run that has trained 3 epochs, asked for 1,
// is refused, saying how many it has and both ways on, instead of printing "epoch 1/1" and
// then reporting its 3 epochs; asked for 3 it is finished as it was.
func TestFewerEpochsOnFinishedRun(t *testing.T) {
	dir := t.TempDir()
	cfg := headCfg{Hidden: []int{16, 8}}
	data := syntheticFeatures(32, 1)
	tr := newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 3, BatchSize: 16})
	if _, err := tr.Fit(data, nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	_, err := trainer.New(headConfig(t, "go", dir, cfg, trainer.Options{Epochs: 1, BatchSize: 16}))
	want := "trainer: the run in " + dir + " has already trained 3 epochs, more than the 1 asked: it would train nothing and report 3 epochs. " +
		"Ask for 3 epochs or more to go on with it, or train 1 epoch in a new run folder"
	if err == nil || err.Error() != want {
		t.Fatalf("fewer epochs:\n%v\nwant\n%s", err, want)
	}
	tr = newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 3, BatchSize: 16})
	defer tr.Close()
	if h, err := tr.Fit(data, nil); err != nil || len(h) != 3 || !tr.Finished() {
		t.Fatalf("the same epochs again: %d epochs, %v", len(h), err)
	}
}

// TestStopMidEpochResumes: Stop from OnStep checkpoints the position; the next Fit continues
// to the same result as an uninterrupted run.
func TestStopMidEpochResumes(t *testing.T) {
	t.Run("go", func(t *testing.T) { testStopMidEpochResumes(t, "go") })
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" || os.Getenv("CI") == "true" {
		t.Run("xla:cpu", func(t *testing.T) { testStopMidEpochResumes(t, "xla:cpu") })
	}
}

func testStopMidEpochResumes(t *testing.T, b string) {
	cfg := headCfg{Hidden: []int{16, 8}, Dropout: 0.3}
	data := syntheticFeatures(48, 4)
	newHeadTrainer := func(t *testing.T, dir string, cfg headCfg, opts trainer.Options) *trainer.Trainer {
		tr, err := trainer.New(headConfig(t, b, dir, cfg, opts))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.Close)
		return tr
	}
	full := newHeadTrainer(t, t.TempDir(), cfg, trainer.Options{Epochs: 2, BatchSize: 8})
	want, err := full.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 2, BatchSize: 8})
	tr.OnStep = func(s trainer.StepInfo) {
		if s.Step == 4 {
			tr.Stop()
		}
	}
	if _, err := tr.Fit(data, nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr = newHeadTrainer(t, dir, cfg, trainer.Options{Epochs: 2, BatchSize: 8})
	if tr.State.Step != 4 {
		t.Fatalf("resumed at step %d, want 4", tr.State.Step)
	}
	got, err := tr.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || math.Abs(got[1].Loss-want[1].Loss) > 1e-6 {
		t.Fatalf("stopped and resumed: %v, uninterrupted: %v", got, want)
	}
}
