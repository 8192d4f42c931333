package nb

import (
	"fmt"
	"html"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/janpfeifer/gonb/gonbui"
)

// Live is one output block of a cell that is replaced in place on every Update (GoNB's
// updatable display): a progress line, curves that grow each epoch. In nbconvert output
// the notebook keeps the last content. Outside a notebook Update does nothing; the text
// fallbacks of the callers print instead.
type Live struct {
	id string
}

// NewLive returns a new live output block; it appears with the first Update.
func NewLive() *Live { return &Live{id: "flowers-live-" + gonbui.UniqueId()} }

// Update replaces the block's content with the HTML fragment s.
func (l *Live) Update(s string) {
	if IsNotebook() {
		gonbui.UpdateHTML(l.id, s)
		Sync()
	}
}

// Monitor shows training live in a notebook cell: a progress bar with the current epoch,
// batch and batch metrics (updated at most every Interval), and after each epoch the
// loss and accuracy curves (train solid, validation dashed) and the Keras-style epoch
// lines. Pass its OnStep and OnEpoch to trainer.Options. Outside a notebook it prints the
// epoch lines only (train's Progress writer already draws a terminal bar).
type Monitor struct {
	Title    string
	Epochs   int           // total epochs, for the progress bar
	Interval time.Duration // minimum time between step updates; default 500 ms

	live    *Live
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
		live: NewLive(), history: previous, start: time.Now()}
	if len(previous) > 0 {
		m.render(false)
	}
	return m
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
	m.render(false)
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
	m.render(false)
}

// Done draws the final state (no progress bar) from h, the history Fit returned.
func (m *Monitor) Done(h trainer.History) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.history = append(trainer.History(nil), h...)
	m.render(true)
}

func (m *Monitor) render(done bool) {
	if !IsNotebook() {
		return
	}
	var b strings.Builder
	if m.Title != "" {
		fmt.Fprintf(&b, `<div style="font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(m.Title))
	}
	if !done {
		b.WriteString(progressHTML(m.step, m.Epochs, len(m.history), time.Since(m.start)))
	}
	if len(m.history) > 0 {
		b.WriteString(Curves(m.history))
		b.WriteString(HistoryTable(m.history))
	}
	m.live.Update(b.String())
}

// progressHTML is the progress bar over all steps of the run with the last batch's metrics.
func progressHTML(s trainer.StepInfo, epochs, epochsDone int, elapsed time.Duration) string {
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

// Curves returns the loss and accuracy charts of h side by side (HTML): training solid,
// validation dashed, one point per epoch.
func Curves(h trainer.History) string {
	loss := plots.LineChart(plots.Chart{Title: "loss", XLabel: "epoch", Width: 440, Height: 280}, []plots.Series{
		{Name: "loss", Y: h.Metric("loss"), Color: plots.Palette[0]},
		{Name: "val_loss", Y: h.Metric("val_loss"), Color: plots.Palette[1], Dashed: true},
	})
	acc := plots.LineChart(plots.Chart{Title: "accuracy", XLabel: "epoch", Width: 440, Height: 280}, []plots.Series{
		{Name: "accuracy", Y: h.Metric("accuracy"), Color: plots.Palette[0]},
		{Name: "val_accuracy", Y: h.Metric("val_accuracy"), Color: plots.Palette[1], Dashed: true},
	})
	return Row(loss, acc)
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
