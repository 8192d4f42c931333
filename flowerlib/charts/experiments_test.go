package charts

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

func TestLRFinder(t *testing.T) {
	r := &trainer.LRFindResult{}
	for i := range 50 {
		lr := 1e-7 * math.Pow(1e8, float64(i)/49)
		r.LRs = append(r.LRs, lr)
		r.Losses = append(r.Losses, 1.6-0.05*float64(i%30)+0.01*float64(i%3))
	}
	r.Smoothed = trainer.Smooth(r.Losses, 0.9)
	r.Steep, r.Minimum = trainer.Suggest(r.LRs, r.Smoothed)
	svg := LRFinder(r).SVG()
	for _, want := range []string{`class="flowers-xy-chart"`, "suggested (steepest): ", "minimum: ", ">smoothed<", ">1e-07<", "learning-rate finder (50 steps)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("lr_find chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, `class="marker"`); n != 2 {
		t.Errorf("%d markers, want 2", n)
	}
}

func TestExperimentFigures(t *testing.T) {
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	photos, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	classes := []string{"daisy", "dandelion", "roses", "sunflowers", "tulips"}
	// CAM gallery: mistakes first, captions, photos overlaid.
	cams := []learner.CAMResult{
		{Path: photos[0], True: 0, Predicted: 0, Probability: 0.9, Map: make([]float32, 4), H: 2, W: 2, Method: learner.MethodCAM},
		{Path: photos[11], True: 1, Predicted: 4, Probability: 0.61, Map: []float32{1, 0, 0, -1}, H: 2, W: 2, Method: learner.MethodCAM},
		{Path: "missing.jpg", True: 2, Err: "no such file"},
	}
	g, err := CAMGallery(cams, classes, 6, 64)
	if err != nil {
		t.Fatal(err)
	}
	svg := g.SVG()
	if i, j := strings.Index(svg, `data-mark="mistake"`), strings.Index(svg, `data-mark="correct"`); i < 0 || j < 0 || i > j {
		t.Errorf("mistake not first (%d, %d)", i, j)
	}
	if strings.Count(svg, "<image ") != 2 || !strings.Contains(svg, ">pred tulips 61%<") || !strings.Contains(svg, "CAM of the predicted class: 2 photos, 1 mistakes first") {
		t.Errorf("CAM gallery: %.400s", svg)
	}
	if _, err := CAMGallery(cams[2:], classes, 6, 64); err == nil || err.Error() != "charts.CAMGallery: no photo could be explained" {
		t.Errorf("no CAM: %v", err)
	}
	// Top losses: largest first, the caption of fastai's plot_top_losses.
	in := &learner.Interpretation{Report: &metrics.Report{Classes: classes}, Paths: photos[:3], Labels: []int32{0, 1, 2},
		Probs: [][]float32{{0.9, 0.1, 0, 0, 0}, {0.7, 0.2, 0.1, 0, 0}, {0, 0, 0.5, 0.5, 0}}}
	tl, err := TopLossesGallery(in, 2, 64)
	if err != nil {
		t.Fatal(err)
	}
	if s := tl.SVG(); strings.Count(s, "<image ") != 2 || !strings.Contains(s, ">daisy / dandelion<") || !strings.Contains(s, ">loss 1.61 · p(true) 0.20<") ||
		strings.Index(s, "daisy / dandelion") > strings.Index(s, "roses / roses") {
		t.Errorf("top losses: %.600s", s)
	}
	// Compare: both charts carry the fine-tuning marker after the frozen epoch.
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
	cs := Compare(c).SVG()
	if n := strings.Count(cs, `class="marker" data-x="1.5"`); n != 2 || strings.Count(cs, ">start fine-tuning</text>") != 2 {
		t.Errorf("%d fine-tuning markers between epochs 1 and 2, want 2", n)
	}
	// Transfer: one bar per stage and the chance level.
	tr := &learner.Transfer{Chance: 0.2, Stages: []learner.StageProbe{{Layer: "conv2_block3_out", Channels: 256, Grid: 56, ValAccuracy: 0.4},
		{Layer: "conv5_block3_out", Channels: 2048, Grid: 7, ValAccuracy: 0.9}}}
	if s := Transfer(tr).SVG(); strings.Count(s, `class="bar"`) != 2 || !strings.Contains(s, ">2048 ch · 7×7<") || !strings.Contains(s, ">most frequent class 20%<") {
		t.Errorf("transfer chart: %.500s", s)
	}
	// Embedding: one point per photo, rings for validation photos, PCA axes with the variance.
	e := &learner.Embedding{Method: learner.EmbedPCA, Weights: "random:42", Classes: classes[:2], Paths: photos[:3], Labels: []int{0, 1, 1},
		Valid: []bool{false, false, true}, Points: []float64{0, 0, 1, 1, 2, 0}, Explained: []float64{0.3, 0.1}, NeighbourAccuracy: 1}
	if s := Embedding(e).SVG(); strings.Count(s, `class="point"`) != 2 || strings.Count(s, `class="point hollow"`) != 1 ||
		!strings.Contains(s, "PC1 (30% of the variance)") || !strings.Contains(s, "random weights: nearest neighbour 100%") {
		t.Errorf("embedding chart: %.500s", s)
	}
}
