package learner

import (
	"time"

	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// Result summarises a run: what `flowers train -json` prints and the notebook shows.
type Result struct {
	RunDir   string             `json:"run_dir"`
	Resumed  string             `json:"resumed_from,omitempty"`
	Steps    int64              `json:"steps"`
	Epochs   int                `json:"epochs"`
	History  trainer.History    `json:"history"`
	Final    trainer.EpochStats `json:"final"`
	Eval     *metrics.Report    `json:"eval,omitempty"`
	EvalTTA  *metrics.Report    `json:"eval_tta,omitempty"` // with test-time augmentation (Run.TTA)
	Seconds  float64            `json:"seconds"`
	Backend  string             `json:"backend"`
	Step     string             `json:"step"` // trainer.StepGraph or StepHost
	Head     HeadInfo           `json:"head"`
	Mode     string             `json:"mode"`
	Classes  []string           `json:"classes"`
	Stopped  string             `json:"stopped,omitempty"`
	Dropped  []features.Failure `json:"dropped,omitempty"` // photos left out: they cannot be decoded
	Features map[string]float64 `json:"features_seconds,omitempty"`
	// FineTune is the history of the fine-tuning phase, in RunDir/finetune.
	FineTune trainer.History `json:"fine_tune,omitempty"`
}

// Run trains as configured: New, Fit, then FineTune(cfg.FineTune) when it is set and the
// head has finished, then Evaluate once training is done. It is what `flowers train` does.
func Run(cfg Config) (*Result, error) {
	start := time.Now()
	l, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	res := &Result{RunDir: l.RunDir, Resumed: l.Trainer.Resumed, Backend: l.Backend.Name(), Step: l.Trainer.Step().Kind(),
		Head: l.Info.Head, Mode: l.Mode, Classes: l.Info.Classes, Dropped: l.Dropped, Features: l.FeatureSeconds}
	hist, err := l.Fit()
	if err != nil {
		return nil, err
	}
	st := l.Trainer.State
	res.History, res.Steps, res.Epochs, res.Stopped = hist, st.Step, len(hist), st.Stopped
	if len(hist) > 0 {
		res.Final = hist[len(hist)-1]
	}
	if !st.Done {
		res.Seconds = time.Since(start).Seconds()
		return res, nil // stopped early (MaxSteps): resume later
	}
	if stage := l.Config.Run.FineTune; stage != "" {
		if res.FineTune, err = l.FineTune(stage); err != nil {
			return nil, err
		}
		if !l.FineTuner.State.Done {
			res.Seconds = time.Since(start).Seconds()
			return res, nil
		}
	}
	if res.Eval, err = l.Evaluate(); err != nil {
		return nil, err
	}
	if l.TTA {
		r, err := l.Model().EvaluateTTA(l.Progress)
		if err != nil {
			return nil, err
		}
		res.EvalTTA = r.TTA
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
