package nb

import (
	"bytes"
	"image/png"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

func captureOut(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := Out
	Out = &buf
	t.Cleanup(func() { Out = old })
	return &buf
}

func TestFallbacksOutsideNotebook(t *testing.T) {
	if IsNotebook() {
		t.Skip("running inside GoNB")
	}
	out := captureOut(t)
	Show(plots.BarChart(plots.Chart{Title: "images & classes", Width: 300, Height: 200}, nil))
	HTML("<b>x</b>")
	Markdown("# hello")
	ShowTable([]string{"class", "count"}, [][]string{{"daisy", "7"}, {"dandelion", "12"}})
	want := "[figure \"images & classes\", 300×200: shown in a notebook]\n" +
		"[HTML output, 8 bytes: shown in a notebook]\n" +
		"# hello\n" +
		"class      count\n" +
		"daisy          7\n" +
		"dandelion     12\n"
	if out.String() != want {
		t.Errorf("fallback output:\n%s\nwant:\n%s", out, want)
	}
	NewLive().Update("<b>ignored</b>")
	NewLive().Show(plots.BarChart(plots.Chart{}, nil))
	if out.Len() != len(want) {
		t.Errorf("Live.Update printed outside a notebook: %q", out.String()[len(want):])
	}
}

// TestResultBanner: the results of random weights carry the banner; ImageNet's do not.
func TestResultBanner(t *testing.T) {
	if IsNotebook() {
		t.Skip("running inside GoNB")
	}
	random, imagenet := config.Run{Weights: "random"}, config.Run{Weights: "imagenet"}
	if b := Banner(random); b != RandomBanner || !strings.Contains(b, "means nothing") {
		t.Errorf("random weights without a banner: %q", b)
	}
	if b := Banner(config.Run{Weights: "random:7"}); b != RandomBanner {
		t.Errorf("random:7 without a banner: %q", b)
	}
	if b := Banner(imagenet); b != "" {
		t.Errorf("ImageNet weights with a banner: %q", b)
	}
	out := captureOut(t)
	fig := plots.BarChart(plots.Chart{Title: "accuracy", Width: 300, Height: 200}, nil)
	Result(imagenet, fig)
	Result(random, fig)
	want := "[figure \"accuracy\", 300×200: shown in a notebook]\n" +
		"[figure \"accuracy (" + RandomBanner + ")\", 300×"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("Result printed\n%s\nwant it to start with\n%s", out, want)
	}
	if fig.Title != "accuracy" {
		t.Errorf("Result changed the figure: %q", fig.Title)
	}
	if b := BannerHTML("a < b"); !strings.Contains(b, "⚠ a &lt; b") || !strings.Contains(b, plots.BannerColor) {
		t.Errorf("banner HTML %s", b)
	}
}

func TestTable(t *testing.T) {
	s := Table([]string{"a<b", "n"}, [][]string{{"x&y", "3.5"}, {"z", "12%"}})
	for _, want := range []string{"<th", "a&lt;b", "x&amp;y", `text-align:right;padding:2px 10px">3.5<`, `text-align:right;padding:2px 10px">12%<`, `text-align:left;padding:2px 10px">z<`} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	r := &metrics.Report{Classes: []string{"daisy", "roses"}, Precision: []float64{0.5, math.NaN()}, Recall: []float64{1, 0}, Support: []int{3, 4}}
	if s := ClassTable(r); !strings.Contains(s, ">daisy<") || !strings.Contains(s, ">50.0%<") || !strings.Contains(s, ">-<") || !strings.Contains(s, ">4<") {
		t.Errorf("class table %s", s)
	}
	if s := MostConfusedTable([]metrics.Confused{{True: "roses", Predicted: "tulips", Count: 3}}); !strings.Contains(s, ">roses<") || !strings.Contains(s, ">3<") {
		t.Errorf("most confused: %s", s)
	}
	if s := MostConfusedTable(nil); !strings.Contains(s, "(no mistakes)") {
		t.Errorf("most confused of none: %s", s)
	}
}

func TestProgressLines(t *testing.T) {
	p := &Progress{}
	p.feed([]byte("features  10% |██        | (2/20)\r\x1b[2Kfeatures  50% |█████     | (10/20)"))
	done, cur := p.Lines()
	if len(done) != 0 || cur != "features  50% |█████     | (10/20)" {
		t.Errorf("after redraw: %q %q", done, cur)
	}
	p.feed([]byte("\rfeatures 100% (20/20)\ndecoded 20 images\n"))
	done, cur = p.Lines()
	if strings.Join(done, "|") != "features 100% (20/20)|decoded 20 images" || cur != "" {
		t.Errorf("finished lines %q, current %q", done, cur)
	}
	var lines []string
	for i := range 9 {
		lines = append(lines, strings.Repeat("x", i+1))
	}
	h := ProgressText("decode", lines, "now <b>")
	if !strings.Contains(h, "<b>decode</b>") || !strings.Contains(h, "… 3 earlier lines") || strings.Contains(h, "\nxx\n") ||
		!strings.Contains(h, "xxxxxxxxx\nnow &lt;b&gt;") {
		t.Errorf("progress block:\n%s", h)
	}
}

func TestFigureBundle(t *testing.T) {
	fig := plots.BarChart(plots.Chart{Title: "images per class", Width: 300, Height: 200}, []plots.Bar{{Label: "daisy", Value: 3}})
	d, err := figureData(fig, "id-1")
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := d.Data[protocol.MIMEImageSVG].(string)
	raw, _ := d.Data[protocol.MIMEImagePNG].([]byte)
	if !strings.HasPrefix(svg, "<svg ") || d.Data[protocol.MIMETextPlain] != "[images per class]" || d.DisplayID != "id-1" {
		t.Errorf("bundle %v", d.Data[protocol.MIMETextPlain])
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	size := d.Metadata[string(protocol.MIMEImagePNG)].(map[string]int)
	if img.Bounds().Dx() != 600 || img.Bounds().Dy() != 400 || size["width"] != 300 || size["height"] != 200 {
		t.Errorf("PNG %v shown at %v, want 600×400 shown at 300×200", img.Bounds(), size)
	}
	b := plots.WithBanner(fig, "random weights")
	if b.Height != 230 || !strings.Contains(b.SVG(), `fill="#8a1c00" font-weight="bold">random weights</text>`) || !strings.Contains(b.Title, "random weights") {
		t.Errorf("banner figure %d high, title %q:\n%s", b.Height, b.Title, b.SVG())
	}
	// A long banner wraps to the figure's width.
	long := plots.WithBanner(fig, strings.Repeat("accuracy means nothing ", 6))
	if n := strings.Count(long.SVG(), `class="banner" fill`); n < 3 || long.Height < 200+16*n {
		t.Errorf("long banner: %d lines, figure %d high", n, long.Height)
	}
}

func TestHistoryTableAndProgress(t *testing.T) {
	h := trainer.History{
		{Epoch: 1, Loss: 1.2, Accuracy: 0.5, ValLoss: 1.3, ValAccuracy: 0.4, Seconds: 2},
		{Epoch: 2, Loss: 0.8, Accuracy: 0.7, ValLoss: math.NaN(), ValAccuracy: math.NaN(), Seconds: 2.5},
	}
	tab := HistoryTable(h)
	for _, want := range []string{">0.8000<", ">-<", ">2.5<"} {
		if !strings.Contains(tab, want) {
			t.Errorf("history table lacks %q", want)
		}
	}
	p := StepProgress(trainer.StepInfo{Epoch: 2, Batch: 3, Steps: 5, Loss: 0.5, Accuracy: 0.75}, 4, 1, 3*time.Second)
	if !strings.Contains(p, `value="8" max="20"`) || !strings.Contains(p, "epoch 2/4 · batch 3/5 · loss 0.5000 · accuracy 0.7500 · 3s") {
		t.Errorf("progress %s", p)
	}
	// Between epochs: the finished ones count, before the first step: no label yet.
	if p := StepProgress(trainer.StepInfo{Epoch: 1, Batch: 5, Steps: 5}, 4, 1, 0); !strings.Contains(p, `value="5" max="20"`) {
		t.Errorf("after epoch 1: %s", p)
	}
	if p := StepProgress(trainer.StepInfo{}, 4, 0, 0); !strings.Contains(p, `value="0" max="4"`) || !strings.Contains(p, "starting…") {
		t.Errorf("before the first step: %s", p)
	}
	out := captureOut(t)
	m := NewMonitor("t", 4, nil)
	m.OnEpoch(h[:1])
	if !strings.HasPrefix(out.String(), "Epoch 1/4 - ") {
		t.Errorf("monitor fallback printed %q", out.String())
	}
}

func TestHeadTableAndResizeDemo(t *testing.T) {
	sample := testdata.RequireSample(t)
	tab, _, err := labels.Scan(sample, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := HeadTable(tab, 5); strings.Count(s, "<tr") != 6 || !strings.Contains(s, tab.Rows[4].Path) {
		t.Errorf("head table lacks 5 rows:\n%s", s)
	}
	demo, err := ResizeDemo(tab.Rows[0].Path, 64)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(demo, `<img src="data:image/png;base64,`); n != 3 || !strings.Contains(demo, "resized: 64×64 RGB") {
		t.Errorf("resize demo: %d images\n%.300s", n, demo)
	}
	if _, err := ResizeDemo(filepath.Join(sample, "nope.jpg"), 64); err == nil || !strings.Contains(err.Error(), "nope.jpg") {
		t.Errorf("missing photo: %v", err)
	}
	summary, err := DecodeAll(&labels.Table{Classes: tab.Classes, Rows: tab.Rows[:6]}, 32)
	if err != nil || !strings.HasPrefix(summary, "decoded 6 images (0 skipped) in ") {
		t.Errorf("DecodeAll: %q, %v", summary, err)
	}
}

// TestHeadLayers: the Keras-like table of a head on the base's output, from learner.DescribeHead.
func TestHeadLayers(t *testing.T) {
	dir := t.TempDir()
	run := config.Run{Data: "embedded", Weights: "random", Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache")}
	describe := func(cfg learner.Config) string {
		t.Helper()
		info, err := learner.DescribeHead(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return HeadLayers(info)
	}
	s := describe(learner.Config{Run: run})
	for _, want := range []string{"resnet50 (the frozen base, pooling none)", "(None, 7, 7, 2048)", "flatten (Flatten)", "(None, 100352)",
		"batch_normalization (BatchNormalization)", "dense (Dense)", "205,5", "dense_2 (Dense)", "(None, 5)", "5,125"} {
		if !strings.Contains(s, want) {
			t.Errorf("flatten head table lacks %q:\n%s", want, s)
		}
	}
	avg := run
	avg.Pooling = "avg"
	if s := describe(learner.Config{Run: avg}); !strings.Contains(s, "resnet50 (the frozen base, pooling avg)") || !strings.Contains(s, "(None, 2048)") ||
		!strings.Contains(s, "4,196,352") {
		t.Errorf("avg head table:\n%s", s)
	}
	// A head written in code: its own layers, and the totals (BatchNorm's moving statistics
	// non-trainable, as Keras counts them).
	s = describe(learner.Config{Run: avg, Head: head.Article(5, []int{16, 8}, 0), HeadName: "small"})
	// 3 BatchNorms (2048, 16, 8: 4 values each, half trainable); Dense 2048→16, 16→8, 8→5.
	tr := 2*(2048+16+8) + (2048*16 + 16) + (16*8 + 8) + (8*5 + 5)
	non := 2 * (2048 + 16 + 8)
	if want := "head total</td><td style=\"text-align:left;padding:2px 10px\"></td><td style=\"text-align:left;padding:2px 10px\">" +
		commas(tr+non) + " (trainable " + commas(tr) + ", non-trainable " + commas(non) + ")"; !strings.Contains(s, want) {
		t.Errorf("small head table lacks %q:\n%s", want, s)
	}
	if !strings.Contains(s, "dense_1 (Dense)") || !strings.Contains(s, "(None, 8)") || strings.Contains(s, "dense_3") {
		t.Errorf("small head table:\n%s", s)
	}
	if got := commas(23587712); got != "23,587,712" {
		t.Errorf("commas %q", got)
	}
}

// TestLearnerFit: Learner and Fit outside a notebook train the run, say each epoch once, keep
// the configuration's own callbacks; ValidPredictions pairs predictions with true classes.
func TestLearnerFit(t *testing.T) {
	if IsNotebook() {
		t.Skip("running inside GoNB")
	}
	if testing.Short() {
		t.Skip("-short: trains a head")
	}
	out := captureOut(t)
	dir := t.TempDir()
	epochs := 0
	cfg := learner.Config{Run: config.Run{Data: "embedded", Weights: "random", Pooling: "avg", ImageSize: 32, Epochs: 2, BatchSize: 16,
		Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache"), Backend: "go"},
		Head: head.Article(5, []int{16, 8}, 0), HeadName: "small", Progress: &bytes.Buffer{},
		OnEpoch: func(trainer.History) { epochs++ }}
	l, err := Learner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h, err := Fit(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || math.IsNaN(h[1].ValAccuracy) {
		t.Errorf("history %+v", h)
	}
	if epochs != 2 {
		t.Errorf("the configuration's OnEpoch was called %d times, want 2", epochs)
	}
	for e := 1; e <= 2; e++ {
		if n := strings.Count(out.String(), "Epoch "+string(rune('0'+e))+"/2 - "); n != 1 {
			t.Errorf("epoch %d said %d times:\n%s", e, n, out)
		}
	}
	preds, err := ValidPredictions(l.Model(), 4)
	if err != nil {
		t.Fatal(err)
	}
	si := l.Info.Split
	if len(preds) != 4 {
		t.Fatalf("%d predictions, want 4", len(preds))
	}
	for i, p := range preds {
		if p.Path != si.Valid[i] || p.True != l.Info.Classes[si.ValidCodes[i]] || p.Predicted == "" || !(p.Probability >= 0.2 && p.Probability <= 1) {
			t.Errorf("prediction %d: %+v (true %s)", i, p, l.Info.Classes[si.ValidCodes[i]])
		}
	}
}
