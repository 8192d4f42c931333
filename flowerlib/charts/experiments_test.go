package charts

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/cam"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// lrSweep is a range test's curve as one looks: flat at first, falling from 1e-4 to 1e-2,
// then diverging, with step-to-step noise; smoothed and suggested as trainer.FindLR does.
func lrSweep() *trainer.LRFindResult {
	r := &trainer.LRFindResult{}
	for i := range 100 {
		lr := 1e-7 * math.Pow(1e8, float64(i)/99)
		d := math.Log10(lr)
		loss := 0.3 + 1.3/(1+math.Exp(2.5*(d+3))) + 0.1*float64((i*7)%5)/4
		if d > -1.5 {
			loss += math.Exp(4 * (d + 1.5))
		}
		r.LRs, r.Losses = append(r.LRs, lr), append(r.Losses, loss)
	}
	r.Smoothed = trainer.Smooth(r.Losses, 0.98)
	r.Steep, r.Minimum = trainer.Suggest(r.LRs, r.Smoothed)
	return r
}

// TestLRFinder: the suggested and minimum rates are vertical lines, each with a dot on the
// loss of each step (not the lagging smoothed curve) at that rate, explained in the legend.
func TestLRFinder(t *testing.T) {
	r := lrSweep()
	fig := LRFinder(r)
	savePNG(t, "lr-finder.png", fig)
	svg := fig.SVG()
	for _, want := range []string{`class="flowers-xy-chart"`, "suggested (steepest): ", "minimum: ", ">smoothed (lags behind)<", ">loss of each step<",
		">1e-07<", "learning-rate finder (100 steps)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("lr_find chart lacks %q", want)
		}
	}
	if n := strings.Count(svg, `class="marker"`); n != 2 {
		t.Errorf("%d markers, want 2", n)
	}
	var note []string
	for _, m := range regexp.MustCompile(`class="legend-note"[^>]*>([^<]*)<`).FindAllStringSubmatch(svg, -1) {
		note = append(note, m[1])
	}
	if got := strings.Join(note, " "); got != "Lines: the rates, found on the smoothed curve. Dots: the loss of the step at that rate." {
		t.Errorf("legend note %q", got)
	}
	// Each dot is at its rate, at the loss of the steps around it (linear in log lr).
	dots := regexp.MustCompile(`<circle class="marker-point" data-x="([^"]+)" data-y="([^"]+)"`).FindAllStringSubmatch(svg, -1)
	if len(dots) != 2 {
		t.Fatalf("%d dots on the markers, want 2", len(dots))
	}
	for k, lr := range []float64{r.Steep, r.Minimum} {
		x, _ := strconv.ParseFloat(dots[k][1], 64)
		y, _ := strconv.ParseFloat(dots[k][2], 64)
		i := sort.SearchFloat64s(r.LRs, lr)
		lo, hi := min(r.Losses[max(i-1, 0)], r.Losses[i]), max(r.Losses[max(i-1, 0)], r.Losses[i])
		if x != lr || y < lo-1e-9 || y > hi+1e-9 {
			t.Errorf("dot %d at (%g, %g), want at rate %g between the steps' losses %g and %g", k, x, y, lr, lo, hi)
		}
		// Not on the smoothed curve, which lags: at the suggested rate it is still far above.
		if k == 0 && math.Abs(y-r.Smoothed[i]) < 0.1 {
			t.Errorf("the suggested rate's dot (%g) is on the smoothed curve (%g)", y, r.Smoothed[i])
		}
	}
}

func atof(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return v
}

// checkColorBar: the gallery ends with the maps' colour bar (CAMScale), whose raster is, at
// its ends and middle, the colour cam.Overlay gives those map values over white.
func checkColorBar(t *testing.T, g *plots.Figure, method string) {
	t.Helper()
	svg := g.SVG()
	m := regexp.MustCompile(`<svg x="([\d.]+)" y="([\d.]+)" class="flowers-colorbar".*?<image x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatalf("%s gallery: no colour bar", method)
	}
	title := "CAM colour scale: each map divided by its largest |value|"
	lo, ticks := -1.0, []string{"-1", "-0.5", "0", "0.5", "1"}
	if method == learner.MethodGradCAM {
		title, lo, ticks = "Grad-CAM colour scale: each map divided by its largest value (negative parts cut)", 0, []string{"0", "0.25", "0.5", "0.75", "1"}
	}
	if !strings.Contains(svg, ">"+title+"</text>") {
		t.Errorf("%s colour bar: no title %q", method, title)
	}
	bar := svg[strings.Index(svg, `class="flowers-colorbar"`):]
	var got []string
	for _, l := range regexp.MustCompile(`class="tick" font-size="11">([^<]*)<`).FindAllStringSubmatch(bar, -1) {
		got = append(got, l[1])
	}
	if strings.Join(got, " ") != strings.Join(ticks, " ") {
		t.Errorf("%s colour bar ticks %q, want %q", method, got, ticks)
	}
	img := g.Raster() // the gallery's scale is 1
	x0, y0, w := atof(m[1])+atof(m[3]), atof(m[2])+atof(m[4]), atof(m[5])
	white := image.NewRGBA(image.Rect(0, 0, 3, 1))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	for _, v := range []float64{lo, (lo + 1) / 2, 1} {
		// A map v, v, 1 over three white pixels, one per cell: the first pixel shows v (the
		// largest |value| is 1).
		mp := []float32{float32(v), float32(v), 1}
		want := cam.Overlay(white, mp, 1, 3, 3*cam.Stride, CAMOpacity).RGBAAt(0, 0)
		x := x0 + (w-1)*(v-lo)/(1-lo)
		if got := img.RGBAAt(int(x), int(y0)+5); absDiff(got, want) > 6 {
			t.Errorf("%s colour bar at %g: %v, want %v (cam.Overlay)", method, v, got, want)
		}
	}
}

func absDiff(a, b color.RGBA) int {
	d := func(x, y uint8) int { return max(int(x)-int(y), int(y)-int(x)) }
	return max(d(a.R, b.R), d(a.G, b.G), d(a.B, b.B))
}

// TestCompareFrozenVisible: frozen features and fine-tuned coincide until fine-tuning starts,
// and with random weights from-scratch may sit at the same accuracy too: every line stays
// visible there (raster: the three colours across the shared segment).
func TestCompareFrozenVisible(t *testing.T) {
	h := func(acc ...float64) trainer.History {
		var out trainer.History
		for i, a := range acc {
			out = append(out, trainer.EpochStats{Epoch: i + 1, ValAccuracy: a, ValLoss: 2 - 2*a, Seconds: 2})
		}
		return out
	}
	c := &learner.Comparison{Epochs: 4, FreezeEpoch: 2, Stage: "conv5", Ways: []learner.Way{
		{Name: learner.WayScratch, History: h(0.5, 0.7, 0.3, 0.3)},
		{Name: learner.WayFrozen, History: h(0.5, 0.7, 0.75, 0.8)},
		{Name: learner.WayFineTuned, History: h(0.5, 0.7, 0.85, 0.9), FineTuneAfter: 2},
	}}
	fig := Compare(c)
	savePNG(t, "compare.png", fig)
	svg := fig.SVG()
	if n := strings.Count(svg, `class="marker" data-x="2.5"`); n != 2 || strings.Count(svg, ">start fine-tuning</text>") != 2 {
		t.Errorf("%d fine-tuning markers between epochs 2 and 3, want 2", n)
	}
	if !strings.Contains(svg, ">loss (log scale)<") {
		t.Error("the validation loss chart does not say its axis is logarithmic")
	}
	m := regexp.MustCompile(`data-name="frozen features">.*?<polyline[^>]* points="([\d.]+),([\d.]+) ([\d.]+),([\d.]+)`).FindStringSubmatch(svg)
	if m == nil {
		t.Fatal("no frozen-features line")
	}
	// The middle of epochs 1 → 2 in the accuracy chart (the first, at x = 0), where the lines coincide.
	img := fig.Raster()
	cx, cy := (atof(m[1])+atof(m[3]))/2, (atof(m[2])+atof(m[4]))/2
	seen := make([]int, 3) // pixels of the ways' colours: scratch, frozen, fine-tuned
	for dy := -12; dy <= 12; dy++ {
		p := img.RGBAAt(int(2*cx), int(2*cy)+dy)
		for i := range seen {
			if absDiff(p, rgb(plots.Palette[i])) <= 30 {
				seen[i]++
			}
		}
	}
	if slices.Min(seen) < 2 {
		t.Errorf("across the shared segment: %v pixels of the colours of from scratch, frozen features, fine-tuned; want each visible", seen)
	}
	// The legend keeps the ways' order.
	if i, j, k := strings.Index(svg, ">from scratch</text>"), strings.Index(svg, ">frozen features</text>"), strings.Index(svg, ">fine-tuned</text>"); !(i < j && j < k) {
		t.Errorf("legend order: from scratch at %d, frozen features at %d, fine-tuned at %d", i, j, k)
	}
}

func rgb(hex string) color.RGBA {
	v, _ := strconv.ParseUint(hex[1:], 16, 32)
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}
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
	if strings.Count(svg, "<image ") != 3 || !strings.Contains(svg, ">pred tulips 61%<") || !strings.Contains(svg, "CAM of the predicted class: 2 photos, 1 mistakes first") {
		t.Errorf("CAM gallery (2 photos and the colour bar): %.400s", svg)
	}
	savePNG(t, "cam-gallery.png", g)
	checkColorBar(t, g, learner.MethodCAM)
	cams[0].Method, cams[1].Method = learner.MethodGradCAM, learner.MethodGradCAM
	cams[1].Map = []float32{1, 0.5, 0, 0}
	if g, err = CAMGallery(cams, classes, 6, 64); err != nil {
		t.Fatal(err)
	}
	savePNG(t, "gradcam-gallery.png", g)
	checkColorBar(t, g, learner.MethodGradCAM)
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
}

// TestEmbedding: one point per photo, rings for validation photos (the legend says so, under
// the map, which keeps the panel's width), PCA axes with the variance.
func TestEmbedding(t *testing.T) {
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	photos, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	classes := []string{"daisy", "dandelion"}
	e := &learner.Embedding{Method: learner.EmbedPCA, Weights: "random:42", Classes: classes, Paths: photos[:3], Labels: []int{0, 1, 1},
		Valid: []bool{false, false, true}, Points: []float64{0, 0, 1, 1, 2, 0}, Explained: []float64{0.3, 0.1}, NeighbourAccuracy: 1}
	ef := Embedding(e)
	savePNG(t, "embedding.png", ef)
	if s := ef.SVG(); strings.Count(s, `class="point"`) != 2 || strings.Count(s, `class="point hollow"`) != 1 ||
		!strings.Contains(s, "PC1 (30% of the variance)") || !strings.Contains(s, "random weights: nearest neighbour 100%") ||
		!strings.Contains(s, ">ring = validation photo</text>") {
		t.Errorf("embedding chart: %.500s", s)
	}
	// The legend does not take the plot's width: the x axis spans most of the panel.
	if m := regexp.MustCompile(`<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="#333"/><text[^>]*class="xlabel"`).FindStringSubmatch(ef.SVG()); m == nil {
		t.Error("embedding chart: no x axis line before its label")
	} else if x1, x2 := atof(m[1]), atof(m[3]); x2-x1 < 0.8*float64(ef.Width) {
		t.Errorf("embedding chart: the plot is %.0f of the panel's %d pixels wide, want 80%% at least", x2-x1, ef.Width)
	}
}
