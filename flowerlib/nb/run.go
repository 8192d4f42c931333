package nb

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// RandomBanner is what every result of random weights says on its pictures.
const RandomBanner = "random ResNet50 weights, not ImageNet's: this accuracy means nothing (see Weights in the settings cell)"

// Banner is the banner of a run's results: RandomBanner with random weights, else "".
func Banner(s config.Run) string {
	if s.Random() {
		return RandomBanner
	}
	return ""
}

// Result displays a figure of a run's results (Show), under Banner(s) when there is one.
func Result(s config.Run, fig *plots.Figure) {
	if b := Banner(s); b != "" {
		fig = plots.WithBanner(fig, b)
	}
	Show(fig)
}

// Learner is learner.New with the notebook's plumbing attached: the progress of the steps
// before training (scanning, the frozen features) shown in place, the log lines printed.
func Learner(cfg learner.Config) (*learner.Learner, error) {
	if cfg.Progress == nil {
		if IsNotebook() {
			cfg.Progress = NewProgress("")
		} else {
			cfg.Progress = os.Stderr
		}
	}
	if cfg.Log == nil {
		cfg.Log = saidOnce{Out}
	}
	return learner.New(cfg)
}

// noEpochLines drops the trainer's "Epoch 3/30 - …" lines (a Monitor's table shows them) and
// keeps its other lines: early stopping, restore-best, checkpoint warnings.
type noEpochLines struct{ w io.Writer }

func (n noEpochLines) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("Epoch ")) {
		return len(b), nil
	}
	return n.w.Write(b)
}

// saidOnce drops the log lines a notebook already says elsewhere: the random weights' warning
// (the settings cell says it, every result picture carries it).
type saidOnce struct{ w io.Writer }

func (s saidOnce) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("WARNING: random ResNet50 weights")) {
		return len(b), nil
	}
	return s.w.Write(b)
}

// Fit is l.Fit (Keras' model.fit) shown live in the cell: a progress line, the loss and
// accuracy curves and the epoch table, updated in place (a finished run draws its history at
// once). Outside a notebook it prints the epoch lines.
func Fit(l *learner.Learner) (trainer.History, error) {
	title := fmt.Sprintf("training the %s head on the base's %s output", l.HeadName, learner.HeadInput(l.Pooling))
	m := NewMonitor(title, l.Epochs, l.Trainer.State.History)
	m.Banner = Banner(l.Run)
	// The configuration's own callbacks (Config.OnStep, OnEpoch) still run, after the monitor's.
	// Outside a notebook the monitor only prints the epoch lines, which the trainer's Log
	// already prints when it has one.
	if onStep, onEpoch := l.Trainer.OnStep, l.Trainer.OnEpoch; IsNotebook() || l.Trainer.Log == nil {
		l.Trainer.OnStep = func(s trainer.StepInfo) {
			m.OnStep(s)
			if onStep != nil {
				onStep(s)
			}
		}
		l.Trainer.OnEpoch = func(h trainer.History) {
			m.OnEpoch(h)
			if onEpoch != nil {
				onEpoch(h)
			}
		}
	}
	if IsNotebook() { // the monitor shows the progress and the epochs: no terminal bar, no epoch lines
		l.Trainer.Progress = nil
		if l.Trainer.Log != nil {
			l.Trainer.Log = noEpochLines{l.Trainer.Log}
		}
	}
	h, err := l.Fit()
	if err != nil {
		return nil, err
	}
	m.Done(h)
	return h, nil
}

// ClassTable returns per-class precision, recall and support of r as an HTML table.
func ClassTable(r *metrics.Report) string {
	rows := make([][]string, len(r.Classes))
	pct := func(v float64) string {
		if v != v {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*v)
	}
	for i, c := range r.Classes {
		rows[i] = []string{c, pct(r.Precision[i]), pct(r.Recall[i]), fmt.Sprint(r.Support[i])}
	}
	return Table([]string{"class", "precision", "recall", "support"}, rows)
}

// ValidPredictions predicts the run's validation photos (up to n; n ≤ 0: all) and pairs
// them with their true classes for charts.PredictionGallery, with a live count in a notebook.
func ValidPredictions(m *learner.Model, n int) ([]charts.Prediction, error) {
	si := m.Info.Split
	paths := si.Valid
	if n > 0 && n < len(paths) {
		paths = paths[:n]
	}
	live := NewLive()
	start := time.Now()
	var out []charts.Prediction
	const chunk = 4
	for lo := 0; lo < len(paths); lo += chunk {
		live.Update(ProgressText("", nil, fmt.Sprintf("predicting validation photos: %d/%d", lo, len(paths))))
		preds, err := m.Predict(paths[lo:min(lo+chunk, len(paths))], 1)
		if err != nil {
			return nil, err
		}
		for i, p := range preds {
			if p.Err != "" || len(p.Top) == 0 {
				continue
			}
			out = append(out, charts.Prediction{Path: p.Path, True: m.Info.Classes[si.ValidCodes[lo+i]],
				Predicted: p.Top[0].Class, Probability: p.Top[0].Probability})
		}
	}
	secs := time.Since(start).Seconds()
	live.Update(ProgressText("", nil, fmt.Sprintf("predicted %d validation photos in %.1fs (%.1f photos/s)", len(paths), secs, float64(len(paths))/max(secs, 1e-9))))
	return out, nil
}
