package nb

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/dom"
	"github.com/janpfeifer/gonb/gonbui/widgets"
	"github.com/pkg/errors"
)

// The playground's environment variables.
const (
	// HeadlessEnv set to 1 says that no browser shows the cell (nbconvert, CI): the
	// playground then trains once with the settings' values instead of waiting for widgets
	// (gonbui.IsNotebook is true under nbconvert too, and a widget waits for a browser).
	HeadlessEnv = "FLOWERS_HEADLESS"
	// PlaygroundTimeoutEnv overrides Playground.Timeout (a Go duration: "90s", "10m").
	PlaygroundTimeoutEnv = "FLOWERS_PLAYGROUND_TIMEOUT"
)

// LogScale maps a slider's integer positions 0..Positions()-1 to numbers spaced evenly on
// a log scale from Min to Max, PerDecade positions per factor of 10 (GoNB's sliders hold
// integers only). Values are rounded to 2 significant digits, so they print short and name
// run folders cleanly: 1e-5, 1.8e-5, 3.2e-5, 5.6e-5, 1e-4, ….
type LogScale struct {
	Min, Max  float64
	PerDecade int
}

// LearningRates is the learning-rate slider: 1e-5 … 1e-1, 4 positions per decade.
var LearningRates = LogScale{Min: 1e-5, Max: 1e-1, PerDecade: 4}

// BatchSizes are the batch-size slider's positions.
var BatchSizes = []int{8, 16, 32, 64, 128}

// Heads are the head selector's options (pooled heads first: they retrain in seconds).
var Heads = []string{"avg", "max", "flatten"}

// Positions is the number of slider positions.
func (s LogScale) Positions() int {
	return int(math.Round(math.Log10(s.Max/s.Min)*float64(s.PerDecade))) + 1
}

// Value is the number at position i (clamped to the slider's range).
func (s LogScale) Value(i int) float64 {
	i = min(max(i, 0), s.Positions()-1)
	v := s.Min * math.Pow(10, float64(i)/float64(s.PerDecade))
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 2, 64), 64)
	return r
}

// Index is the position nearest to v on the log scale (clamped).
func (s LogScale) Index(v float64) int {
	if !(v > 0) {
		return 0
	}
	i := int(math.Round(math.Log10(v/s.Min) * float64(s.PerDecade)))
	return min(max(i, 0), s.Positions()-1)
}

// FormatLR writes a learning rate as 1e-3, 3.2e-4 (what the sliders and legends show).
func FormatLR(v float64) string {
	s := strconv.FormatFloat(v, 'e', -1, 64) // 1e-03, 3.2e-04
	m, e, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	exp, err := strconv.Atoi(e)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%se%d", m, exp)
}

// nearest is the index of the value in vs closest to v.
func nearest(vs []int, v int) int {
	best := 0
	for i, x := range vs {
		if abs(x-v) < abs(vs[best]-v) {
			best = i
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Knobs are the hyperparameters the playground's widgets set.
type Knobs struct {
	LearningRate float64
	Epochs       int
	BatchSize    int
	// Augment is the augmentation strength (1 = the article's ImageDataGenerator ranges).
	// 0 trains on the cached features of the photos; > 0 on cached augmented copies of them
	// (Playground.Copies per strength, computed once: see Playground).
	Augment float64
	Dropout float64
	Head    string
}

// KnobsOf returns the knobs of the settings: what the training cell trains. In cached mode
// the training cell does not augment, so Augment is 0 there whatever the settings say.
func KnobsOf(s Settings) Knobs {
	s = s.Defaults()
	k := Knobs{LearningRate: s.LearningRate, Epochs: s.Epochs, BatchSize: s.BatchSize, Dropout: s.Dropout, Head: s.Head}
	if s.Mode == learner.ModeAugment {
		k.Augment = s.Augment
	}
	return k
}

// Label is the knobs in a few words, for legends: "lr 1e-3 · 30 ep · b32 · avg", with
// dropout and augmentation when they are set.
func (k Knobs) Label() string {
	s := fmt.Sprintf("lr %s · %d ep · b%d · %s", FormatLR(k.LearningRate), k.Epochs, k.BatchSize, k.Head)
	if k.Dropout > 0 {
		s += fmt.Sprintf(" · drop %g", k.Dropout)
	}
	if k.Augment > 0 {
		s += fmt.Sprintf(" · aug %g", k.Augment)
	}
	return s
}

// apply returns s with the knobs set: augmentation > 0 switches to augment mode (served by
// cached copies, see Playground.Copies).
func (k Knobs) apply(s Settings) Settings {
	s.LearningRate, s.Epochs, s.BatchSize, s.Dropout, s.Head = k.LearningRate, k.Epochs, k.BatchSize, k.Dropout, k.Head
	s.Mode, s.Augment = learner.ModeCached, 0
	if k.Augment > 0 {
		s.Mode, s.Augment = learner.ModeAugment, k.Augment
	}
	return s
}

// PlayRun is one training of the playground.
type PlayRun struct {
	N       int // 1, 2, 3, … in the order of the cell's runs
	Knobs   Knobs
	RunDir  string
	History trainer.History
	// Seconds is the whole run; SetupSeconds the part before the first step (the features:
	// from the cache, or computed when new).
	Seconds, SetupSeconds float64
	Status                string // "training", "done", "stopped", "loaded" (finished before), "failed: …"
	Resumed               bool   // continued a stopped run with the same knobs
}

// Name is the run's legend entry: "#3 lr 1e-3 · 30 ep · b32 · avg".
func (r *PlayRun) Name() string { return fmt.Sprintf("#%d %s", r.N, r.Knobs.Label()) }

// color is the run's colour, fixed by its number (it keeps it while older runs drop out).
func (r *PlayRun) color() string { return plots.Palette[(r.N-1)%len(plots.Palette)] }

// Best is the best validation accuracy of the run (NaN before its first epoch).
func (r *PlayRun) Best() float64 {
	best := math.NaN()
	for _, e := range r.History {
		if math.IsNaN(best) || e.ValAccuracy > best {
			best = e.ValAccuracy
		}
	}
	return best
}

// Overlay is the comparison: the last Keep runs, drawn over each other.
type Overlay struct {
	Keep int // default 4
	all  []*PlayRun
}

// Add appends a run.
func (o *Overlay) Add(r *PlayRun) { o.all = append(o.all, r) }

// All returns every run added, oldest first.
func (o *Overlay) All() []*PlayRun { return o.all }

// Runs returns the last Keep runs, oldest first: those the figures draw.
func (o *Overlay) Runs() []*PlayRun {
	keep := o.Keep
	if keep <= 0 {
		keep = 4
	}
	return o.all[max(0, len(o.all)-keep):]
}

// Figures returns the overlaid curves of Runs: validation accuracy and validation loss per
// epoch (solid; training dashed in the same colour), one legend entry per run with its knobs.
// Each is wrapped in a figure of class flowers-playground-accuracy / -loss.
func (o *Overlay) Figures() (accuracy, loss *plots.Figure) {
	var acc, ls []plots.Series
	for _, r := range o.Runs() {
		c := r.color()
		acc = append(acc, plots.Series{Name: r.Name(), Y: r.History.Metric("val_accuracy"), Color: c},
			plots.Series{Name: fmt.Sprintf("#%d training", r.N), Y: r.History.Metric("accuracy"), Color: c, Dashed: true})
		ls = append(ls, plots.Series{Name: r.Name(), Y: r.History.Metric("val_loss"), Color: c},
			plots.Series{Name: fmt.Sprintf("#%d training", r.N), Y: r.History.Metric("loss"), Color: c, Dashed: true})
	}
	chart := func(title string) plots.Chart {
		return plots.Chart{Title: title, XLabel: "epoch", Width: 812, Height: 320}
	}
	accuracy = plots.HStack("flowers-playground-accuracy", 0,
		plots.LineChart(chart("playground: validation accuracy (solid), training (dashed)"), acc))
	loss = plots.HStack("flowers-playground-loss", 0,
		plots.LineChart(chart("playground: validation loss (solid), training (dashed)"), ls))
	return accuracy, loss
}

// Table returns every run as an HTML table, newest first: knobs, the last and best
// validation accuracy, the time and how it ended.
func (o *Overlay) Table() string {
	rows := make([][]string, 0, len(o.all))
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.4f", v)
	}
	for i := len(o.all) - 1; i >= 0; i-- {
		r := o.all[i]
		last, lastLoss := math.NaN(), math.NaN()
		if n := len(r.History); n > 0 {
			last, lastLoss = r.History[n-1].ValAccuracy, r.History[n-1].ValLoss
		}
		k := r.Knobs
		rows = append(rows, []string{fmt.Sprintf("#%d", r.N), FormatLR(k.LearningRate), fmt.Sprint(k.Epochs), fmt.Sprint(k.BatchSize),
			k.Head, fmt.Sprint(k.Dropout), fmt.Sprint(k.Augment), fmt.Sprint(len(r.History)), f(last), f(r.Best()), f(lastLoss),
			fmt.Sprintf("%.1f", r.Seconds), r.Status})
	}
	return Table([]string{"run", "learning rate", "epochs", "batch", "head", "dropout", "augment", "epochs run",
		"val_accuracy", "best", "val_loss", "seconds", "status"}, rows)
}

// Playground is the notebook's hyperparameter playground: sliders for the learning rate (log
// scale), epochs, batch size, augmentation strength and dropout, a head selector, and Train,
// Stop and Done buttons (GoNB's gonbui/widgets). Train retrains the head with the knobs'
// values on the frozen base's cached features (for the pooled heads: seconds for the
// 200-photo sample on 2 cores) and redraws, in place, the validation curves of the last Keep
// runs overlaid, with their knobs in the legend, and a table of every run. Stop ends a run
// after its current step; Done, or Timeout without a touch, ends the cell.
//
// Each knob setting trains in its own run folder, <Work>/playground/<settings>-e<epochs>
// (flowerlib/learner): the same knobs again load the finished run instantly, or continue a
// stopped one. Augmentation (> 0) needs photos, not cached features, so it switches to augment
// mode served by Copies augmented copies of the training photos' features, computed once per
// strength (the frozen base over Copies × the training photos: about a minute for the sample
// at 224×224) and cached like the plain features; each epoch uses copy (epoch mod Copies).
//
// Without a browser — outside a notebook, with $FLOWERS_HEADLESS=1, where no page shows the
// notebook (NoBrowser: nbconvert, papermill; $FLOWERS_HEADLESS=0 skips that check), or when no
// browser answers the widgets within ConnectTimeout — Run trains once with the settings'
// values, shows the same figures and says that the widgets need a browser.
type Playground struct {
	Settings Settings
	Keep     int           // runs overlaid; default 4
	Timeout  time.Duration // the cell ends after this long without a touch; default 10 min ($FLOWERS_PLAYGROUND_TIMEOUT)
	// ConnectTimeout bounds the wait for the browser to answer the widgets; default 40 s.
	ConnectTimeout time.Duration
	Copies         int // augmented copies per strength (Augment > 0); default 2

	overlay                                Overlay
	controls, status, accFig, lossFig, tbl *Live
	mu                                     sync.Mutex // overlay, the blocks, lastDraw
	lastDraw                               time.Time
	stop                                   atomic.Bool
}

// NewPlayground returns the playground for the settings (defaults filled, $FLOWERS_PLAYGROUND_TIMEOUT read).
func NewPlayground(s Settings) *Playground {
	p := &Playground{Settings: s.Resolve(nil), Keep: 4, Timeout: 10 * time.Minute, ConnectTimeout: 40 * time.Second, Copies: 2}
	if v := os.Getenv(PlaygroundTimeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			Check(errors.Errorf("$%s=%q: want a duration such as 90s or 10m", PlaygroundTimeoutEnv, v))
		}
		p.Timeout = d
	}
	return p
}

// Overlay returns the runs so far.
func (p *Playground) Overlay() *Overlay { return &p.overlay }

// Stop asks the run in progress to end after its current step (the Stop button).
func (p *Playground) Stop() { p.stop.Store(true) }

// blocks creates the cell's output blocks in their display order (once).
func (p *Playground) blocks() {
	if p.status != nil {
		return
	}
	p.controls, p.status, p.accFig, p.lossFig, p.tbl = NewLive(), NewLive(), NewLive(), NewLive(), NewLive()
	p.overlay.Keep = p.Keep
}

// RunDir is the run folder of a knob setting.
func (p *Playground) RunDir(k Knobs) string {
	s := k.apply(p.Settings)
	name := filepath.Base(s.RunDir()) + fmt.Sprintf("-e%d", k.Epochs)
	if k.Augment > 0 {
		name += fmt.Sprintf("-copies%d", p.copies())
	}
	return filepath.Join(s.WorkDir(), "playground", name)
}

func (p *Playground) copies() int {
	if p.Copies <= 0 {
		return 2
	}
	return p.Copies
}

// Train trains the head with the knobs (or loads the finished run of the same knobs), drawing
// progress and the overlaid curves in place; outside a notebook it prints one line per run.
// A run that fails (a diverging learning rate, say) is returned with its Status and the error.
func (p *Playground) Train(k Knobs) (*PlayRun, error) {
	p.blocks()
	p.stop.Store(false)
	start := time.Now()
	p.mu.Lock()
	r := &PlayRun{N: len(p.overlay.all) + 1, Knobs: k, RunDir: p.RunDir(k), Status: "training"}
	p.overlay.Add(r)
	p.mu.Unlock()
	st := &runStatus{live: p.status, run: r, start: start, text: &Progress{Interval: 250 * time.Millisecond, live: p.status}}
	st.live.Update(st.head() + progressText("", nil, "starting…")) // first: the status shows above the figures
	p.draw(true)                                                   // the new run's legend entry at once
	err := p.train(r, st)
	p.mu.Lock()
	r.Seconds = time.Since(start).Seconds()
	switch {
	case err != nil:
		r.Status = "failed: " + firstLine(err.Error())
	case r.Status == "training":
		r.Status = "done"
	}
	p.mu.Unlock()
	p.draw(true)
	st.finish(err)
	if !IsNotebook() {
		fmt.Fprintf(Out, "playground run %s: %s, %d epochs, best val_accuracy %.4f, %.1fs\n", r.Name(), r.Status, len(r.History), r.Best(), r.Seconds)
	}
	return r, err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (p *Playground) train(r *PlayRun, st *runStatus) error {
	s := r.Knobs.apply(p.Settings)
	cfg, err := s.Config(st.text, st.text)
	if err != nil {
		return err
	}
	cfg.RunDir = r.RunDir
	if r.Knobs.Augment > 0 {
		cfg.AugmentCopies = p.copies()
	}
	l, err := learner.New(cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	r.SetupSeconds = time.Since(st.start).Seconds()
	state := l.Trainer.State
	if state.Done && state.Epoch >= r.Knobs.Epochs {
		p.mu.Lock()
		r.History, r.Status = state.History, "loaded"
		p.mu.Unlock()
		return nil
	}
	r.Resumed = state.Step > 0
	if p.stop.Load() {
		r.Status = "stopped"
		return nil
	}
	l.Trainer.Progress, l.Trainer.Log = nil, nil // the status block draws the steps, the figures the epochs
	l.Trainer.OnStep = func(si trainer.StepInfo) {
		st.step(si, len(r.History))
		if p.stop.Load() {
			l.Trainer.Stop()
		}
	}
	l.Trainer.OnEpoch = func(h trainer.History) {
		p.mu.Lock()
		r.History = append(trainer.History(nil), h...)
		p.mu.Unlock()
		p.draw(false)
		if p.stop.Load() {
			l.Trainer.Stop()
		}
	}
	h, err := l.Fit()
	p.mu.Lock()
	r.History = append(trainer.History(nil), h...)
	if err == nil && !l.Trainer.State.Done || p.stop.Load() && len(h) < r.Knobs.Epochs {
		r.Status = "stopped"
	}
	p.mu.Unlock()
	return err
}

// draw redraws the figures and the table (at most every 300 ms unless final).
func (p *Playground) draw(final bool) {
	if !IsNotebook() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !final && time.Since(p.lastDraw) < 300*time.Millisecond {
		return
	}
	p.lastDraw = time.Now()
	acc, loss := p.overlay.Figures()
	if b := p.Settings.Banner(); b != "" {
		acc, loss = plots.WithBanner(acc, b), plots.WithBanner(loss, b)
	}
	p.accFig.Show(acc)
	p.lossFig.Show(loss)
	p.tbl.Update(p.overlay.Table())
}

// runStatus draws a run's progress line: the terminal output of the steps before training
// (features), then the epoch and batch, then a summary.
type runStatus struct {
	live  *Live
	run   *PlayRun
	start time.Time
	text  *Progress
	mu    sync.Mutex
	last  time.Time
}

func (s *runStatus) head() string {
	return fmt.Sprintf(`<div style="font-weight:bold;margin:4px 0">run %s</div>`, html.EscapeString(s.run.Name()))
}

func (s *runStatus) step(si trainer.StepInfo, epochsDone int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.last) < 250*time.Millisecond && si.Batch != si.Steps {
		return
	}
	s.last = time.Now()
	s.live.Update(s.head() + progressHTML(si, s.run.Knobs.Epochs, epochsDone, time.Since(s.start)))
}

func (s *runStatus) finish(err error) {
	r := s.run
	var b strings.Builder
	b.WriteString(s.head())
	line := fmt.Sprintf("%s: %d epochs in %.1fs (%.1fs before the first step)", r.Status, len(r.History), r.Seconds, r.SetupSeconds)
	if n := len(r.History); n > 0 {
		e := r.History[n-1]
		line += fmt.Sprintf(" · val_accuracy %.4f (best %.4f) · val_loss %.4f", e.ValAccuracy, r.Best(), e.ValLoss)
	}
	if r.Resumed {
		line += " · continued a stopped run of the same knobs"
	}
	fmt.Fprintf(&b, `<div class="flowers-progress" style="font-family:monospace;font-size:12px">%s</div>`, html.EscapeString(line))
	if err != nil {
		fmt.Fprintf(&b, `<pre style="color:#b00;font-size:12px;white-space:pre-wrap">%s</pre>`, html.EscapeString(err.Error()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live.Update(b.String())
}

// Run is the playground cell: in a browser, the widgets until Done or Timeout; otherwise one
// training with the settings' values (see Playground). A failing run does not end it; the
// error of the one headless run is returned.
func (p *Playground) Run() error {
	p.blocks()
	knobs := KnobsOf(p.Settings)
	why := ""
	switch {
	case !IsNotebook():
		why = "this is not a notebook"
	case os.Getenv(HeadlessEnv) == "1":
		why = "$" + HeadlessEnv + "=1"
	case os.Getenv(HeadlessEnv) != "0": // 0: wait for a browser whatever Jupyter says
		why = NoBrowser() // headless.go: nbconvert, papermill, an editor's kernel, no page open
	}
	var w *pgWidgets
	if why == "" {
		var err error
		if w, err = p.connect(knobs); err != nil {
			why = err.Error()
		}
	}
	if w == nil {
		msg := fmt.Sprintf("The playground's widgets need a browser (%s): trained once with the settings' values (%s). "+
			"Open the notebook in Jupyter to move the sliders.", why, knobs.Label())
		if IsNotebook() {
			p.controls.Update(fmt.Sprintf(`<div class="flowers-playground-closed"><i>%s</i></div>`, html.EscapeString(msg)))
		} else {
			fmt.Fprintln(Out, msg)
		}
		_, err := p.Train(knobs)
		return err
	}
	return p.interact(w, knobs)
}

// pgWidgets are the playground's controls on the page.
type pgWidgets struct {
	uid                          string
	lr, epochs, batch, aug, drop *widgets.SliderBuilder
	head                         *widgets.SelectBuilder
	train, stop, done            *widgets.ButtonBuilder
}

// Slider ranges (integer positions): augmentation in quarters, dropout in tenths.
const (
	maxEpochs   = 60
	augmentStep = 0.25
	augmentMax  = 4
	dropoutStep = 0.1
	dropoutMax  = 8
)

// knobRows are the controls' rows: name (HTML id part), label, and the value text.
var knobRows = []struct{ name, label string }{
	{"lr", "learning rate"}, {"epochs", "epochs"}, {"batch", "batch size"},
	{"aug", "augmentation"}, {"drop", "dropout"}, {"head", "head"},
}

func knobText(name string, k Knobs) string {
	switch name {
	case "lr":
		return FormatLR(k.LearningRate)
	case "epochs":
		return fmt.Sprint(k.Epochs)
	case "batch":
		return fmt.Sprint(k.BatchSize)
	case "aug":
		if k.Augment == 0 {
			return "0 (the cached features)"
		}
		return fmt.Sprintf("%g (cached augmented copies, made once per strength)", k.Augment)
	case "drop":
		return fmt.Sprint(k.Dropout)
	}
	return ""
}

// connectAttempt bounds one attempt of connect.
const connectAttempt = 8 * time.Second

// connect draws the controls and waits for the browser to answer them, ConnectTimeout at most.
// A failed attempt draws them again: GoNB's page script gives the kernel 500 ms to accept its
// connection (gonb_comm's comm_open_ack) and gives up for good when a busy machine is slower;
// the next widget message makes GoNB notice the dead connection and install a new one.
func (p *Playground) connect(k Knobs) (*pgWidgets, error) {
	deadline := time.Now().Add(p.ConnectTimeout)
	for attempt := 1; ; attempt++ {
		if w := p.connectOnce(k, min(connectAttempt, time.Until(deadline))); w != nil {
			return w, nil
		}
		if time.Until(deadline) <= 0 {
			return nil, errors.Errorf("no browser answered the widgets within %s (%d attempts)", p.ConnectTimeout, attempt)
		}
	}
}

// connectOnce draws the controls and waits for the browser to answer them; nil if it does
// not within wait (the attempt's goroutine stays blocked: harmless, the cell ends).
func (p *Playground) connectOnce(k Knobs, wait time.Duration) *pgWidgets {
	w := &pgWidgets{uid: gonbui.UniqueId()}
	id := func(part string) string { return "flowers-pg-" + part + "-" + w.uid }
	var b strings.Builder
	// Wide sliders: 17 learning rates need room for a finger or a mouse.
	fmt.Fprintf(&b, `<style>#%s input[type=range] { width: 260px; }</style>`, id("root"))
	fmt.Fprintf(&b, `<div class="flowers-playground" id="%s"><table style="font-size:13px">`, id("root"))
	for _, r := range knobRows {
		fmt.Fprintf(&b, `<tr><td style="text-align:left;padding:2px 10px">%s</td><td id="%s" style="text-align:left"></td>`+
			`<td id="%s" style="text-align:left;font-family:monospace">%s</td></tr>`,
			r.label, id(r.name+"-cell"), id(r.name+"-value"), html.EscapeString(knobText(r.name, k)))
	}
	fmt.Fprintf(&b, `</table><div id="%s" style="margin:6px 10px;display:flex;gap:8px"></div></div>`, id("buttons"))
	p.controls.Update(b.String())

	ready := make(chan struct{})
	go func() {
		cell := func(name string) string { return id(name + "-cell") }
		w.lr = widgets.Slider(0, LearningRates.Positions()-1, LearningRates.Index(k.LearningRate)).WithHtmlId(id("lr")).AppendTo(cell("lr")).Done()
		w.epochs = widgets.Slider(1, max(maxEpochs, k.Epochs), k.Epochs).WithHtmlId(id("epochs")).AppendTo(cell("epochs")).Done()
		w.batch = widgets.Slider(0, len(BatchSizes)-1, nearest(BatchSizes, k.BatchSize)).WithHtmlId(id("batch")).AppendTo(cell("batch")).Done()
		w.aug = widgets.Slider(0, augmentMax, int(math.Round(min(k.Augment, 1)/augmentStep))).WithHtmlId(id("aug")).AppendTo(cell("aug")).Done()
		w.drop = widgets.Slider(0, dropoutMax, int(math.Round(k.Dropout/dropoutStep))).WithHtmlId(id("drop")).AppendTo(cell("drop")).Done()
		headIdx := 0
		for i, h := range Heads {
			if h == k.Head {
				headIdx = i
			}
		}
		w.head = widgets.Select(Heads).SetDefault(headIdx).WithHtmlId(id("head")).AppendTo(cell("head")).Done()
		w.train = widgets.Button("Train").WithHtmlId(id("train")).AppendTo(id("buttons")).Done()
		w.stop = widgets.Button("Stop").WithHtmlId(id("stop")).AppendTo(id("buttons")).Done()
		w.done = widgets.Button("Done").WithHtmlId(id("done")).AppendTo(id("buttons")).Done()
		close(ready)
	}()
	select {
	case <-ready:
		return w
	case <-time.After(wait):
		return nil
	}
}

// knobWidget is a slider or the selector, with the position last seen.
type knobWidget struct {
	name, htmlID, address string
	c                     *comms.AddressChan[int]
	pos                   int
	set                   func(k *Knobs, pos int)
}

// settleDelay is how long the widgets stay still before the page is asked for their values.
const settleDelay = 300 * time.Millisecond

// interact runs the widgets' loop: the settings' run first, then a run per Train click.
//
// GoNB (v0.11.4) hands each value from the page to the listeners in a goroutine of its own,
// so the values of a fast slider move can arrive out of order, the last one not last. Once
// the widgets have been still for settleDelay the page is asked to send each widget's value
// once more (reconcile), and Train waits for those before it reads the knobs.
func (p *Playground) interact(w *pgWidgets, k Knobs) error {
	headIdx := 0
	for i, h := range Heads {
		if h == k.Head {
			headIdx = i
		}
	}
	knobs := []*knobWidget{
		{name: "lr", htmlID: w.lr.HtmlId(), address: w.lr.Address(), pos: LearningRates.Index(k.LearningRate),
			set: func(k *Knobs, v int) { k.LearningRate = LearningRates.Value(v) }},
		{name: "epochs", htmlID: w.epochs.HtmlId(), address: w.epochs.Address(), pos: k.Epochs,
			set: func(k *Knobs, v int) { k.Epochs = max(1, v) }},
		{name: "batch", htmlID: w.batch.HtmlId(), address: w.batch.Address(), pos: nearest(BatchSizes, k.BatchSize),
			set: func(k *Knobs, v int) { k.BatchSize = BatchSizes[min(max(v, 0), len(BatchSizes)-1)] }},
		{name: "aug", htmlID: w.aug.HtmlId(), address: w.aug.Address(), pos: int(math.Round(min(k.Augment, 1) / augmentStep)),
			set: func(k *Knobs, v int) { k.Augment = float64(min(max(v, 0), augmentMax)) * augmentStep }},
		{name: "drop", htmlID: w.drop.HtmlId(), address: w.drop.Address(), pos: int(math.Round(k.Dropout / dropoutStep)),
			set: func(k *Knobs, v int) { k.Dropout = math.Round(float64(min(max(v, 0), dropoutMax))*dropoutStep*10) / 10 }},
		{name: "head", htmlID: w.head.HtmlId(), address: w.head.Address(), pos: headIdx,
			set: func(k *Knobs, v int) { k.Head = Heads[min(max(v, 0), len(Heads)-1)] }},
	}
	knobs[0].c, knobs[1].c, knobs[2].c = w.lr.Listen().LatestOnly(), w.epochs.Listen().LatestOnly(), w.batch.Listen().LatestOnly()
	knobs[3].c, knobs[4].c, knobs[5].c = w.aug.Listen().LatestOnly(), w.drop.Listen().LatestOnly(), w.head.Listen().LatestOnly()
	trainC, stopC, doneC := w.train.Listen(), w.stop.Listen(), w.done.Listen()
	type change struct{ knob, pos int }
	changes := make(chan change)
	for i, kn := range knobs {
		go func() {
			for v := range kn.c.C {
				changes <- change{i, v}
			}
		}()
	}
	var pairs []string
	for _, kn := range knobs {
		pairs = append(pairs, fmt.Sprintf("[%q, %q]", kn.htmlID, kn.address))
	}
	reconcile := func() {
		dom.TransientJavascript(`(() => { const c = globalThis.gonb_comm; if (!c) return;
	for (const [id, address] of [` + strings.Join(pairs, ", ") + `]) { const e = document.getElementById(id); if (e) c.send(address, e.value); } })();`)
	}

	// The page is updated from one goroutine of its own: each update waits for GoNB to take it
	// (gonbui.Sync), and the loop must keep reading the buttons whatever happens there.
	ui := make(chan func(), 64)
	go func() {
		for f := range ui {
			f()
		}
	}()
	post := func(f func()) {
		select {
		case ui <- f:
		default: // the page is not keeping up: drop it (the next settle redraws the values)
		}
	}
	finished := make(chan *PlayRun, 1)
	busy := false
	start := func(k Knobs) {
		busy = true
		go func() {
			r, _ := p.Train(k) // a failed run shows its error in the status block
			finished <- r
		}()
	}
	note := func(msg string) {
		post(func() {
			p.status.Update(fmt.Sprintf(`<div class="flowers-progress" style="font-family:monospace;font-size:12px">%s</div>`, html.EscapeString(msg)))
		})
	}
	start(k)
	idle := time.NewTimer(p.Timeout)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	trainSoon := time.NewTimer(time.Hour) // Train pressed: starts once the reconciled values are in
	trainSoon.Stop()
	reason := ""
loop:
	for {
		select {
		case ch := <-changes:
			kn := knobs[ch.knob]
			if ch.pos == kn.pos {
				continue // the page confirming a value (reconcile); not a touch
			}
			kn.pos = ch.pos
			kn.set(&k, ch.pos)
			if kn.name != "head" {
				id, text := "flowers-pg-"+kn.name+"-value-"+w.uid, knobText(kn.name, k)
				post(func() { dom.SetInnerText(id, text) })
			}
			settle.Reset(settleDelay)
		case <-settle.C:
			post(reconcile)
		case <-trainC.C:
			if busy {
				note("a run is in progress: press Stop first (or wait for it)")
			} else {
				post(reconcile)
				trainSoon.Reset(2 * settleDelay)
			}
		case <-trainSoon.C:
			if !busy {
				start(k)
			}
		case <-stopC.C:
			if busy {
				p.Stop()
			}
		case <-doneC.C:
			reason = "Done pressed"
			break loop
		case <-finished:
			busy = false
		case <-idle.C:
			if !busy {
				reason = fmt.Sprintf("%s without a touch", p.Timeout)
				break loop
			}
		}
		idle.Reset(p.Timeout)
	}
	if busy {
		p.Stop()
		select {
		case <-finished:
		case <-time.After(30 * time.Second): // a long feature extraction: its cache writes are atomic
		}
	}
	p.mu.Lock()
	n := len(p.overlay.all)
	p.mu.Unlock()
	closed := make(chan struct{})
	go func() {
		p.controls.Update(fmt.Sprintf(`<div class="flowers-playground-closed"><i>Playground closed (%s) after %d runs; the runs are in %s. Run the cell again to continue.</i></div>`,
			html.EscapeString(reason), n, html.EscapeString(filepath.Join(p.Settings.WorkDir(), "playground"))))
		close(closed)
	}()
	select { // the cell ends even if GoNB stopped answering
	case <-closed:
	case <-time.After(10 * time.Second):
	}
	return nil
}
