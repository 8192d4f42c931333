package learner

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// TestFineTuneFrozenCache: fine-tuning from conv5 on unaugmented photos runs conv1..conv4 once
// (the log says so) and learns as the photos path does, and leaves a checkpoint that Open and a
// resumed run on the photos path both take. Both paths draw the same batches in the same order
// (shuffles depend on the seed and the epoch only) and the same dropout.
//
// With the base as a graph on the go backend ($FLOWERS_BASE=graph, the "go-graph" run) both
// compute the same numbers: the History, the evaluation and the predictions are equal within
// float tolerance. Otherwise they are equal only up to round-off: the frozen layers inside the
// training graph differ from the extractor's (XLA's compiled extractor; the go backend's host
// path, resnet50.EnvBase) by ~1e-6 (the first step's loss agrees within 1e-5), and training
// amplifies that on these tiny random models (BatchNorm on batch statistics of 8 1×1 maps, Adam
// turning round-off gradients into full-size steps) to 1e-2 within four steps, so there only
// the first step is compared.
func TestFineTuneFrozenCache(t *testing.T) {
	testdata.Slow(t, "backpropagates through ResNet50's conv5 four times, on each backend")
	if testing.Short() {
		t.Skip("backpropagates through ResNet50's conv5, four times")
	}
	forEachBackend(t, testFineTuneFrozenCache)
	t.Run("go-graph", func(t *testing.T) {
		t.Setenv(resnet50.EnvBase, "graph")
		testFineTuneFrozenCache(t, "go")
	})
}

func testFineTuneFrozenCache(t *testing.T, backendName string) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	steps := &[]float64{}
	cfg := func(run string, log io.Writer) Config {
		return Config{Run: config.Run{Data: data, Weights: "random:1", RunDir: filepath.Join(dir, run), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 32, Backend: backendName, FineTuneEpochs: 2, FineTuneLR: 1e-3, Epochs: 2, BatchSize: 8}, Head: head.Article(5, []int{32, 16}, 0.2), Log: log, OnStep: func(s trainer.StepInfo) { *steps = append(*steps, s.Loss) }}
	}
	var photosLog, cachedLog bytes.Buffer
	photos, photosPreds := fineTuneWithLimit(t, cfg("photos", io.MultiWriter(&photosLog, testLog(t))), 0, steps)
	cached, cachedPreds := fineTuneWithLimit(t, cfg("cached", io.MultiWriter(&cachedLog, testLog(t))), frozenCacheLimit, steps)
	if !strings.Contains(cachedLog.String(), `frozen layers up to "conv4_block6_out" ran once`) {
		t.Errorf("the cached run did not run the frozen layers once:\n%s", cachedLog.String())
	}
	if !strings.Contains(photosLog.String(), "over the 0.00 GiB limit") || strings.Contains(photosLog.String(), "ran once") {
		t.Errorf("the photos run did not say why it runs the whole base:\n%s", photosLog.String())
	}
	if math.Abs(photos.firstStep-cached.firstStep) > 1e-5*photos.firstStep {
		t.Errorf("first fine-tuning step: loss %v on the photos, %v cached", photos.firstStep, cached.firstStep)
	}
	if backendName == "go" && os.Getenv(resnet50.EnvBase) == "graph" {
		assertSameHistory(t, photos.FineTune, cached.FineTune)
		if !near(photos.Eval.Loss, cached.Eval.Loss) || photos.Eval.Accuracy != cached.Eval.Accuracy {
			t.Errorf("evaluation: photos %v/%v, cached %v/%v", photos.Eval.Loss, photos.Eval.Accuracy, cached.Eval.Loss, cached.Eval.Accuracy)
		}
		assertSamePredictions(t, photosPreds, cachedPreds)
	} else if len(cached.FineTune) != 2 || !isFinite(cached.FineTune[1].Loss) || !isFinite(cached.Eval.Loss) {
		t.Errorf("cached fine-tune history %v, evaluation loss %v", cached.FineTune, cached.Eval.Loss)
	}

	// The cached run's checkpoint holds the whole model: Open predicts the same, and a resumed
	// run on the photos path continues from it.
	m, err := Open(filepath.Join(dir, "cached"), OpenOptions{Backend: backendName, Head: head.Article(5, []int{32, 16}, 0.2), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	opened, err := m.Predict(predictPaths(t, data), 2)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	assertSamePredictions(t, cachedPreds, opened)
	more := cfg("cached", testLog(t))
	more.FineTuneEpochs = 3
	resumed, _ := fineTuneWithLimit(t, more, 0, steps)
	if len(resumed.FineTune) != 3 || !isFinite(resumed.FineTune[2].Loss) {
		t.Fatalf("resumed fine-tune history %v", resumed.FineTune)
	}
	assertSameHistory(t, cached.FineTune, resumed.FineTune[:2])
}

// fineTuned is a test run's outcome; firstStep is the loss of its first fine-tuning step.
type fineTuned struct {
	*Result
	firstStep float64
}

// fineTuneWithLimit trains the head and fine-tunes from conv5 with frozenCacheLimit set to limit
// (0: the photos path), and predicts a few photos with the result; cfg's OnStep appends each
// step's loss to steps.
func fineTuneWithLimit(t *testing.T, cfg Config, limit int64, steps *[]float64) (fineTuned, []Prediction) {
	t.Helper()
	defer func(old int64) { frozenCacheLimit = old }(frozenCacheLimit)
	frozenCacheLimit = limit
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := fineTuned{Result: &Result{}}
	if res.History, err = l.Fit(); err != nil {
		t.Fatal(err)
	}
	first := len(*steps)
	if res.FineTune, err = l.FineTune("conv5"); err != nil {
		t.Fatal(err)
	}
	if res.Eval, err = l.Evaluate(); err != nil {
		t.Fatal(err)
	}
	preds, err := l.Predict(predictPaths(t, cfg.Data), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(*steps) > first {
		res.firstStep = (*steps)[first]
	}
	return res, preds
}

func predictPaths(t *testing.T, data string) []string {
	paths, err := filepath.Glob(filepath.Join(data, "*", "*.png"))
	if err != nil || len(paths) < 5 {
		t.Fatalf("photos %v: %v", paths, err)
	}
	return paths[:5]
}

func assertSameHistory(t *testing.T, want, got trainer.History) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if !near(w.Loss, g.Loss) || !near(w.ValLoss, g.ValLoss) || w.Accuracy != g.Accuracy || w.ValAccuracy != g.ValAccuracy || w.Step != g.Step {
			t.Errorf("epoch %d: got %+v, want %+v", i+1, g, w)
		}
	}
}

func assertSamePredictions(t *testing.T, want, got []Prediction) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d predictions, want %d", len(got), len(want))
	}
	for i := range want {
		for c := range want[i].Probs {
			if math.Abs(float64(got[i].Probs[c]-want[i].Probs[c])) > 1e-4 {
				t.Errorf("%s: probabilities %v, want %v", want[i].Path, got[i].Probs, want[i].Probs)
				break
			}
		}
	}
}

// near is equality within float32 round-off accumulated over a few training steps.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-4*math.Max(1, math.Abs(a)) }

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
