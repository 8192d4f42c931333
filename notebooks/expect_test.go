package notebooks_test

import (
	"fmt"
	"regexp"
	"strings"
)

// This file is what each notebook must show once executed: change it with the notebooks.
// checkOutputs (notebooks_test.go) applies it to an executed notebook, after the checks every
// notebook shares (no error, every code cell ran, every figure carries SVG and PNG, no <svg>
// inside HTML).

// execution describes one execution of a notebook: what its outputs show depends on it.
type execution struct {
	Epochs, PerClass int    // FLOWERS_EPOCHS, FLOWERS_PER_CLASS
	Data             string // "sample" (the 200 photos of ../shared) or "embedded" (the 50 in flowerlib)
	Backend          string // "go" or "xla:cpu": the kernel's GOMLX_BACKEND
	// Playground is how the walkthrough's last cell ran: "headless" (trained once, no
	// browser: nbconvert) or "driven" (in a browser, drivePlayground: 3 runs, then Done).
	Playground string
}

// expectation is what an executed notebook's outputs must show.
type expectation struct {
	Figures int // outputs carrying an SVG and a PNG of one figure
	// Pictures is what a browser shows in all once the notebook ran: the figures and the
	// other images (photos shown as <img>).
	Pictures int
	Patterns []pattern // each must match the text of all outputs, in order of the cells
}

// pattern is a regular expression (matched with (?s): "." crosses lines) and what it stands for.
type pattern struct{ what, re string }

// expect returns what the notebook (its file name) must show after the execution.
func expect(notebook string, e execution) expectation {
	switch notebook {
	case BrowserNotebook:
		return walkthroughExpect(e)
	case ExperimentsNotebook:
		return experimentsExpect(e)
	}
	panic("no expectations for " + notebook + ": add them to expect_test.go")
}

// walkthroughExpect: flowers.ipynb. Figures: class counts, sample grid, augmentation
// preview, loss and accuracy curves, confusion matrix, prediction gallery, own photo, the
// playground's accuracy and loss; pictures: those and the 3 photos of the resize demo.
func walkthroughExpect(e execution) expectation {
	ep := fmt.Sprintf("%d ep", e.Epochs)
	first := regexp.QuoteMeta("#1 lr 1e-3 · " + ep + " · b32 · avg")
	x := expectation{Figures: 9, Pictures: 9 + 3, Patterns: []pattern{
		{"the compile step of the first cell", `each cell starts in seconds`},
		{"labels head table", `<table class="flowers-table".*?\.jpg</td>`},
		{"class-count chart", `class="flowers-bar-chart"`},
		{fmt.Sprintf("%d photos per class", e.PerClass), fmt.Sprintf(`<text x="[^"]+" y="[^"]+" text-anchor="middle" class="value">%d</text>`, e.PerClass)},
		{"sample grid with JPEG photos", `class="flowers-image-grid".*?href="data:image/jpeg;base64,`},
		{"augmentation preview", `augmentation preview`},
		{"one-hot table", `\[0 0 1 0 0\]`},
		{"ResNet50 totals", `Total params: 23,587,712`},
		{"head summary", `dense_2 \(Dense\)`},
		{"loss and accuracy curves", `class="flowers-line-chart".*?>val_loss<.*?class="flowers-line-chart".*?>val_accuracy<`},
		{"the epoch table", fmt.Sprintf(`<th[^>]*>val_accuracy</th>.*?<td[^>]*>%d</td>`, e.Epochs)},
		{"the training summary on the backend", trainedOn(e.Backend)},
		{"confusion matrix", `class="flowers-confusion-matrix"`},
		{"prediction gallery", `predictions, \d+ mistakes \(red\)`},
		{"own-photo prediction, with the true class", `true class: [a-z]+\n.*?class="flowers-bar-chart".*?>prediction; true class: [a-z]+<`},
		{"the exported executable answering", `flowers-model\.onnx +\d+\.\d MB.*?\$ flowers-model [^\n]+\.jpg\n.*?\.jpg: [a-z]+ \d\.\d{3}`},
		{"the banner of random weights", `class="banner"[^>]*>random ResNet50 weights`},
		{"the playground's curves", `class="flowers-playground-accuracy".*?data-name="` + first + `".*?class="flowers-playground-loss"`},
		{"the playground's table", `<td[^>]*>#1</td>.*?<td[^>]*>done</td>`},
	}}
	switch e.Data {
	case "embedded":
		x.Patterns = append(x.Patterns,
			pattern{"the embedded photos chosen offline", regexp.QuoteMeta("auto → Data: the 50 embedded photos; Weights: random")},
			pattern{"the embedded photos' folder", `/data-sample-`},
			pattern{"the per-class count", fmt.Sprintf(`images per class \(%d in all\)`, 5*e.PerClass)})
	}
	switch e.Playground {
	case "headless":
		// nbconvert: no Jupyter server, no page; the playground says so and trains once.
		x.Patterns = append(x.Patterns, pattern{"the playground, headless",
			`widgets need a browser \(no page shows this notebook: jupyter-nbconvert \(pid \d+\) runs the kernel, not a Jupyter server\): ` +
				`trained once with the settings(&#39;|') values \(lr 1e-3 · ` + ep + ` · b32 · avg\)`})
	case "driven":
		x.Patterns = append(x.Patterns,
			pattern{"the run at the moved learning rate", `data-name="` + regexp.QuoteMeta("#2 lr 1e-2 · "+ep+" · b32 · avg") + `"`},
			pattern{"the stopped run", `<td[^>]*>#3</td>.*?<td[^>]*>stopped</td>`},
			pattern{"the playground closed by Done", `Playground closed \(Done pressed\) after 3 runs`})
	}
	return x
}

// trainedOn is the training cell's summary line ("N epochs, M steps on BACKEND: ..."):
// on XLA, the backend's name says so (XLA's backends name themselves after the PJRT plugin).
func trainedOn(backend string) string {
	if strings.HasPrefix(backend, "xla") {
		return `\d+ epochs, \d+ steps on (?i:[^:\n]*xla[^:\n]*): val_accuracy`
	}
	return `\d+ epochs, \d+ steps on [^:\n]+: val_accuracy`
}

// experimentsExpect: transfer_experiments.ipynb. Figures: embedding maps by PCA and by t-SNE,
// the probes, the learning-rate finder, the head's curves, the three ways, the CAM gallery and
// the top losses; they are all its pictures.
func experimentsExpect(e execution) expectation {
	return expectation{Figures: 8, Pictures: 8, Patterns: []pattern{
		{"the PCA map of random weights", `class="flowers-embedding-maps".*?class="flowers-scatter".*?random weights: nearest neighbour \d+%.*?PC1 \(\d+% of the variance\)`},
		{"the panel that says what the ImageNet map needs", `class="flowers-placeholder".*?This panel needs Keras(&#39;|') ImageNet<.*?94 MB`},
		{"the t-SNE map", `class="flowers-scatter".*?t-SNE 1`},
		{"nearest-neighbour accuracies", `random weights, pca of \d+ photos: nearest-neighbour accuracy \d+% in the 2048 features`},
		{"the probe chart", `class="flowers-level-bars".*?>conv2<.*?>conv5<.*?most frequent class \d+%`},
		{"the probe table", `>conv4_block6_out<.*?>1024<`},
		{"what the probes show", `Here the best stage is conv\d_block\d_out \(validation accuracy \d+%\)`},
		{"the learning-rate finder", `class="flowers-xy-chart".*?suggested \(steepest\): \d\.\de[-+]\d\d`},
		{"the suggestion", `suggested learning rate \d\.\de[-+]\d\d \(steepest descent of the loss\)`},
		{"the head trained at it", fmt.Sprintf(`%d epochs at lr \d\.\de[-+]\d\d: val_accuracy`, e.Epochs)},
		{"the three ways", `class="flowers-compare".*?>from scratch<.*?>frozen features<.*?>fine-tuned<.*?>start fine-tuning</text>`},
		{"the table of the three ways", `>way</th>.*?>from scratch<.*?>\d+,\d\d\d,\d\d\d<`},
		{"what the three ways show", fmt.Sprintf(`After \d+ epochs, by validation accuracy: [a-z -]+ \d+%%`)},
		{"the CAM gallery", `CAM of the predicted class: \d+ photos, \d+ mistakes first`},
		{"the most confused pairs", `>true class</th><th[^>]*>predicted as</th>`},
		{"the top losses", `top \d+ losses: prediction / actual`},
		{"the banner of random weights", `class="banner"[^>]*>random ResNet50 weights`},
		{"the run's own readings", `These runs used random weights, not ImageNet(&#39;|')s.*?Linear probes \(section 2\): conv.*?The three ways \(section 3\.3\): from scratch \d+%`},
	}}
}
