package playground

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

func TestLogScale(t *testing.T) {
	s := LearningRates
	if n := s.Positions(); n != 17 {
		t.Fatalf("1e-5…1e-1 at 4 per decade: %d positions, want 17", n)
	}
	want := map[int]float64{0: 1e-5, 1: 1.8e-5, 2: 3.2e-5, 3: 5.6e-5, 4: 1e-4, 6: 3.2e-4, 8: 1e-3, 12: 1e-2, 16: 0.1}
	for i, v := range want {
		if got := s.Value(i); got != v {
			t.Errorf("Value(%d) = %g, want %g", i, got, v)
		}
	}
	for i := range s.Positions() {
		if got := s.Index(s.Value(i)); got != i {
			t.Errorf("Index(Value(%d) = %g) = %d", i, s.Value(i), got)
		}
		if i > 0 && !(s.Value(i) > s.Value(i-1)) {
			t.Errorf("Value(%d) = %g ≤ Value(%d) = %g", i, s.Value(i), i-1, s.Value(i-1))
		}
	}
	for v, i := range map[float64]int{3e-4: 6, 2e-3: 9, 1e-7: 0, 5: 16, 0: 0, -1: 0} {
		if got := s.Index(v); got != i {
			t.Errorf("Index(%g) = %d, want %d", v, got, i)
		}
	}
	if s.Value(-3) != 1e-5 || s.Value(99) != 0.1 {
		t.Errorf("out of range: Value(-3) = %g, Value(99) = %g", s.Value(-3), s.Value(99))
	}
	for v, want := range map[float64]string{1e-3: "1e-3", 3.2e-4: "3.2e-4", 0.1: "1e-1", 1.8e-5: "1.8e-5"} {
		if got := FormatLR(v); got != want {
			t.Errorf("FormatLR(%g) = %q, want %q", v, got, want)
		}
	}
	if i := nearest(BatchSizes, 32); BatchSizes[i] != 32 {
		t.Errorf("nearest batch size to 32: %d", BatchSizes[i])
	}
	if i := nearest(BatchSizes, 50); BatchSizes[i] != 64 {
		t.Errorf("nearest batch size to 50: %d, want 64", BatchSizes[i])
	}
}

func TestKnobs(t *testing.T) {
	cfg := learner.Config{Run: config.Run{Pooling: "avg", Mode: "cached", Augment: 1, LearningRate: 3.2e-4, Dropout: 0.2}}
	k := KnobsOf(cfg)
	if k.Augment != 0 || k.Epochs != 30 || k.BatchSize != 32 || k.Head != "avg" {
		t.Errorf("knobs of the cached-mode settings: %+v (the training cell does not augment in cached mode)", k)
	}
	if got, want := k.Label(), "lr 3.2e-4 · 30 ep · b32 · avg · drop 0.2"; got != want {
		t.Errorf("label %q, want %q", got, want)
	}
	if k := KnobsOf(learner.Config{Run: config.Run{Mode: "augment", Augment: 0.5}}); k.Augment != 0.5 || k.Head != "flatten" {
		t.Errorf("augment-mode settings: Augment %g, head %q, want 0.5, flatten", k.Augment, k.Head)
	}
	k.Augment = 0.75
	if a := k.apply(cfg); a.Mode != learner.ModeAugment || a.Augment != 0.75 || a.Dropout != 0.2 || a.LearningRate != 3.2e-4 || a.Pooling != "avg" {
		t.Errorf("apply with augmentation: mode %q, augment %g, dropout %g, lr %g, pooling %q", a.Mode, a.Augment, a.Dropout, a.LearningRate, a.Pooling)
	}
	// The head knob is the built-in heads' name for the base's pooling; no augmentation is cached mode.
	k.Head, k.Augment = "flatten", 0
	if a := k.apply(cfg); a.Pooling != "none" || a.Mode != learner.ModeCached || a.Augment != 0 {
		t.Errorf("apply, flatten without augmentation: pooling %q, mode %q, augment %g", a.Pooling, a.Mode, a.Augment)
	}

	// One run folder per knob setting, epochs included; the notebook's run folders stay apart.
	dir := t.TempDir()
	run := config.Run{Data: "embedded", Weights: "random", Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache")}
	p := New(learner.Config{Run: run})
	p.Copies = 2
	base := KnobsOf(p.Config)
	dirs := map[string]string{}
	for name, k := range map[string]Knobs{
		"base": base, "lr": with(base, func(k *Knobs) { k.LearningRate = 1e-2 }), "epochs": with(base, func(k *Knobs) { k.Epochs = 5 }),
		"batch": with(base, func(k *Knobs) { k.BatchSize = 8 }), "dropout": with(base, func(k *Knobs) { k.Dropout = 0.3 }),
		"augment": with(base, func(k *Knobs) { k.Augment = 0.5 }), "head": with(base, func(k *Knobs) { k.Head = "max" }),
	} {
		d, err := p.RunDir(k)
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := dirs[d]; ok {
			t.Errorf("knobs %s and %s share the run folder %s", name, other, d)
		}
		dirs[d] = name
		if filepath.Dir(d) != filepath.Join(dir, "work", "playground") {
			t.Errorf("run folder %s is not under playground/", d)
		}
	}
	// Named as learner.New names the run of the same settings (the head's name and fingerprint),
	// with the epochs.
	info, err := learner.DescribeHead(learner.Config{Run: run})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.RunDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(d), "embedded-random-article-"+info.Fingerprint[:6]+"-flatten-cached-lr0.001-b32-e30"; got != want {
		t.Errorf("run folder %q, want %q", got, want)
	}
	if d, _ := p.RunDir(with(base, func(k *Knobs) { k.Augment = 0.5 })); !strings.HasSuffix(d, "-augment-lr0.001-b32-aug0.5-e30-copies2") {
		t.Errorf("augmented run folder %q", d)
	}
	// A dataset that is not there: the error names it.
	bad := New(learner.Config{Run: config.Run{Data: filepath.Join(dir, "nope"), Weights: "random", Work: filepath.Join(dir, "work")}})
	if _, err := bad.RunDir(base); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing data: %v", err)
	}
}

// TestNewTimeout: $FLOWERS_PLAYGROUND_TIMEOUT sets the timeout; a bad one stops the cell naming it.
func TestNewTimeout(t *testing.T) {
	if nb.IsNotebook() {
		t.Skip("running inside GoNB")
	}
	run := config.Run{Data: "embedded", Weights: "random"}
	t.Setenv(PlaygroundTimeoutEnv, "")
	if p := New(learner.Config{Run: run}); p.Timeout != 10*time.Minute || p.Keep != 4 || p.Copies != 2 || p.ConnectTimeout != 40*time.Second {
		t.Errorf("defaults: %+v", p)
	}
	t.Setenv(PlaygroundTimeoutEnv, "90s")
	if p := New(learner.Config{Run: run}); p.Timeout != 90*time.Second {
		t.Errorf("timeout %s, want 90s", p.Timeout)
	}
	for _, bad := range []string{"90", "-1s", "soon"} {
		t.Setenv(PlaygroundTimeoutEnv, bad)
		func() {
			defer func() {
				err, _ := recover().(error)
				if want := `$FLOWERS_PLAYGROUND_TIMEOUT="` + bad + `": want a duration such as 90s or 10m`; err == nil || err.Error() != want {
					t.Errorf("%s=%s: %v, want %s", PlaygroundTimeoutEnv, bad, err, want)
				}
			}()
			New(learner.Config{Run: run})
		}()
	}
}

func with(k Knobs, f func(*Knobs)) Knobs { f(&k); return k }

func history(n int, acc float64) trainer.History {
	h := make(trainer.History, n)
	for i := range h {
		h[i] = trainer.EpochStats{Epoch: i + 1, Loss: 1 / float64(i+1), Accuracy: acc, ValLoss: 1.5 / float64(i+1), ValAccuracy: acc - 0.1}
	}
	return h
}

func TestOverlayKeepsLastRuns(t *testing.T) {
	o := Overlay{Keep: 3}
	for i := 1; i <= 5; i++ {
		o.Add(&PlayRun{N: i, Knobs: Knobs{LearningRate: LearningRates.Value(4 + i), Epochs: i + 1, BatchSize: 32, Head: "avg"},
			History: history(i+1, 0.5+0.05*float64(i)), Status: "done"})
	}
	var kept []int
	for _, r := range o.Runs() {
		kept = append(kept, r.N)
	}
	if len(kept) != 3 || kept[0] != 3 || kept[2] != 5 || len(o.All()) != 5 {
		t.Fatalf("kept runs %v of %d, want [3 4 5] of 5", kept, len(o.All()))
	}
	acc, loss := o.Figures()
	series := regexp.MustCompile(`<g class="series" data-name="([^"]*)"`)
	for _, f := range []struct {
		name, svg, class string
	}{{"accuracy", acc.SVG(), "flowers-playground-accuracy"}, {"loss", loss.SVG(), "flowers-playground-loss"}} {
		names := series.FindAllStringSubmatch(f.svg, -1)
		if len(names) != 6 {
			t.Errorf("%s figure: %d series, want 6 (3 runs × validation and training)", f.name, len(names))
			continue
		}
		if names[0][1] != "#3 lr 5.6e-4 · 4 ep · b32 · avg" || names[1][1] != "#3 training" || names[4][1] != "#5 lr 1.8e-3 · 6 ep · b32 · avg" {
			t.Errorf("%s figure's series: %q, %q, %q", f.name, names[0][1], names[1][1], names[4][1])
		}
		if strings.Contains(f.svg, `data-name="#2 `) || !strings.Contains(f.svg, `class="`+f.class+`"`) {
			t.Errorf("%s figure: has the dropped run #2 or lacks its class %s", f.name, f.class)
		}
	}
	// The loss is on a log scale: a validation loss of 100 leaves the others their shape.
	if ls := loss.SVG(); !strings.Contains(ls, ">loss (log scale)</text>") || strings.Contains(acc.SVG(), "log scale") {
		t.Error("the playground's loss chart does not say its axis is logarithmic (or the accuracy chart does)")
	}
	// A run keeps its colour when older ones drop out.
	if o.Runs()[0].color() != o.All()[2].color() || o.All()[0].color() == o.All()[1].color() {
		t.Error("run colours are not fixed by the run's number")
	}
	tbl := o.Table()
	if strings.Index(tbl, ">#5<") > strings.Index(tbl, ">#1<") || strings.Count(tbl, "<tr") != 6 {
		t.Errorf("table: want 5 rows, newest first:\n%s", tbl)
	}
	if got := o.All()[4].Best(); math.Abs(got-0.65) > 1e-9 {
		t.Errorf("best val_accuracy %g, want 0.65", got)
	}
}

// cacheFiles lists the files under dir with their size and modification time.
func cacheFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[path] = fmt.Sprintf("%d bytes, %s", info.Size(), info.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func captureOut(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	old := nb.Out
	nb.Out = &buf
	t.Cleanup(func() { nb.Out = old })
	return &buf
}

// playground returns a playground on the photos embedded in flowerlib at 64×64 with random
// weights, under a temporary work folder.
func playground(t *testing.T, epochs int) *Playground {
	dir := t.TempDir()
	return New(learner.Config{Run: config.Run{Data: "embedded", Weights: "random", Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache"),
		Pooling: "avg", Epochs: epochs, ImageSize: 64, Backend: "go"}})
}

// TestPlaygroundTrain: outside a browser Run trains once with the settings' values and says
// that the widgets need one; then retrains on the cached features with other knobs, loads a
// finished run again instantly, and Stop ends a long run after a few steps.
func TestPlaygroundTrain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains the head several times")
	}
	out := captureOut(t)
	p := playground(t, 3)
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if want := "The playground's widgets need a browser (this is not a notebook): trained once with the settings' values (lr 1e-3 · 3 ep · b32 · avg)."; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	runs := p.Overlay().All()
	if len(runs) != 1 || len(runs[0].History) != 3 || runs[0].Status != "done" || math.IsNaN(runs[0].Best()) {
		t.Fatalf("the headless run: %d runs, %+v", len(runs), runs)
	}
	first := runs[0]
	t.Logf("first run (features computed): %.1fs, %.1fs before the first step", first.Seconds, first.SetupSeconds)

	k := KnobsOf(p.Config)
	k.LearningRate, k.Dropout = LearningRates.Value(10), 0.2
	r, err := p.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("retrain (cached features): %.1fs, %.1fs before the first step", r.Seconds, r.SetupSeconds)
	if r.Status != "done" || len(r.History) != 3 || r.RunDir == first.RunDir {
		t.Errorf("retrain: %s, %d epochs, folder %s (first %s)", r.Status, len(r.History), r.RunDir, first.RunDir)
	}
	if _, err := os.Stat(filepath.Join(r.RunDir, "history.json")); err != nil {
		t.Errorf("the retrain's run folder: %v", err)
	}
	again, err := p.Train(KnobsOf(p.Config))
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != "loaded" || len(again.History) != 3 || again.History[2].ValLoss != first.History[2].ValLoss {
		t.Errorf("the same knobs again: %s, %d epochs (val_loss %v vs %v)", again.Status, len(again.History), again.History, first.History)
	}

	// Stop: a 500-epoch run stopped after its first epoch.
	long := k
	long.Epochs = 500
	done := make(chan *PlayRun)
	go func() { r, _ := p.Train(long); done <- r }()
	// Stop once the run has an epoch (or after 2 minutes on a busy machine), but not before it
	// is in the overlay: Train clears the stop flag when it starts.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p.mu.Lock()
		all := p.overlay.All()
		started, epochs := len(all) == 4, 0
		if started {
			epochs = len(all[3].History)
		}
		p.mu.Unlock()
		if started && (epochs > 0 || time.Now().After(deadline)) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Stop()
	stopped := <-done
	if stopped.Status != "stopped" || len(stopped.History) < 1 || len(stopped.History) > 20 {
		t.Errorf("stopped run: %s after %d epochs", stopped.Status, len(stopped.History))
	}
	if n := len(p.Overlay().Runs()); n != 4 {
		t.Errorf("overlay: %d runs, want 4", n)
	}
	for _, want := range []string{"playground run #1 lr 1e-3 · 3 ep · b32 · avg: done, 3 epochs", "#2 lr 3.2e-3 · 3 ep · b32 · avg · drop 0.2: done",
		"#3 lr 1e-3 · 3 ep · b32 · avg: loaded, 3 epochs", "#4 lr 3.2e-3 · 500 ep · b32 · avg · drop 0.2: stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestPlaygroundRetrainSample measures a retrain of the pooled head on the cached features
// of the 200 sample photos, at 64×64 (FLOWERS_BENCH=1: at 224×224, the notebook's size).
func TestPlaygroundRetrainSample(t *testing.T) {
	testdata.Slow(t, "the features of the 200 sample photos, then a retrain")
	if testing.Short() {
		t.Skip("-short: computes the sample's features")
	}
	data := testdata.RequireSample(t)
	size := 64
	if os.Getenv("FLOWERS_BENCH") == "1" {
		size = 224
	}
	dir := t.TempDir()
	p := New(learner.Config{Run: config.Run{Data: data, Weights: "random", Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache"),
		Pooling: "avg", ImageSize: size, Backend: "go"}})
	k := KnobsOf(p.Config)
	first, err := p.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	cached := cacheFiles(t, p.Config.Cache)
	if len(cached) == 0 {
		t.Fatalf("the first run left nothing in the cache folder %s", p.Config.Cache)
	}
	k.LearningRate = LearningRates.Value(6)
	retrain, err := p.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("200 photos at %d×%d, pooled head, %d epochs: first run %.1fs (%.1fs computing the features); retrain on the cached features %.1fs (%.1fs before the first step, %.2fs per epoch)",
		size, size, k.Epochs, first.Seconds, first.SetupSeconds, retrain.Seconds, retrain.SetupSeconds, (retrain.Seconds-retrain.SetupSeconds)/float64(k.Epochs))
	if len(retrain.History) != k.Epochs || retrain.Status != "done" {
		t.Errorf("retrain: %s after %d epochs", retrain.Status, len(retrain.History))
	}
	// The retrain reads the first run's features from the cache: it writes nothing there. (Its
	// setup time is no test of that: on a fast base, computing the features takes about as
	// long as building the trainer.)
	if again := cacheFiles(t, p.Config.Cache); !maps.Equal(again, cached) {
		t.Errorf("the retrain changed the cache (the features were not reused):\nbefore %v\nafter  %v", cached, again)
	}
}

// TestPlaygroundCustomHead: the playground retrains a head written in code (the training
// cell's), in run folders named after it; the head knob changes what the base gives it.
func TestPlaygroundCustomHead(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a head twice")
	}
	out := captureOut(t)
	dir := t.TempDir()
	p := New(learner.Config{Run: config.Run{Data: "embedded", Weights: "random", Work: filepath.Join(dir, "work"), Cache: filepath.Join(dir, "cache"),
		Pooling: "avg", Epochs: 2, ImageSize: 32, BatchSize: 16, Backend: "go"}, Head: head.Article(5, []int{16, 8}, 0), HeadName: "small"})
	k := KnobsOf(p.Config)
	if k.Label() != "lr 1e-3 · 2 ep · b16 · avg" {
		t.Errorf("knobs %q", k.Label())
	}
	info, err := learner.DescribeHead(p.Config)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := "embedded-random-small-" + info.Fingerprint[:6] + "-avg-cached-lr0.001-b16-s32-e2"; filepath.Base(r.RunDir) != want || r.Status != "done" || len(r.History) != 2 {
		t.Errorf("run %s in %s after %d epochs, want done in %s", r.Status, filepath.Base(r.RunDir), len(r.History), want)
	}
	ri, err := learner.LoadRunInfo(r.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	if ri.Head.Name != "small" || ri.Head.BuiltIn || ri.Head.Fingerprint != info.Fingerprint {
		t.Errorf("run.json's head: %+v", ri.Head)
	}
	k.Head = "max"
	m, err := p.Train(k)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != "done" || m.RunDir == r.RunDir || !strings.Contains(filepath.Base(m.RunDir), "-small-") || !strings.Contains(filepath.Base(m.RunDir), "-max-") {
		t.Errorf("max pooling: %s in %s", m.Status, m.RunDir)
	}
	if !strings.Contains(out.String(), "playground run #2 lr 1e-3 · 2 ep · b16 · max: done, 2 epochs") {
		t.Errorf("output:\n%s", out)
	}
}
