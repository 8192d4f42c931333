package notebooks_test

import (
	"regexp"
	"testing"
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
