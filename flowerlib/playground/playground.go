package playground

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
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
// notebook (nb.NoBrowser: nbconvert, papermill; $FLOWERS_HEADLESS=0 skips that check), or when no
// browser answers the widgets within ConnectTimeout — Run trains once with the settings'
// values, shows the same figures and says that the widgets need a browser.
type Playground struct {
	// Config is the run the knobs change: the settings, and the head, loss and optimizer of the
	// training cell.
	Config  learner.Config
	Keep    int           // runs overlaid; default 4
	Timeout time.Duration // the cell ends after this long without a touch; default 10 min ($FLOWERS_PLAYGROUND_TIMEOUT)
	// ConnectTimeout bounds the wait for the browser to answer the widgets; default 40 s.
	ConnectTimeout time.Duration
	Copies         int // augmented copies per strength (Augment > 0); default 2

	overlay                                Overlay
	controls, status, accFig, lossFig, tbl *nb.Live
	mu                                     sync.Mutex // overlay, the blocks, lastDraw
	lastDraw                               time.Time
	stop                                   atomic.Bool
}

// New returns the playground of a run's configuration (the training cell's: settings, head,
// loss, optimizer), reading $FLOWERS_PLAYGROUND_TIMEOUT.
func New(cfg learner.Config) *Playground {
	cfg.Run = cfg.Run.Resolve(nil)
	p := &Playground{Config: cfg, Keep: 4, Timeout: 10 * time.Minute, ConnectTimeout: 40 * time.Second, Copies: 2}
	if v := os.Getenv(PlaygroundTimeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			nb.Check(errors.Errorf("$%s=%q: want a duration such as 90s or 10m", PlaygroundTimeoutEnv, v))
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
	p.controls, p.status, p.accFig, p.lossFig, p.tbl = nb.NewLive(), nb.NewLive(), nb.NewLive(), nb.NewLive(), nb.NewLive()
	p.overlay.Keep = p.Keep
}

// RunDir is the run folder of a knob setting: <Work>/playground/<the run's name>-e<epochs>,
// the head's fingerprint in the name.
func (p *Playground) RunDir(k Knobs) (string, error) {
	cfg := k.apply(p.Config)
	info, err := learner.DescribeHead(cfg)
	if err != nil {
		return "", err
	}
	name := cfg.Name(info.Name+"-"+info.Fingerprint[:6]) + fmt.Sprintf("-e%d", k.Epochs)
	if k.Augment > 0 {
		name += fmt.Sprintf("-copies%d", p.copies())
	}
	work, err := cfg.WorkDir()
	return filepath.Join(work, "playground", name), err
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
	r := &PlayRun{N: len(p.overlay.all) + 1, Knobs: k, Status: "training", TTAAccuracy: math.NaN()}
	p.overlay.Add(r)
	p.mu.Unlock()
	st := &runStatus{live: p.status, run: r, start: start, text: p.status.Progress()}
	st.live.Update(st.head() + nb.ProgressText("", nil, "starting…")) // first: the status shows above the figures
	p.draw(true)                                                      // the new run's legend entry at once
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
	if !nb.IsNotebook() {
		fmt.Fprintf(nb.Out, "playground run %s: %s, %d epochs, best val_accuracy %.4f, %.1fs\n", r.Name(), r.Status, len(r.History), r.Best(), r.Seconds)
	}
	return r, err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (p *Playground) train(r *PlayRun, st *runStatus) error {
	dir, err := p.RunDir(r.Knobs)
	if err != nil {
		return err
	}
	r.RunDir = dir
	cfg := r.Knobs.apply(p.Config)
	cfg.RunDir, cfg.Progress, cfg.Log = dir, st.text, st.text
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
	stopped := err == nil && !l.Trainer.State.Done || p.stop.Load() && len(h) < r.Knobs.Epochs
	if stopped {
		r.Status = "stopped"
	}
	p.mu.Unlock()
	if err != nil || stopped || !r.Knobs.TTA {
		return err
	}
	return p.evaluateTTA(l, r, st)
}

// evaluateTTA scores a finished run with test-time augmentation too (learner.Model.EvaluateTTA).
func (p *Playground) evaluateTTA(l *learner.Learner, r *PlayRun, st *runStatus) error {
	rep, err := l.Model().EvaluateTTA(st.text)
	if err != nil {
		return err
	}
	p.mu.Lock()
	r.TTAAccuracy = rep.TTA.Accuracy
	p.mu.Unlock()
	return nil
}

// draw redraws the figures and the table (at most every 300 ms unless final).
func (p *Playground) draw(final bool) {
	if !nb.IsNotebook() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !final && time.Since(p.lastDraw) < 300*time.Millisecond {
		return
	}
	p.lastDraw = time.Now()
	acc, loss := p.overlay.Figures()
	if b := nb.Banner(p.Config.Run); b != "" {
		acc, loss = plots.WithBanner(acc, b), plots.WithBanner(loss, b)
	}
	p.accFig.Show(acc)
	p.lossFig.Show(loss)
	p.tbl.Update(p.overlay.Table())
}

// runStatus draws a run's progress line: the terminal output of the steps before training
// (features), then the epoch and batch, then a summary.
type runStatus struct {
	live  *nb.Live
	run   *PlayRun
	start time.Time
	text  *nb.Progress
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
	s.live.Update(s.head() + nb.StepProgress(si, s.run.Knobs.Epochs, epochsDone, time.Since(s.start)))
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
	knobs := KnobsOf(p.Config)
	why := ""
	switch {
	case !nb.IsNotebook():
		why = "this is not a notebook"
	case os.Getenv(HeadlessEnv) == "1":
		why = "$" + HeadlessEnv + "=1"
	case os.Getenv(HeadlessEnv) != "0": // 0: wait for a browser whatever Jupyter says
		why = nb.NoBrowser() // nbconvert, papermill, an editor's kernel, no page open
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
		if nb.IsNotebook() {
			p.controls.Update(fmt.Sprintf(`<div class="flowers-playground-closed"><i>%s</i></div>`, html.EscapeString(msg)))
		} else {
			fmt.Fprintln(nb.Out, msg)
		}
		_, err := p.Train(knobs)
		return err
	}
	return p.interact(w, knobs)
}

// folder is where the playground's runs are.
func (p *Playground) folder() string {
	work, _ := p.Config.WorkDir()
	return filepath.Join(work, "playground")
}
