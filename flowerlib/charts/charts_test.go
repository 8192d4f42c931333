package charts

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// savePNG writes f's raster under $FLOWERS_TEST_OUT (when set) so a person can look at it.
func savePNG(t *testing.T, name string, f *plots.Figure) {
	t.Helper()
	if dir := os.Getenv("FLOWERS_TEST_OUT"); dir != "" {
		b, err := f.PNG()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestImage(t *testing.T) {
	rgb := images.NewRGB(2, 1)
	copy(rgb.Pix, []uint8{10, 20, 30, 40, 50, 60})
	img := Image(rgb)
	if got := img.Pix; !bytes.Equal(got, []uint8{10, 20, 30, 255, 40, 50, 60, 255}) {
		t.Errorf("RGBA pixels %v", got)
	}
}

func TestTextTable(t *testing.T) {
	got := TextTable([]string{"class", "count", "share"}, [][]string{{"daisy", "7", "12.5%"}, {"dandelion", "12", "-"}, {"rosé", "1e3", "NaN"}})
	want := "class      count  share\n" +
		"daisy          7  12.5%\n" +
		"dandelion     12  -    \n" +
		"rosé         1e3    NaN\n"
	if got != want {
		t.Errorf("TextTable:\n%s\nwant:\n%s", got, want)
	}
	if got := TextTable(nil, [][]string{{"a", "1"}}); got != "a  1\n" {
		t.Errorf("TextTable without a header: %q", got)
	}
	for s, want := range map[string]bool{"3.5": true, "12%": true, " -7 ": true, "1e-3": true, "": false, "-": false, "%": false,
		"daisy": false, "3 photos": false, "12abc": false, "2nd": false} {
		if got := IsNumber(s); got != want {
			t.Errorf("IsNumber(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestCurves(t *testing.T) {
	h := trainer.History{
		{Epoch: 1, Loss: 1.2, Accuracy: 0.5, ValLoss: 1.3, ValAccuracy: 0.4, Seconds: 2},
		{Epoch: 2, Loss: 0.8, Accuracy: 0.7, ValLoss: math.NaN(), ValAccuracy: math.NaN(), Seconds: 2.5},
	}
	c := Curves(h).SVG()
	if n := strings.Count(c, `class="flowers-line-chart"`); n != 2 {
		t.Errorf("%d charts, want 2 (loss, accuracy)", n)
	}
	for _, want := range []string{">val_accuracy<", ">val_loss<", ">epoch<", `class="flowers-curves"`, ">loss (log scale)<"} {
		if !strings.Contains(c, want) {
			t.Errorf("curves lack %q", want)
		}
	}
}

// TestCurvesHugeValLoss: random weights, a few steps: val_loss of 70–112 (BatchNorm's moving
// statistics still near their start) beside a training loss falling from 1.6 to 0.3. Both
// curves keep their shape: the training loss spans a quarter of the plot's height, not a
// line at 0.
func TestCurvesHugeValLoss(t *testing.T) {
	var h trainer.History
	for i, v := range []float64{112, 95, 80, 70} {
		h = append(h, trainer.EpochStats{Epoch: i + 1, Loss: []float64{1.6, 1, 0.6, 0.3}[i], Accuracy: 0.3 + 0.1*float64(i), ValLoss: v, ValAccuracy: 0.2})
	}
	fig := Curves(h)
	savePNG(t, "curves-huge-val-loss.png", fig)
	svg := fig.SVG()
	lossChart := svg[:strings.Index(svg, ">accuracy</text>")]
	m := regexp.MustCompile(`data-name="loss">.*?<polyline[^>]* points="([^"]+)"`).FindStringSubmatch(lossChart)
	if m == nil {
		t.Fatalf("no training-loss line in %.300s", lossChart)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range strings.Fields(m[1]) {
		y, _ := strconv.ParseFloat(strings.Split(p, ",")[1], 64)
		lo, hi = min(lo, y), max(hi, y)
	}
	if plot := 280.0 - 48 - 36; hi-lo < 0.25*plot {
		t.Errorf("the training loss spans %.1f of the plot's %.0f pixels, want a quarter at least", hi-lo, plot)
	}
}

func TestGalleries(t *testing.T) {
	sampleDir := testdata.RequireSample(t)
	tab, _, err := labels.Scan(sampleDir, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := ClassCounts(tab).SVG(); !strings.Contains(s, "images per class (200 in all)") || strings.Count(s, `class="bar"`) != 5 {
		t.Errorf("class counts chart: %.200s", s)
	}
	gridFig, err := SampleGrid(tab, 7, 64)
	if err != nil {
		t.Fatal(err)
	}
	grid := gridFig.SVG()
	// Classes in turn: the first 5 tiles are the 5 classes in order.
	for i, c := range tab.Classes {
		if !strings.Contains(grid, fmt.Sprintf(`class="caption" fill="#222" font-size="11">%s</text>`, c)) {
			t.Errorf("sample grid lacks class %d %s", i, c)
		}
	}
	if n := strings.Count(grid, "<image "); n != 7 {
		t.Errorf("sample grid has %d images, want 7", n)
	}
	if _, err := SampleGrid(&labels.Table{}, 3, 64); err == nil || err.Error() != "charts.SampleGrid: the table has no rows" {
		t.Errorf("empty table: %v", err)
	}
	augFig, err := AugmentGrid(tab.Rows[0].Path, *augment.Scaled(1, 42), 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	aug := augFig.SVG()
	if n := strings.Count(aug, "<image "); n != 5 || !strings.Contains(aug, "epoch 4 · ") {
		t.Errorf("augmentation grid: %d images", n)
	}
	// Strength 0 is the identity: every tile is the original.
	if c := augment.Scaled(0, 1); c.RotationRange != 0 || c.ZoomRange != 0 || c.HorizontalFlip || c.Rescale != 1 {
		t.Errorf("strength 0: %+v", c)
	}
	bad := *augment.Scaled(1, 42)
	bad.FillMode = "wrap"
	if _, err := AugmentGrid(tab.Rows[0].Path, bad, 2, 64); err == nil || !strings.Contains(err.Error(), "wrap") {
		t.Errorf("invalid augmentation: %v", err)
	}
	preds := []Prediction{
		{Path: tab.Rows[0].Path, True: "daisy", Predicted: "daisy", Probability: 0.9},
		{Path: tab.Rows[1].Path, True: "roses", Predicted: "tulips", Probability: 0.61},
		{Path: tab.Rows[2].Path, Predicted: "tulips", Probability: 0.5},
	}
	gFig, err := PredictionGallery(preds, 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	g := gFig.SVG()
	// Mistakes first.
	if i, j := strings.Index(g, `data-mark="mistake"`), strings.Index(g, `data-mark="correct"`); i < 0 || j < 0 || i > j {
		t.Errorf("mistake not first (%d, %d)", i, j)
	}
	if !strings.Contains(g, "3 predictions, 1 mistakes (red)") || !strings.Contains(g, ">pred tulips 61%<") {
		t.Errorf("gallery captions: %.300s", g)
	}
	if _, err := PredictionGallery(nil, 3, 64); err == nil || err.Error() != "charts.PredictionGallery: no predictions" {
		t.Errorf("no predictions: %v", err)
	}
}

func TestPhotoPrediction(t *testing.T) {
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "roses"))
	photo := filepath.Join(dir, "roses", entries[0].Name())
	guesses := []metrics.Guess{{Class: "roses", Probability: 0.7}, {Class: "tulips", Probability: 0.3}}
	f, err := PhotoPrediction(photo, 96, guesses, "")
	if err != nil {
		t.Fatal(err)
	}
	s := f.SVG()
	if !strings.Contains(s, `class="flowers-image-grid"`) || !strings.Contains(s, `class="flowers-bar-chart"`) || !strings.Contains(s, ">70<") ||
		!strings.Contains(s, ">"+entries[0].Name()+"<") || !strings.Contains(s, ">prediction<") {
		t.Errorf("photo prediction figure: %.300s", s)
	}
	// With the true class known, the caption and the title say it.
	f, err = PhotoPrediction(photo, 96, guesses, "roses")
	if err != nil {
		t.Fatal(err)
	}
	if s := f.SVG(); !strings.Contains(s, ">"+entries[0].Name()+" (roses)<") || !strings.Contains(s, ">prediction; true class: roses<") {
		t.Errorf("photo prediction with the true class: %.600s", s)
	}
	if _, err := PhotoPrediction(filepath.Join(dir, "nope.jpg"), 96, nil, ""); err == nil || !strings.Contains(err.Error(), "nope.jpg") {
		t.Errorf("missing photo: %v", err)
	}
	// Percent with one decimal, rounded.
	if s := TopChart("p", []metrics.Guess{{Class: "daisy", Probability: 0.12345}}).SVG(); !strings.Contains(s, ">12.3<") {
		t.Errorf("top chart: %.400s", s)
	}
}

func TestConfusion(t *testing.T) {
	r := &metrics.Report{Classes: []string{"daisy", "roses"}, Confusion: [][]int{{3, 1}, {0, 4}}}
	f, err := Confusion(r, "validation")
	if err != nil {
		t.Fatal(err)
	}
	if s := f.SVG(); !strings.Contains(s, ">validation<") || !strings.Contains(s, ">daisy<") || !strings.Contains(s, ">4<") {
		t.Errorf("confusion matrix: %.500s", s)
	}
}

func TestWeightsLabel(t *testing.T) {
	for spec, want := range map[string]string{"imagenet": "ImageNet", "random": "random", "random:7": "random", "/w/other.h5": "other.h5"} {
		if got := WeightsLabel(spec); got != want {
			t.Errorf("WeightsLabel(%q) = %q, want %q", spec, got, want)
		}
	}
}
