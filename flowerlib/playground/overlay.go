package playground

import (
	"fmt"
	"math"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

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
	// TTAAccuracy is the validation accuracy with test-time augmentation (Knobs.TTA; NaN before).
	TTAAccuracy float64
	Resumed     bool // continued a stopped run with the same knobs
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
// The loss is on a log scale, as charts.Curves': a validation loss of 100 early on would flatten
// the others to a line at 0. Each is wrapped in a figure of class flowers-playground-accuracy /
// -loss.
func (o *Overlay) Figures() (accuracy, loss *plots.Figure) {
	var acc, ls []plots.Series
	for _, r := range o.Runs() {
		c := r.color()
		acc = append(acc, plots.Series{Name: r.Name(), Y: r.History.Metric("val_accuracy"), Color: c},
			plots.Series{Name: fmt.Sprintf("#%d training", r.N), Y: r.History.Metric("accuracy"), Color: c, Dashed: true})
		ls = append(ls, plots.Series{Name: r.Name(), Y: r.History.Metric("val_loss"), Color: c},
			plots.Series{Name: fmt.Sprintf("#%d training", r.N), Y: r.History.Metric("loss"), Color: c, Dashed: true})
	}
	chart := plots.Chart{Title: "playground: validation accuracy (solid), training (dashed)", XLabel: "epoch", Width: 812, Height: 320}
	accuracy = plots.HStack("flowers-playground-accuracy", 0, plots.LineChart(chart, acc))
	chart.Title, chart.YLabel, chart.LogY = "playground: validation loss (solid), training (dashed)", charts.LogLossLabel, true
	loss = plots.HStack("flowers-playground-loss", 0, plots.LineChart(chart, ls))
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
		schedule := k.Schedule
		if schedule == "" {
			schedule = "constant"
		}
		rows = append(rows, []string{fmt.Sprintf("#%d", r.N), FormatLR(k.LearningRate), fmt.Sprint(k.Epochs), fmt.Sprint(k.BatchSize),
			k.Head, fmt.Sprint(k.Dropout), fmt.Sprint(k.Augment), schedule, fmt.Sprint(k.LabelSmoothing), fmt.Sprint(len(r.History)),
			f(last), f(r.TTAAccuracy), f(r.Best()), f(lastLoss), fmt.Sprintf("%.1f", r.Seconds), r.Status})
	}
	return nb.Table([]string{"run", "learning rate", "epochs", "batch", "head", "dropout", "augment", "schedule", "label smoothing",
		"epochs run", "val_accuracy", "with TTA", "best", "val_loss", "seconds", "status"}, rows)
}
