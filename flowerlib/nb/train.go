package nb

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// Config turns the settings into flowerlib/learner's run description, with progress going to
// progress (a terminal bar; nil in a notebook, where a Monitor shows it) and epoch lines to log.
func (s Settings) Config(progress, log io.Writer) (learner.Config, error) {
	s = s.Resolve(nil)
	dataProgress := progress
	if dataProgress == nil {
		dataProgress = os.Stderr
	}
	data, err := s.DataDir(dataProgress)
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
	s = s.Resolve(nil)
	var progress io.Writer
	var m *Monitor
	if IsNotebook() {
		previous, _ := trainer.LoadHistory(s.RunDir()) // a resumed run: draw what is there
		m = NewMonitor(fmt.Sprintf("training the %s head, %s mode", s.Head, s.Mode), s.Epochs, nil)
		m.Banner = s.Banner()
		if len(previous) > 0 {
			m.OnEpoch(previous)
		}
		progress = m // the steps before training (features) show in the monitor's progress line
	} else {
		progress = os.Stderr
	}
	cfg, err := s.Config(progress, os.Stdout)
	if err != nil {
		return nil, err
	}
	if m != nil {
		cfg.OnStep, cfg.OnEpoch = m.OnStep, m.OnEpoch
	}
	res, err := learner.Run(cfg, "")
	if err != nil {
		return nil, err
	}
	if m != nil {
		m.Done(res.History)
	}
	return res, nil
}

// Confusion returns the confusion-matrix heat-map of an evaluation report.
func Confusion(r *metrics.Report, title string) (*plots.Figure, error) {
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
// them with their true classes for PredictionGallery, with a live count in a notebook.
func ValidPredictions(m *learner.Model, n int) ([]Prediction, error) {
	si := m.Info.Split
	paths := si.Valid
	if n > 0 && n < len(paths) {
		paths = paths[:n]
	}
	live := NewLive()
	start := time.Now()
	var out []Prediction
	const chunk = 4
	for lo := 0; lo < len(paths); lo += chunk {
		live.Update(progressText("", nil, fmt.Sprintf("predicting validation photos: %d/%d", lo, len(paths))))
		preds, err := m.Predict(paths[lo:min(lo+chunk, len(paths))], 1)
		if err != nil {
			return nil, err
		}
		for i, p := range preds {
			if p.Err != "" || len(p.Top) == 0 {
				continue
			}
			out = append(out, Prediction{Path: p.Path, True: m.Info.Classes[si.ValidCodes[lo+i]],
				Predicted: p.Top[0].Class, Probability: p.Top[0].Probability})
		}
	}
	secs := time.Since(start).Seconds()
	live.Update(progressText("", nil, fmt.Sprintf("predicted %d validation photos in %.1fs (%.1f photos/s)", len(paths), secs, float64(len(paths))/max(secs, 1e-9))))
	return out, nil
}

// PhotoPrediction shows a photo (as the model sees it, size×size) beside the bar chart of
// its class probabilities, as one figure.
func PhotoPrediction(path string, size int, guesses []metrics.Guess) (*plots.Figure, error) {
	img, err := images.Load(path, size)
	if err != nil {
		return nil, err
	}
	// At least 170 pixels wide: room for a photo's file name under it.
	photo, err := plots.ImageGrid([]plots.Tile{{Image: Image(img), Caption: filepath.Base(path)}}, plots.GridOptions{Columns: 1, Thumb: max(size, 170), JPEG: true})
	if err != nil {
		return nil, err
	}
	return plots.HStack("flowers-photo-prediction", 12, photo, TopChart("prediction", guesses)), nil
}

// TopChart returns a bar chart of a photo's class probabilities (in percent).
func TopChart(title string, guesses []metrics.Guess) *plots.Figure {
	bars := make([]plots.Bar, len(guesses))
	for i, g := range guesses {
		bars[i] = plots.Bar{Label: g.Class, Value: float64(int(1000*g.Probability+0.5)) / 10}
	}
	return plots.BarChart(plots.Chart{Title: title, YLabel: "probability (%)", Width: 440, Height: 280, YMax: 100}, bars)
}
