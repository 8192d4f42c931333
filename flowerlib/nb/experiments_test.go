package nb

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

func TestExperimentsEnv(t *testing.T) {
	env := map[string]string{"FLOWERS_COMPARE_SIZE": "64", "FLOWERS_PHOTOS": "6"}
	e, err := Experiments{CompareSize: 96, CompareEpochs: 3}.fromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if e = e.Defaults(); e != (Experiments{CompareSize: 64, CompareEpochs: 3, FreezeEpochs: 1, Photos: 6}) {
		t.Errorf("experiments %+v", e)
	}
	for _, bad := range []string{"x", "0", "-3", "1.5"} {
		_, err := Experiments{}.fromEnv(func(k string) (string, bool) { return bad, k == "FLOWERS_FREEZE_EPOCHS" })
		if err == nil || !strings.Contains(err.Error(), "$FLOWERS_FREEZE_EPOCHS") {
			t.Errorf("FLOWERS_FREEZE_EPOCHS=%q: %v", bad, err)
		}
	}
	s := config.Run{Data: "embedded", Weights: "random", Pooling: "avg", Work: t.TempDir(), Cache: t.TempDir()}
	d, err := Experiments{}.Dir(s)
	if err != nil {
		t.Fatal(err)
	}
	// Named as the run of the settings (learner.New's folder for them) is, under experiments/.
	info, err := learner.DescribeHead(learner.Config{Run: s})
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.RunFolder(info.Name + "-" + info.Fingerprint[:6])
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(d) != filepath.Base(run) || filepath.Base(filepath.Dir(d)) != "experiments" {
		t.Errorf("experiments folder %s for run %s", d, run)
	}
	// The built-in head's dropout changes the head, so the experiments' run folders too: a
	// named run folder refuses another head.
	drop := s
	drop.Dropout = 0.2
	if d2, err := (Experiments{}).Dir(drop); err != nil || d2 == d {
		t.Errorf("dropout 0.2: experiments folder %s (%v), the same as without", d2, err)
	}
	cfg, opts, err := Experiments{}.CompareConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ImageSize != 96 || cfg.RunDir != filepath.Join(d, "compare-s96-e3-f1") || opts.Epochs != 3 || opts.FreezeEpochs != 1 || cfg.Head != nil {
		t.Errorf("compare configuration: size %d, folder %s, %+v", cfg.ImageSize, cfg.RunDir, opts)
	}
}

func TestCompareAndTransferTables(t *testing.T) {
	h := func(acc ...float64) trainer.History {
		var out trainer.History
		for i, a := range acc {
			out = append(out, trainer.EpochStats{Epoch: i + 1, ValAccuracy: a, ValLoss: 1 - a, Seconds: 2})
		}
		return out
	}
	c := &learner.Comparison{Epochs: 3, FreezeEpoch: 1, Stage: "conv5", Ways: []learner.Way{
		{Name: learner.WayScratch, History: h(0.2, 0.2, 0.3), Trainable: 23_604_965},
		{Name: learner.WayFrozen, History: h(0.5, 0.7, 0.8), Trainable: 70_373, FeatureSeconds: 12},
		{Name: learner.WayFineTuned, History: h(0.5, 0.8, 0.9), FineTuneAfter: 1, Trainable: 15_046_373},
	}}
	if tab := CompareTable(c); !strings.Contains(tab, ">23,604,965<") || !strings.Contains(tab, ">90.0%<") || !strings.Contains(tab, "(+ 12 s features, once)") ||
		!strings.Contains(tab, "the head (1 epoch), then conv5 onwards with it") {
		t.Errorf("compare table: %s", tab)
	}
	tr := &learner.Transfer{Chance: 0.2, Stages: []learner.StageProbe{{Layer: "conv2_block3_out", Channels: 256, Grid: 56, TrainAccuracy: 0.5, ValAccuracy: 0.4, ValLoss: 1.25},
		{Layer: "conv5_block3_out", Channels: 2048, Grid: 7, TrainAccuracy: math.NaN(), ValAccuracy: 0.9}}}
	if tab := TransferTable(tr); !strings.Contains(tab, ">56×56<") || !strings.Contains(tab, ">40.0%<") || !strings.Contains(tab, ">1.250<") || !strings.Contains(tab, ">-<") {
		t.Errorf("transfer table: %s", tab)
	}
}

// TestEmbeddingMaps: with pre-trained weights at hand (here a Keras-layout .h5 file, as the
// ImageNet one would be) both panels are maps; with random weights the second says what it needs.
func TestEmbeddingMaps(t *testing.T) {
	if IsNotebook() {
		t.Skip("running inside GoNB")
	}
	captureOut(t)
	dir := t.TempDir()
	h5 := filepath.Join(dir, "other.h5")
	if err := weights.WriteH5(h5, resnet50.RandomWeights(7, false)); err != nil {
		t.Fatal(err)
	}
	base := config.Run{Data: "embedded", Pooling: "avg", ImageSize: 32, BatchSize: 16, Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache")}
	withFile, random := base, base
	withFile.Weights, random.Weights = h5, "random"
	fig, err := Experiments{}.EmbeddingMaps(withFile, learner.EmbedPCA)
	if err != nil {
		t.Fatal(err)
	}
	svg := fig.SVG()
	if strings.Count(svg, `class="flowers-scatter"`) != 2 || strings.Contains(svg, "flowers-placeholder") ||
		!strings.Contains(svg, "random weights: nearest neighbour") || !strings.Contains(svg, "other.h5 weights: nearest neighbour") {
		t.Errorf("maps with a weights file: %.300s", svg)
	}
	fig, err = Experiments{}.EmbeddingMaps(random, learner.EmbedPCA)
	if err != nil {
		t.Fatal(err)
	}
	if svg := fig.SVG(); strings.Count(svg, `class="flowers-scatter"`) != 1 || !strings.Contains(svg, `class="flowers-placeholder"`) {
		t.Errorf("maps with random weights only: %.300s", svg)
	}
}
