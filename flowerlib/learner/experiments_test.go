package learner

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// TestFindLR: the learner's range test on the 50 embedded sample photos (random weights,
// 64×64, avg head) returns a rising exponential sweep with a finite curve and suggestions
// inside it, and leaves the run untouched: no file is written, and Fit afterwards trains
// exactly as in a run folder where no sweep ran.
func TestFindLR(t *testing.T) {
	testdata.Slow(t, "the learning-rate finder on ResNet50 features")
	dir := t.TempDir()
	data, err := sample.Dir(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(run string) Config {
		return Config{Run: config.Run{Data: data, Weights: "random:1", RunDir: filepath.Join(dir, run), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 64, Backend: "go", Epochs: 3, BatchSize: 8}, Head: head.Article(5, []int{64, 32}, 0), Log: testLog(t)}
	}
	l, err := New(cfg("swept"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := l.Trainer.State
	r, err := l.FindLR(trainer.LRFindOptions{Steps: 60})
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.LRs)
	if n < 20 || len(r.Losses) != n || len(r.Smoothed) == 0 || len(r.Smoothed) > n {
		t.Fatalf("sweep of %d rates, %d losses, %d smoothed", n, len(r.Losses), len(r.Smoothed))
	}
	for i := 1; i < n; i++ {
		if ratio := r.LRs[i] / r.LRs[i-1]; math.Abs(ratio-math.Pow(1e8, 1.0/59)) > 1e-9 {
			t.Fatalf("rates %g → %g: not the exponential sweep of 1e-7..10 in 60 steps", r.LRs[i-1], r.LRs[i])
		}
	}
	for i, v := range r.Smoothed {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			t.Fatalf("smoothed loss %d is %v", i, v)
		}
	}
	// A head with Adam trains somewhere between 1e-5 and 1: the suggestions must say so.
	if !(r.Steep >= 1e-5 && r.Steep <= 1) || !(r.Minimum >= r.Steep/100 && r.Minimum <= r.LRs[n-1]) {
		t.Errorf("suggestions: steepest %g, minimum %g (sweep %g..%g)", r.Steep, r.Minimum, r.LRs[0], r.LRs[n-1])
	}
	lo := slices.Min(r.Smoothed)
	if r.Smoothed[0] <= lo {
		t.Errorf("the smoothed loss never fell below its start %.4f", r.Smoothed[0])
	}
	t.Logf("%d rates, loss %.3f → min %.3f; steepest %.2e, minimum %.2e", n, r.Smoothed[0], lo, r.Steep, r.Minimum)

	if got := l.Trainer.State; got.Step != before.Step || got.LR != before.LR || got.Epoch != before.Epoch {
		t.Errorf("the sweep moved the run: state %+v, was %+v", got, before)
	}
	names, _ := trainer.ListCheckpoints(l.RunDir)
	if _, err := os.Stat(filepath.Join(l.RunDir, trainer.HistoryJSON)); len(names) > 0 || err == nil {
		t.Errorf("the sweep wrote to the run folder: checkpoints %v, history %v", names, err)
	}
	swept, err := l.Fit()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Run(cfg("plain"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range swept {
		a, b := swept[i], plain.History[i]
		if a.Loss != b.Loss || a.ValLoss != b.ValLoss {
			t.Errorf("epoch %d after the sweep: %s; without it: %s", i+1, a.Line(), b.Line())
		}
	}
}

// writeBlobImages writes perClass size×size PNGs per class under root/<class>/: grey noise
// with one square of the class's colour (a quarter of the side) at a random place, and the
// square's centre for each file. Only the square says the class.
func writeBlobImages(t testing.TB, root string, perClass, size int) map[string][2]int {
	t.Helper()
	colors := map[string][3]float64{"blue": {40, 60, 220}, "green": {40, 200, 60}, "red": {220, 40, 40}}
	r := rand.New(rand.NewPCG(9, 9))
	centres := map[string][2]int{}
	side := size / 4
	for _, c := range []string{"blue", "green", "red"} {
		dir := filepath.Join(root, c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range perClass {
			img := image.NewRGBA(image.Rect(0, 0, size, size))
			x0, y0 := r.IntN(size-side), r.IntN(size-side)
			for y := range size {
				for x := range size {
					v := [3]float64{128, 128, 128}
					if x >= x0 && x < x0+side && y >= y0 && y < y0+side {
						v = colors[c]
					}
					px := color.RGBA{A: 255}
					for k, p := range []*uint8{&px.R, &px.G, &px.B} {
						*p = uint8(min(255, max(0, v[k]+r.NormFloat64()*20)))
					}
					img.SetRGBA(x, y, px)
				}
			}
			path := filepath.Join(dir, string(rune('a'+i/26))+string(rune('a'+i%26))+".png")
			imagestest.WritePNG(t, path, img)
			centres[path] = [2]int{y0 + side/2, x0 + side/2}
		}
	}
	return centres
}

// TestCAMFindsTheObject trains the avg head on photos where only a coloured square says the
// class (random weights, 96×96: a 3×3 feature map), then checks CAM on the validation photos:
// the probabilities it reports are Predict's, the maps are 3×3, and for the photos it gets
// right the map's strongest cell is the one nearest the square in at least 2 of 3 (measured:
// 8 of 9). A max head gets Grad-CAM maps, never negative, with the same check (9 of 12).
func TestCAMFindsTheObject(t *testing.T) {
	testdata.Slow(t, "trains two heads and computes CAMs")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	centres := writeBlobImages(t, data, 20, 96)
	for _, kind := range []string{"avg", "max"} {
		runDir := filepath.Join(dir, "run-"+kind)
		hd := head.Article(3, []int{64}, 0) // the blob photos' 3 classes
		res, err := Run(Config{Run: config.Run{Data: data, Weights: "random:1", RunDir: runDir, Cache: filepath.Join(dir, "cache"),
			Pooling: kind, ImageSize: 96, Backend: "go", Epochs: 25, BatchSize: 8}, Head: hd})
		if err != nil {
			t.Fatal(err)
		}
		m, err := Open(runDir, OpenOptions{Backend: "go", Head: hd})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		cams, err := m.ValidationCAM(0)
		if err != nil {
			t.Fatal(err)
		}
		paths := m.Info.Split.Valid
		preds, err := m.Predict(paths, 1)
		if err != nil {
			t.Fatal(err)
		}
		right, found := 0, 0
		for i, c := range cams {
			if c.Err != "" || c.H != 3 || c.W != 3 || len(c.Map) != 9 || c.Path != paths[i] || c.True != m.Info.Split.ValidCodes[i] {
				t.Fatalf("%s head, photo %d: %+v", kind, i, c)
			}
			want := slices.Index(m.Classes(), preds[i].Top[0].Class)
			if c.Predicted != want || math.Abs(c.Probability-preds[i].Top[0].Probability) > 1e-4 {
				t.Errorf("%s head, %s: CAM says class %d (p %.5f), Predict %d (p %.5f)", kind, filepath.Base(c.Path),
					c.Predicted, c.Probability, want, preds[i].Top[0].Probability)
			}
			if kind == "avg" && c.Method != MethodCAM || kind == "max" && c.Method != MethodGradCAM {
				t.Errorf("%s head: method %s", kind, c.Method)
			}
			if kind == "max" && slices.Min(c.Map) < 0 {
				t.Errorf("Grad-CAM map with negative values: %v", c.Map)
			}
			if c.Wrong() {
				continue
			}
			right++
			peak := 0
			for k, v := range c.Map {
				if v > c.Map[peak] {
					peak = k
				}
			}
			// Cell (i, j) of the feature map is centred on pixel (32i, 32j) of the photo (each
			// stride-2 layer keeps the top-left of its 2×2 window): the peak must be the cell
			// nearest the square's centre (one of them on a tie).
			ctr := centres[c.Path]
			dist := func(k int) float64 { return math.Hypot(float64(32*(k/3)-ctr[0]), float64(32*(k%3)-ctr[1])) }
			nearest := math.Inf(1)
			for k := range 9 {
				nearest = math.Min(nearest, dist(k))
			}
			if dist(peak) <= nearest+1e-9 {
				found++
			}
		}
		t.Logf("%s head: val_accuracy %.2f; the map's peak on the square in %d of %d right answers", kind, res.Final.ValAccuracy, found, right)
		if right < len(cams)/2 {
			t.Fatalf("%s head: only %d of %d validation photos right: the head did not learn the squares", kind, right, len(cams))
		}
		if 3*found < 2*right {
			t.Errorf("%s head: the map's peak is on the square in %d of %d right answers, want ≥ 2/3 (chance: about 1/9)", kind, found, right)
		}
		if kind == "avg" {
			testInterpret(t, m)
		}
	}
}

// testInterpret: the interpretation of a trained run keeps each validation photo with its own
// label, agrees with Evaluate, and orders the top losses.
func testInterpret(t *testing.T, m *Model) {
	in, err := m.Interpret(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Evaluate(nil)
	if err != nil {
		t.Fatal(err)
	}
	si := m.Info.Split
	if len(in.Paths) != len(si.Valid) || in.Report.Accuracy != r.Accuracy || in.Report.Loss != r.Loss {
		t.Fatalf("interpretation of %d photos, accuracy %.4f loss %.4f; Evaluate: %d, %.4f, %.4f",
			len(in.Paths), in.Report.Accuracy, in.Report.Loss, len(si.Valid), r.Accuracy, r.Loss)
	}
	for i, p := range in.Paths {
		if k := slices.Index(si.Valid, p); k < 0 || si.ValidCodes[k] != int(in.Labels[i]) {
			t.Fatalf("photo %d %s: label %d, the split says %d", i, p, in.Labels[i], si.ValidCodes[k])
		}
	}
	wrong := 0
	for _, c := range in.MostConfused(0) {
		wrong += c.Count
	}
	if want := int(math.Round(float64(len(in.Paths)) * (1 - r.Accuracy))); wrong != want {
		t.Errorf("most confused pairs count %d mistakes, want %d", wrong, want)
	}
	top := in.TopLosses(5)
	for i, l := range top {
		if i > 0 && l.Loss > top[i-1].Loss {
			t.Errorf("top losses not decreasing: %v", top)
		}
		if math.Abs(math.Exp(-l.Loss)-math.Max(l.ProbabilityTrue, 1e-7)) > 1e-6 || l.Path != in.Paths[l.Index] || l.True != m.Classes()[in.Labels[l.Index]] {
			t.Errorf("top loss %d: %+v", i, l)
		}
	}
}

// TestEmbedSeparatesClasses: the embedding of generated images of 5 distinct classes through
// the random-weights base separates them (nearest-neighbour accuracy in the features and in
// the PCA and t-SNE maps), while 5 "classes" drawn from one distribution stay at chance: the
// measure is not high by construction.
func TestEmbedSeparatesClasses(t *testing.T) {
	testdata.Slow(t, "ResNet50 features of 72 photos, PCA and t-SNE")
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "distinct"), 12, 64)
	same := filepath.Join(dir, "same")
	writeClassImages(t, filepath.Join(dir, "tmp"), 60, 64)
	// One class (checkerboards) dealt into 5 folders.
	files, _ := filepath.Glob(filepath.Join(dir, "tmp", "checker", "*.png"))
	for i, f := range files {
		sub := filepath.Join(same, string(rune('a'+i%5)))
		_ = os.MkdirAll(sub, 0o755)
		if err := os.Rename(f, filepath.Join(sub, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(data string) Config {
		return Config{Run: config.Run{Data: filepath.Join(dir, data), Weights: "random:1", Cache: filepath.Join(dir, "cache"), ImageSize: 64, Backend: "go", BatchSize: 16}}
	}
	for _, method := range []string{EmbedPCA, EmbedTSNE} {
		e, err := Embed(cfg("distinct"), EmbedOptions{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		n := len(e.Paths)
		if n != 60 || len(e.Points) != 2*n || len(e.Labels) != n || len(e.Classes) != 5 {
			t.Fatalf("%s: %d photos, %d coordinates, %d labels, classes %v", method, n, len(e.Points), len(e.Labels), e.Classes)
		}
		for _, v := range e.Points {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s: coordinate %v", method, v)
			}
		}
		t.Logf("%s: nearest-neighbour accuracy %.2f in the features, %.2f in the map", method, e.NeighbourAccuracy, e.MapNeighbourAccuracy)
		if e.NeighbourAccuracy < 0.8 || e.MapNeighbourAccuracy < 0.8 {
			t.Errorf("%s: distinct classes: nearest-neighbour accuracy %.2f in the features, %.2f in the map; want ≥ 0.8 (chance 0.2)",
				method, e.NeighbourAccuracy, e.MapNeighbourAccuracy)
		}
		if method == EmbedPCA && (len(e.Explained) != 2 || e.Explained[0] < e.Explained[1] || e.Explained[0]+e.Explained[1] > 1+1e-9) {
			t.Errorf("explained variance %v", e.Explained)
		}
	}
	e, err := Embed(cfg("same"), EmbedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one distribution in 5 folders: %.2f in the features, %.2f in the map", e.NeighbourAccuracy, e.MapNeighbourAccuracy)
	if e.NeighbourAccuracy > 0.5 || e.MapNeighbourAccuracy > 0.5 {
		t.Errorf("5 folders of one distribution separate: nearest-neighbour accuracy %.2f, map %.2f (chance 0.2)", e.NeighbourAccuracy, e.MapNeighbourAccuracy)
	}
	if _, err := Embed(cfg("distinct"), EmbedOptions{Method: "umap"}); err == nil {
		t.Error("an unknown method was accepted")
	}
}

// TestProbeFindsTheInformativeBlock: of four blocks of features, only the third holds the
// class (class means 3 standard deviations apart along a few of its columns, noise elsewhere):
// its probe must classify the validation rows, the others stay near chance. A mistake in how
// the blocks are cut out of the rows fails this.
func TestProbeFindsTheInformativeBlock(t *testing.T) {
	widths := []int{8, 16, 32, 64}
	total := 8 + 16 + 32 + 64
	const classes, nt, nv = 4, 120, 40
	r := rand.New(rand.NewPCG(3, 3))
	gen := func(n int) ([]float32, []int32) {
		x := make([]float32, n*total)
		y := make([]int32, n)
		for i := range n {
			y[i] = int32(i % classes)
			for j := range total {
				x[i*total+j] = float32(r.NormFloat64()*2 + 5)
			}
			// Block 3 (columns 24..55): class c shifts columns 24+2c and 25+2c by 3σ.
			x[i*total+24+2*int(y[i])] += 6
			x[i*total+25+2*int(y[i])] += 6
		}
		return x, y
	}
	xt, yt := gen(nt)
	xv, yv := gen(nv)
	dir := t.TempDir()
	dirs := []string{filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c"), filepath.Join(dir, "d")}
	probes, err := probeStages(backend.MustNew("go", nil), dirs, "test", xt, yt, xv, yv, widths, classes,
		trainer.Options{Epochs: 40, BatchSize: 16, LearningRate: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range probes {
		t.Logf("block %d (%d columns): train %.2f, validation %.2f", i+1, p.Channels, p.TrainAccuracy, p.ValAccuracy)
		if p.Channels != widths[i] || len(p.History) != 40 {
			t.Fatalf("block %d: %d channels, %d epochs", i+1, p.Channels, len(p.History))
		}
		informative := i == 2
		if informative && p.ValAccuracy < 0.9 || !informative && p.ValAccuracy > 0.5 {
			t.Errorf("block %d: validation accuracy %.2f (the class is only in block 3; chance 0.25)", i+1, p.ValAccuracy)
		}
	}
	if _, err := probeStages(backend.MustNew("go", nil), dirs[:3], "test", xt, yt, xv, yv, widths, classes, trainer.Options{}); err == nil {
		t.Error("3 folders for 4 probes accepted")
	}
}

// TestTransferability: the probes of the four stages of the real base (random weights,
// generated images at 64×64) have the stages' widths and grids, accuracies in [0, 1] with at
// least one stage telling the 5 classes apart, and a second call reads the finished probes
// (same numbers) instead of training again.
func TestTransferability(t *testing.T) {
	testdata.Slow(t, "a linear probe on every ResNet50 stage")
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 12, 64)
	cfg := Config{Run: config.Run{Data: filepath.Join(dir, "data"), Weights: "random:1", RunDir: filepath.Join(dir, "run"), Cache: filepath.Join(dir, "cache"), ImageSize: 64, Backend: "go", Epochs: 20, BatchSize: 8}, Log: testLog(t)}
	tr, err := Transferability(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Stages) != 4 || !(tr.Chance >= 0.2 && tr.Chance < 0.5) {
		t.Fatalf("%d stages, chance %.3f", len(tr.Stages), tr.Chance)
	}
	best := 0.0
	for i, s := range tr.Stages {
		want := []struct {
			layer       string
			width, grid int
		}{{"conv2_block3_out", 256, 16}, {"conv3_block4_out", 512, 8}, {"conv4_block6_out", 1024, 4}, {"conv5_block3_out", 2048, 2}}[i]
		if s.Layer != want.layer || s.Channels != want.width || s.Grid != want.grid || len(s.History) != 20 {
			t.Errorf("stage %d: %s, %d channels, grid %d, %d epochs; want %+v", i, s.Layer, s.Channels, s.Grid, len(s.History), want)
		}
		if !(s.ValAccuracy >= 0 && s.ValAccuracy <= 1) || !(s.TrainAccuracy >= 0 && s.TrainAccuracy <= 1) {
			t.Errorf("stage %s: accuracies %v, %v", s.Layer, s.TrainAccuracy, s.ValAccuracy)
		}
		best = math.Max(best, s.ValAccuracy)
	}
	if best < 0.8 {
		t.Errorf("no stage separates the 5 generated classes: best validation accuracy %.2f", best)
	}
	again, err := Transferability(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again.Stages {
		if a, b := again.Stages[i], tr.Stages[i]; a.ValAccuracy != b.ValAccuracy || a.History[19].Seconds != b.History[19].Seconds {
			t.Errorf("stage %s trained again: %+v, was %+v", a.Layer, a.History[19], b.History[19])
		}
	}
}

// TestCompare: the three ways train for the same number of epochs on the same photos; the
// fine-tuned way's first epoch (head only) is exactly the frozen way's first epoch, its
// "start fine-tuning" marker is after epoch 1 and its later epochs differ (the base moved);
// the trainable parameters are the head's, the head's plus conv5's, and the head's plus all
// of ResNet50's (23,534,592, Keras' figure).
func TestCompare(t *testing.T) {
	testdata.Slow(t, "trains ResNet50 from scratch and fine-tunes conv5, on each backend")
	if testing.Short() {
		t.Skip("trains ResNet50 from scratch and fine-tunes conv5")
	}
	forEachBackend(t, testCompare)
}

func testCompare(t *testing.T, backendName string) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	cfg := Config{Run: config.Run{Data: filepath.Join(dir, "data"), Weights: "random:1", RunDir: filepath.Join(dir, "compare"), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 32, Backend: backendName, FineTuneLR: 1e-4, BatchSize: 8}, Head: head.Article(5, []int{32, 16}, 0), Log: testLog(t)}
	c, err := Compare(cfg, CompareOptions{Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	d, err := head.Describe(backend.MustNew("go", nil), cfg.Head, []int{2048})
	if err != nil {
		t.Fatal(err)
	}
	headParams, _ := d.Params()
	want := []struct {
		name          string
		fineTuneAfter int
	}{{WayScratch, 0}, {WayFrozen, 0}, {WayFineTuned, 1}}
	if len(c.Ways) != 3 || c.Epochs != 3 || c.FreezeEpoch != 1 || c.ImageSize != 32 {
		t.Fatalf("comparison %+v", c)
	}
	for i, w := range c.Ways {
		if w.Name != want[i].name || w.FineTuneAfter != want[i].fineTuneAfter || len(w.History) != 3 {
			t.Fatalf("way %d: %s, fine-tuning after %d, %d epochs; want %+v and 3 epochs", i, w.Name, w.FineTuneAfter, len(w.History), want[i])
		}
		for k, e := range w.History {
			if e.Epoch != k+1 || math.IsNaN(e.Loss) || math.IsNaN(e.ValAccuracy) || e.Seconds <= 0 {
				t.Errorf("%s epoch %d: %+v", w.Name, k+1, e)
			}
		}
		if w.Seconds <= 0 {
			t.Errorf("%s: %.3fs", w.Name, w.Seconds)
		}
	}
	scratch, frozen, tuned := c.Ways[0], c.Ways[1], c.Ways[2]
	if a, b := tuned.History[0], frozen.History[0]; a.Loss != b.Loss || a.ValLoss != b.ValLoss {
		t.Errorf("the fine-tuned way's head epoch %s differs from the frozen way's first %s", a.Line(), b.Line())
	}
	if a, b := tuned.History[2], frozen.History[2]; a.ValLoss == b.ValLoss {
		t.Errorf("fine-tuning changed nothing: epoch 3 %s in both", a.Line())
	}
	conv5 := baseTrainable(resnet50.Options{TrainableFrom: "conv5"})
	if frozen.Trainable != headParams || tuned.Trainable != headParams+conv5 || scratch.Trainable != headParams+23_534_592 ||
		!(conv5 > 10_000_000 && conv5 < 23_534_592) {
		t.Errorf("trainable: scratch %d, frozen %d, fine-tuned %d (head %d, conv5 %d)", scratch.Trainable, frozen.Trainable, tuned.Trainable, headParams, conv5)
	}
	if _, err := Compare(cfg, CompareOptions{Epochs: 3, FreezeEpochs: 3}); err == nil {
		t.Error("3 frozen epochs of 3 accepted")
	}
	// The fine-tuned run opens as a fine-tuned model: CAM runs its own base (not the weights
	// file's) and agrees with Predict; Interpret keeps each photo with its label.
	m, err := Open(tuned.RunDir, OpenOptions{Backend: backendName, Head: cfg.Head})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.FineTuned {
		t.Fatal("the fine-tuned way's run does not open as fine-tuned")
	}
	cams, err := m.ValidationCAM(0)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.Predict(m.Info.Split.Valid, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cams {
		if c.H != 1 || c.W != 1 || c.Method != MethodCAM {
			t.Fatalf("fine-tuned CAM %d: %+v", i, c)
		}
		for k, p := range preds[i].Probs {
			if math.Abs(float64(p-c.Probs[k])) > 1e-4 {
				t.Fatalf("%s: CAM's probabilities %v, Predict's %v", c.Path, c.Probs, preds[i].Probs)
			}
		}
	}
	testInterpret(t, m)
}
