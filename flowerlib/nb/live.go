package nb

import (
	"fmt"
	"html"
	"math"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/janpfeifer/gonb/gonbui"
)

// Live is one output block of a cell that is replaced in place on every Update or Show
// (GoNB's updatable display, Jupyter's update_display_data): a progress line, curves that
// grow each epoch. The saved notebook keeps the last content. Outside a notebook both do
// nothing; the text fallbacks of the callers print instead.
type Live struct {
	id string
}

// NewLive returns a new live output block; it appears with the first Update or Show.
func NewLive() *Live { return &Live{id: "flowers-live-" + gonbui.UniqueId()} }

// Update replaces the block's content with the HTML fragment s.
func (l *Live) Update(s string) {
	if IsNotebook() {
		gonbui.UpdateHTML(l.id, s)
		Sync()
	}
}

// Show replaces the block's content with a figure (SVG and PNG, as Show does).
func (l *Live) Show(fig *plots.Figure) {
	if IsNotebook() {
		data, err := figureData(fig, l.id)
		Check(err)
		gonbui.SendData(data)
		Sync()
	}
}

// Progress is an io.Writer for flowerlib's terminal progress bars (decoding, features,
// downloads, prediction: anything with a Progress io.Writer option). In a notebook it shows
// one live line replaced in place as the bar redraws (at most every Interval), with the
// lines already finished above it; outside a notebook it passes everything to os.Stderr.
// Call Done when the step ends, to show its last state.
type Progress struct {
	Interval time.Duration // default 250 ms

	title string
	live  *Live
	mu    sync.Mutex
	done  []string
	cur   []byte
	last  time.Time
}

// NewProgress returns a progress block headed by title ("" for none).
func NewProgress(title string) *Progress {
	return &Progress{Interval: 250 * time.Millisecond, title: title, live: NewLive()}
}

// Progress returns a Progress that draws in this block.
func (l *Live) Progress() *Progress {
	return &Progress{Interval: 250 * time.Millisecond, live: l}
}

// ansi matches terminal colour and cursor sequences.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// Write takes terminal output: "\r" restarts the current line, "\n" finishes it.
func (p *Progress) Write(b []byte) (int, error) {
	if !IsNotebook() {
		return os.Stderr.Write(b)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.feed(b) || time.Since(p.last) >= p.Interval {
		p.render()
	}
	return len(b), nil
}

// feed takes b into the lines (the caller holds p.mu); it reports whether a line finished.
func (p *Progress) feed(b []byte) (finished bool) {
	for _, c := range b {
		switch c {
		case '\r':
			p.cur = p.cur[:0]
		case '\n':
			if line := strings.TrimSpace(ansi.ReplaceAllString(string(p.cur), "")); line != "" {
				p.done = append(p.done, line)
			}
			p.cur = p.cur[:0]
			finished = true
		default:
			p.cur = append(p.cur, c)
		}
	}
	return finished
}

// Done shows the final state (call it when the step is over).
func (p *Progress) Done() {
	if !IsNotebook() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.render()
}

// Lines returns the finished lines and the current one (tests, and Monitor).
func (p *Progress) Lines() (done []string, current string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.done...), strings.TrimSpace(ansi.ReplaceAllString(string(p.cur), ""))
}

func (p *Progress) render() {
	p.last = time.Now()
	p.live.Update(ProgressText(p.title, p.done, strings.TrimSpace(ansi.ReplaceAllString(string(p.cur), ""))))
}

// ProgressText is the HTML of a progress block: a title, the last finished lines, the live one.
func ProgressText(title string, done []string, cur string) string {
	const keep = 6
	var b strings.Builder
	b.WriteString(`<div class="flowers-progress" style="font-family:monospace;font-size:12px;white-space:pre-wrap">`)
	if title != "" {
		fmt.Fprintf(&b, "<b>%s</b>\n", html.EscapeString(title))
	}
	if len(done) > keep {
		fmt.Fprintf(&b, "… %d earlier lines\n", len(done)-keep)
		done = done[len(done)-keep:]
	}
	for _, l := range done {
		b.WriteString(html.EscapeString(l) + "\n")
	}
	b.WriteString(html.EscapeString(cur))
	b.WriteString(`</div>`)
	return b.String()
}

// Monitor shows training live in a notebook cell, in three blocks updated in place: a
// progress line (before training starts: the terminal bars of the steps before it, such
// as computing the frozen features; then the epoch, batch and batch metrics, at most every
// Interval), the loss and accuracy curves (train solid, validation dashed; a figure, so
// they survive a shared copy) and the Keras-style epoch table. Pass its OnStep and OnEpoch
// to trainer.Options and use it as the Progress writer. Outside a notebook it prints the
// epoch lines only (train's Progress writer already draws a terminal bar).
type Monitor struct {
	Title    string
	Epochs   int           // total epochs, for the progress bar
	Interval time.Duration // minimum time between step updates; default 500 ms
	// Banner, when set, is shown in the progress block until the curves appear, then on
	// them (e.g. "random weights: the accuracy means nothing").
	Banner string

	progress, curves, table *Live
	text                    *Progress // terminal output before the first step

	mu      sync.Mutex
	last    time.Time
	step    trainer.StepInfo
	history trainer.History
	start   time.Time
}

// NewMonitor returns a Monitor for a run of the given number of epochs. previous is the
// history already in the run directory (a resumed run; may be nil), drawn at once.
func NewMonitor(title string, epochs int, previous trainer.History) *Monitor {
	m := &Monitor{Title: title, Epochs: epochs, Interval: 500 * time.Millisecond,
		progress: NewLive(), curves: NewLive(), table: NewLive(),
		text: &Progress{Interval: 250 * time.Millisecond}, history: previous, start: time.Now()}
	m.text.live = m.progress
	if len(previous) > 0 {
		m.render(false, true)
	}
	return m
}

// Write shows terminal progress output (before training starts) in the progress block.
func (m *Monitor) Write(b []byte) (int, error) {
	if !IsNotebook() {
		return os.Stderr.Write(b)
	}
	m.text.mu.Lock()
	m.text.feed(b)
	m.text.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.step.Steps == 0 && time.Since(m.last) >= 250*time.Millisecond {
		m.last = time.Now()
		m.render(false, false)
	}
	return len(b), nil
}

// OnStep is a trainer.Options.OnStep callback.
func (m *Monitor) OnStep(s trainer.StepInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.step = s
	if time.Since(m.last) < m.Interval && s.Batch != s.Steps {
		return
	}
	m.last = time.Now()
	m.render(false, false)
}

// OnEpoch is a trainer.Options.OnEpoch callback.
func (m *Monitor) OnEpoch(h trainer.History) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.history = append(trainer.History(nil), h...)
	if !IsNotebook() && len(h) > 0 {
		e := h[len(h)-1]
		fmt.Fprintf(Out, "Epoch %d/%d - %s\n", e.Epoch, m.Epochs, e.Line())
	}
	m.render(false, true)
}

// Done draws the final state from h, the history Fit returned: the progress block becomes
// a one-line summary.
func (m *Monitor) Done(h trainer.History) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.history = append(trainer.History(nil), h...)
	m.render(true, true)
}

// render updates the progress block, and with figures also the curves and the table.
func (m *Monitor) render(done, figures bool) {
	if !IsNotebook() {
		return
	}
	var b strings.Builder
	if m.Title != "" {
		fmt.Fprintf(&b, `<div style="font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(m.Title))
	}
	if m.Banner != "" && len(m.history) == 0 { // then the curves carry it
		b.WriteString(BannerHTML(m.Banner))
	}
	switch {
	case done:
		b.WriteString(summaryHTML(m.history, time.Since(m.start)))
	case m.step.Steps == 0 && len(m.history) == 0:
		d, cur := m.text.Lines()
		b.WriteString(ProgressText("", d, cur))
	default:
		b.WriteString(StepProgress(m.step, m.Epochs, len(m.history), time.Since(m.start)))
	}
	m.progress.Update(b.String())
	if figures && len(m.history) > 0 {
		fig := charts.Curves(m.history)
		if m.Banner != "" {
			fig = plots.WithBanner(fig, m.Banner)
		}
		m.curves.Show(fig)
		m.table.Update(HistoryTable(m.history))
	}
}

// summaryHTML is the progress block's last state: epochs, time and the final metrics.
func summaryHTML(h trainer.History, elapsed time.Duration) string {
	if len(h) == 0 {
		return ""
	}
	e := h[len(h)-1]
	return fmt.Sprintf(`<div class="flowers-progress" style="font-family:monospace;font-size:12px">done: %d epochs (%s in this run) · val_accuracy %.4f · val_loss %.4f</div>`,
		e.Epoch, elapsed.Round(time.Second), e.ValAccuracy, e.ValLoss)
}

// StepProgress is the HTML of a progress bar over all steps of the run with the last batch's metrics.
func StepProgress(s trainer.StepInfo, epochs, epochsDone int, elapsed time.Duration) string {
	total := max(1, epochs*max(1, s.Steps))
	doneSteps := epochsDone * s.Steps
	if s.Epoch > epochsDone { // inside an epoch
		doneSteps = (s.Epoch-1)*s.Steps + s.Batch
	}
	label := "starting…"
	if s.Steps > 0 {
		label = fmt.Sprintf("epoch %d/%d · batch %d/%d · loss %.4f · accuracy %.4f · %s",
			s.Epoch, epochs, s.Batch, s.Steps, s.Loss, s.Accuracy, elapsed.Round(time.Second))
	}
	return fmt.Sprintf(`<div class="flowers-progress" style="font-family:monospace;font-size:12px">`+
		`<progress value="%d" max="%d" style="width:320px;vertical-align:middle"></progress> %s</div>`,
		min(doneSteps, total), total, html.EscapeString(label))
}

// HistoryTable returns h as an HTML table (epoch, loss, accuracy, val_loss, val_accuracy, seconds).
func HistoryTable(h trainer.History) string {
	rows := make([][]string, len(h))
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.4f", v)
	}
	for i, e := range h {
		rows[i] = []string{fmt.Sprint(e.Epoch), f(e.Loss), f(e.Accuracy), f(e.ValLoss), f(e.ValAccuracy), fmt.Sprintf("%.1f", e.Seconds)}
	}
	return Table([]string{"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}, rows)
}
