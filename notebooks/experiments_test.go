package notebooks_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// ExperimentsNotebook is the notebook of the teaching experiments (embedding map, probes per
// stage, learning-rate finder, the three ways, CAM, interpretation).
const ExperimentsNotebook = "transfer_experiments.ipynb"

// experimentsFigures: embedding maps by PCA and by t-SNE, the probes, the learning-rate finder,
// the head's curves, the three ways, the CAM gallery and the top losses. They are all its
// pictures.
const experimentsFigures = 8

// checkNotebookOutputs asserts what the notebooks other than the walkthrough must show once
// executed (checkOutputs calls it with the outputs' text and the number of SVG+PNG figures).
func checkNotebookOutputs(t *testing.T, name, text string, figures int) {
	t.Helper()
	if name+".ipynb" != ExperimentsNotebook {
		return
	}
	if figures != experimentsFigures {
		t.Errorf("%s: %d figures (SVG+PNG outputs), want %d", name, figures, experimentsFigures)
	}
	for _, want := range []struct{ what, pattern string }{
		{"the PCA map of random weights", `class="flowers-embedding-maps".*?class="flowers-scatter".*?random weights: nearest neighbour \d+%.*?PC1 \(\d+% of the variance\)`},
		{"the panel that says what the ImageNet map needs", `class="flowers-placeholder".*?This panel needs Keras(&#39;|') ImageNet<.*?94 MB`},
		{"the t-SNE map", `class="flowers-scatter".*?t-SNE 1`},
		{"nearest-neighbour accuracies", `random weights, pca of \d+ photos: nearest-neighbour accuracy \d+% in the 2048 features`},
		{"the probe chart", `class="flowers-level-bars".*?>conv2<.*?>conv5<.*?most frequent class \d+%`},
		{"the probe table", `>conv4_block6_out<.*?>1024<`},
		{"the learning-rate finder", `class="flowers-xy-chart".*?suggested \(steepest\): \d\.\de[-+]\d\d`},
		{"the suggestion", `suggested learning rate \d\.\de[-+]\d\d \(steepest descent\)`},
		{"the head trained at it", `Epoch 3/3 - .*?3 epochs at lr \d\.\de[-+]\d\d: val_accuracy`},
		{"the three ways", `class="flowers-compare".*?>from scratch<.*?>frozen features<.*?>fine-tuned<.*?>start fine-tuning</text>`},
		{"the table of the three ways", `>way</th>.*?>from scratch<.*?>\d+,\d\d\d,\d\d\d<`},
		{"the CAM gallery", `CAM of the predicted class: \d+ photos, \d+ mistakes first`},
		{"the most confused pairs", `>true class</th><th[^>]*>predicted as</th>`},
		{"the top losses", `top \d+ losses: prediction / actual`},
		{"the banner of random weights", `class="banner"[^>]*>random ResNet50 weights`},
	} {
		if !regexp.MustCompile(`(?s)` + want.pattern).MatchString(text) {
			t.Errorf("%s: no %s in the outputs (pattern %q)", name, want.what, want.pattern)
		}
	}
}

// TestBenchExperimentsNotebook (FLOWERS_BENCH=1) runs the experiments notebook headless on the
// 200 sample photos with the notebook's own settings (224×224, 15 epochs of the head; the three
// ways at 96×96, 3 epochs) instead of the CI ones, and reports the time. The target is 10
// minutes on a 2-core CPU; measured 6 min 20 s and 7 min 24 s (go backend, shared machine, the
// features cache cold).
func TestBenchExperimentsNotebook(t *testing.T) {
	if os.Getenv("FLOWERS_BENCH") != "1" {
		t.Skip("FLOWERS_BENCH=1 runs the experiments notebook on the 200 sample photos (minutes)")
	}
	jupyter := requireKernel(t)
	if sampleDir() == "" {
		skipOrFail(t, "the sample photos are not in ../shared/data/flower_photos_small (nor $FLOWERS_SAMPLE_DIR)")
	}
	start := time.Now()
	executed := executeNotebook(t, jupyter, filepath.Join(notebooksDir, ExperimentsNotebook), filepath.Join(outDir(t), "transfer_experiments.bench.ipynb"),
		"FLOWERS_PER_CLASS=", "FLOWERS_EPOCHS=", "FLOWERS_IMAGE_SIZE=")
	t.Logf("%s on the 200 sample photos, the notebook's settings: %.0fs", ExperimentsNotebook, time.Since(start).Seconds())
	for i, c := range executed.Cells {
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell %d failed: %s: %s", i, o.Ename, o.Evalue)
			}
		}
	}
}
