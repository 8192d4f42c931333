package learner

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/resnet50"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// TestFineTuneConv5: after the head phase, fine-tuning from "conv5" changes the conv5 weights,
// leaves conv4 untouched, and keeps learning (finite loss, history saved).
func TestFineTuneConv5(t *testing.T) {
	testdata.Slow(t, "backpropagates through ResNet50's conv5, on each backend")
	if testing.Short() {
		t.Skip("backpropagates through ResNet50's conv5")
	}
	forEachBackend(t, testFineTuneConv5)
}

func testFineTuneConv5(t *testing.T, backendName string) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	runDir := filepath.Join(dir, "run")
	res, err := Run(Config{Run: config.Run{Data: filepath.Join(dir, "data"), Weights: "random:1", RunDir: runDir, Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 32, Backend: backendName, FineTune: "conv5", FineTuneEpochs: 2, FineTuneLR: 1e-4, Epochs: 2, BatchSize: 8}, Head: head.Article(5, []int{32, 16}, 0), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]string{true: trainer.StepHost, false: trainer.StepGraph}[backendName == "go"]; res.Step != want {
		t.Errorf("%s trained with the %s step, want %s", backendName, res.Step, want)
	}
	if len(res.FineTune) != 2 {
		t.Fatalf("fine-tune history %v", res.FineTune)
	}
	names, _ := trainer.ListCheckpoints(filepath.Join(runDir, FineTuneDir))
	if len(names) == 0 {
		t.Fatal("no fine-tune checkpoint")
	}
	c, err := trainer.OpenCheckpoint(names[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := resnet50.RandomWeights(1, false)
	changed := map[string]bool{}
	for _, l := range w.Layers {
		for _, wt := range l.Weights {
			data, _, err := c.Float32("/" + BaseScope + "/" + l.Name + "/" + shortName(wt.Name))
			if err != nil {
				t.Fatal(err)
			}
			changed[l.Name] = changed[l.Name] || !slices.Equal(data, wt.Data)
		}
	}
	if !changed["conv5_block3_3_conv"] || !changed["conv5_block1_1_conv"] {
		t.Errorf("conv5 weights did not change: %v", changed)
	}
	if changed["conv4_block6_3_conv"] || changed["conv1_conv"] {
		t.Errorf("frozen layers changed: %v", changed)
	}
}

func shortName(n string) string {
	_, after, _ := cutLast(n, "/")
	if i := len(after) - 2; i > 0 && after[i:] == ":0" {
		return after[:i]
	}
	return after
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return "", s, false
}

// TestAugmentMode: images augmented on the fly through the base every epoch, and K cached
// augmented copies, both train (finite loss, one history line per epoch, a copy cache per K).
func TestAugmentMode(t *testing.T) {
	testdata.Slow(t, "the frozen base over augmented photos every epoch")
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	for _, copies := range []int{0, 2} {
		res, err := Run(Config{Run: config.Run{Data: filepath.Join(dir, "data"), Weights: "random:1", RunDir: filepath.Join(dir, "run", string(rune('0'+copies))), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 32, Backend: "go", Mode: ModeAugment, AugmentCopies: copies, Epochs: 2, BatchSize: 8}, Head: head.Article(5, []int{32, 16}, 0), Augmentation: augment.Scaled(1, 7)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.History) != 2 || res.Final.Loss != res.Final.Loss {
			t.Fatalf("copies=%d: history %v", copies, res.History)
		}
	}
	caches, _ := filepath.Glob(filepath.Join(dir, "cache", "features", "*.f32"))
	if len(caches) != 3 { // the plain features + 2 augmented copies
		t.Errorf("feature caches %v, want 3", caches)
	}
}
