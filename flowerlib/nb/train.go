package nb

import (
	"fmt"
	"io"
	"os"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// Config turns the settings into flowerlib/learner's run description, with progress going to
// progress (a terminal bar; nil in a notebook, where a Monitor shows it) and epoch lines to log.
func (s Settings) Config(progress, log io.Writer) (learner.Config, error) {
	s = s.Defaults()
	data, err := s.DataDir(os.Stderr)
	if err != nil {
		return learner.Config{}, err
	}
	cfg := learner.Config{
		Data: data, Weights: s.WeightsSpec(), RunDir: s.RunDir(), CacheDir: s.CacheDir(),
		Mode: s.Mode, ImageSize: s.ImageSize, Backend: s.Backend,
		Config:  head.Config{Kind: head.Kind(s.Head), Dropout: s.Dropout},
		Options: trainer.Options{Epochs: s.Epochs, BatchSize: s.BatchSize, LearningRate: s.LearningRate, Seed: s.Seed, Progress: progress, Log: log},
	}
	if s.Mode == learner.ModeAugment {
		aug := Augmentation(s.Augment, s.Seed)
		if err := aug.Validate(); err != nil {
			return cfg, err
		}
		cfg.Augment = &aug
	}
	return cfg, nil
}

// Train runs (or resumes) the training the settings describe, showing live progress and
// curves in the cell, and returns the result; outside a notebook it prints a progress bar and
// the epoch lines.
func (s Settings) Train() (*learner.Result, error) {
	s = s.Defaults()
	var progress io.Writer
	if !IsNotebook() {
		progress = os.Stderr
	}
	cfg, err := s.Config(progress, os.Stdout)
	if err != nil {
		return nil, err
	}
	previous, _ := trainer.LoadHistory(cfg.RunDir) // a resumed run: draw what is there
	m := NewMonitor(fmt.Sprintf("training the %s head, %s mode", s.Head, s.Mode), s.Epochs, previous)
	cfg.OnStep, cfg.OnEpoch = m.OnStep, m.OnEpoch
	if !IsNotebook() {
		cfg.OnEpoch = nil // the trainer's Log already prints the epoch lines
	}
	res, err := learner.Run(cfg, "")
	if err != nil {
		return nil, err
	}
	m.Done(res.History)
	return res, nil
}

// Confusion returns the confusion-matrix heat-map of an evaluation report.
func Confusion(r *metrics.Report, title string) (string, error) {
	return plots.ConfusionMatrix(title, r.Classes, r.Confusion)
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
// them with their true classes for PredictionGallery.
func ValidPredictions(m *learner.Model, n int) ([]Prediction, error) {
	si := m.Info.Split
	paths := si.Valid
	if n > 0 && n < len(paths) {
		paths = paths[:n]
	}
	preds, err := m.Predict(paths, 1)
	if err != nil {
		return nil, err
	}
	var out []Prediction
	for i, p := range preds {
		if p.Err != "" || len(p.Top) == 0 {
			continue
		}
		out = append(out, Prediction{Path: p.Path, True: m.Info.Classes[si.ValidCodes[i]],
			Predicted: p.Top[0].Class, Probability: p.Top[0].Probability})
	}
	return out, nil
}

// TopChart returns a bar chart of a photo's class probabilities (in percent).
func TopChart(title string, guesses []metrics.Guess) string {
	bars := make([]plots.Bar, len(guesses))
	for i, g := range guesses {
		bars[i] = plots.Bar{Label: g.Class, Value: float64(int(1000*g.Probability+0.5)) / 10}
	}
	return plots.BarChart(plots.Chart{Title: title, YLabel: "probability (%)", Width: 440, Height: 280, YMax: 100}, bars)
}
