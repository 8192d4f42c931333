package nb

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
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

func TestTable(t *testing.T) {
	s := Table([]string{"a<b", "n"}, [][]string{{"x&y", "3.5"}, {"z", "12%"}})
	for _, want := range []string{"<th", "a&lt;b", "x&amp;y", `text-align:right;padding:2px 10px">3.5<`, `text-align:right;padding:2px 10px">12%<`, `text-align:left;padding:2px 10px">z<`} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
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

func TestSettingsEnv(t *testing.T) {
	env := map[string]string{"FLOWERS_EPOCHS": "2", "FLOWERS_LR": "0.01", "FLOWERS_HEAD": "avg", "FLOWERS_PER_CLASS": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	s, err := Settings{Epochs: 30, Head: "flatten", PerClass: 7}.fromEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	s = s.Defaults()
	if s.Epochs != 2 || s.LearningRate != 0.01 || s.Head != "avg" || s.PerClass != 7 || s.BatchSize != 32 || s.Seed != 42 || s.Data != "auto" || s.Weights != "auto" {
		t.Errorf("settings %+v", s)
	}
	env["FLOWERS_EPOCHS"] = "two"
	if _, err := (Settings{}).fromEnv(lookup); err == nil || err.Error() != `$FLOWERS_EPOCHS="two": want an integer` {
		t.Errorf("bad integer: %v", err)
	}
	names := EnvNames()
	if len(names) != 16 || names[0] != "FLOWERS_AUGMENT" || names[3] != "FLOWERS_CACHE" {
		t.Errorf("EnvNames %q", names)
	}
	if got := (Settings{Weights: "random", Seed: 7}).WeightsSpec(); got != "random:7" {
		t.Errorf("WeightsSpec %q", got)
	}
}

func TestRunDirNames(t *testing.T) {
	work := t.TempDir()
	a := Settings{Data: "sample", Weights: "random", Work: work}.RunDir()
	if want := filepath.Join(work, "run", "sample-random-flatten-cached-lr0.001-b32"); a != want {
		t.Errorf("RunDir %q, want %q", a, want)
	}
	// More epochs resume the same run; another learning rate is another run.
	if b := (Settings{Data: "sample", Weights: "random", Work: work, Epochs: 50}).RunDir(); b != a {
		t.Errorf("epochs changed the run dir: %q", b)
	}
	if b := (Settings{Data: "sample", Weights: "random", Work: work, LearningRate: 1e-4, PerClass: 10, Head: "avg"}).RunDir(); b != filepath.Join(work, "run", "sample-random-avg-cached-lr0.0001-b32-n10") {
		t.Errorf("RunDir %q", b)
	}
	// "auto" names the run by what it chose.
	t.Setenv(OfflineEnv, "1")
	if b := (Settings{Work: work, Cache: t.TempDir()}).RunDir(); b != filepath.Join(work, "run", "embedded-random-flatten-cached-lr0.001-b32") {
		t.Errorf("auto RunDir %q", b)
	}
}

func TestDataDirSubset(t *testing.T) {
	sample := testdata.Photos(t) // the 200-photo sample, else the embedded 50
	work := t.TempDir()
	s := Settings{Data: sample, Work: work, PerClass: 3}
	dir, err := s.DataDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	tab, rep, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 15 || len(tab.Classes) != 5 {
		t.Fatalf("%d rows, %d classes, want 15 and 5", len(tab.Rows), len(tab.Classes))
	}
	for _, c := range tab.Counts() {
		if c.Count != 3 {
			t.Errorf("class %s has %d photos, want 3", c.Class, c.Count)
		}
	}
	if rep.License == nil {
		t.Error("LICENSE.txt not copied")
	}
	// Times are kept (the feature cache keys on them) and a second call changes nothing.
	p := tab.Rows[0].Path
	st1, _ := os.Stat(p)
	orig, _ := os.Stat(filepath.Join(sample, tab.Rows[0].Label, filepath.Base(p)))
	if !st1.ModTime().Equal(orig.ModTime()) {
		t.Errorf("copy time %v, original %v", st1.ModTime(), orig.ModTime())
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := s.DataDir(nil); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(p); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second DataDir rewrote the copy")
	}
	if _, err := (Settings{Data: filepath.Join(work, "nope"), Work: work, PerClass: 2}).DataDir(nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing folder: %v", err)
	}
}

func TestCurvesAndProgress(t *testing.T) {
	h := trainer.History{
		{Epoch: 1, Loss: 1.2, Accuracy: 0.5, ValLoss: 1.3, ValAccuracy: 0.4, Seconds: 2},
		{Epoch: 2, Loss: 0.8, Accuracy: 0.7, ValLoss: math.NaN(), ValAccuracy: math.NaN(), Seconds: 2.5},
	}
	c := Curves(h).SVG()
	if n := strings.Count(c, `class="flowers-line-chart"`); n != 2 {
		t.Errorf("%d charts, want 2 (loss, accuracy)", n)
	}
	for _, want := range []string{">val_accuracy<", ">val_loss<", ">epoch<"} {
		if !strings.Contains(c, want) {
			t.Errorf("curves lack %q", want)
		}
	}
	tab := HistoryTable(h)
	for _, want := range []string{">0.8000<", ">-<", ">2.5<"} {
		if !strings.Contains(tab, want) {
			t.Errorf("history table lacks %q", want)
		}
	}
	p := progressHTML(trainer.StepInfo{Epoch: 2, Batch: 3, Steps: 5, Loss: 0.5, Accuracy: 0.75}, 4, 1, 3*time.Second)
	if !strings.Contains(p, `value="8" max="20"`) || !strings.Contains(p, "epoch 2/4 · batch 3/5 · loss 0.5000 · accuracy 0.7500 · 3s") {
		t.Errorf("progress %s", p)
	}
	out := captureOut(t)
	m := NewMonitor("t", 4, nil)
	m.OnEpoch(h[:1])
	if !strings.HasPrefix(out.String(), "Epoch 1/4 - ") {
		t.Errorf("monitor fallback printed %q", out.String())
	}
}

func TestGalleries(t *testing.T) {
	sample := testdata.RequireSample(t)
	tab, _, err := labels.Scan(sample, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := ClassCounts(tab).SVG(); !strings.Contains(s, "images per class (200 in all)") || strings.Count(s, `class="bar"`) != 5 {
		t.Errorf("class counts chart: %.200s", s)
	}
	if s := HeadTable(tab, 5); strings.Count(s, "<tr") != 6 || !strings.Contains(s, tab.Rows[4].Path) {
		t.Errorf("head table lacks 5 rows:\n%s", s)
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
	demo, err := ResizeDemo(tab.Rows[0].Path, 64)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(demo, `<img src="data:image/png;base64,`); n != 3 || !strings.Contains(demo, "resized: 64×64 RGB") {
		t.Errorf("resize demo: %d images\n%.300s", n, demo)
	}
	augFig, err := AugmentGrid(tab.Rows[0].Path, Augmentation(1, 42), 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	aug := augFig.SVG()
	if n := strings.Count(aug, "<image "); n != 5 || !strings.Contains(aug, "epoch 4 · ") {
		t.Errorf("augmentation grid: %d images", n)
	}
	// Strength 0 is the identity: every tile is the original.
	if c := Augmentation(0, 1); c.RotationRange != 0 || c.ZoomRange != 0 || c.HorizontalFlip || c.Rescale != 1 {
		t.Errorf("strength 0: %+v", c)
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
}

func TestHeadLayers(t *testing.T) {
	s := HeadLayers(head.Config{Kind: head.Flatten})
	for _, want := range []string{"flatten (Flatten)", "(None, 100352)", "dense (Dense)", "205,5", "dense_2 (Dense)", "(None, 5)", "5,125"} {
		if !strings.Contains(s, want) {
			t.Errorf("flatten head table lacks %q", want)
		}
	}
	if s := HeadLayers(head.Config{Kind: head.Avg}); !strings.Contains(s, "avg_pool (GlobalAveragePooling2D)") || !strings.Contains(s, "4,196,352") {
		t.Errorf("avg head table:\n%s", s)
	}
	if got := commas(23587712); got != "23,587,712" {
		t.Errorf("commas %q", got)
	}
}
