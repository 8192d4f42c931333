package trainer

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Schedule kinds (Schedule.Kind).
const (
	// ScheduleConstant keeps Options.LearningRate (or what SetLearningRate set) and Keras'
	// β1 = 0.9 for the whole run: the article's way, and the default.
	ScheduleConstant = "constant"
	// ScheduleOneCycle is fastai's fit_one_cycle: the rate rises from LearningRate/Div to
	// LearningRate over the first PctStart of the steps and anneals to LearningRate/DivFinal,
	// both halves cosine; Adam's β1 moves the other way (Moms: 0.95 → 0.85 → 0.95).
	ScheduleOneCycle = "one_cycle"
	// ScheduleCosine is GoMLX's cosineschedule with one cycle over the run: a linear warm-up
	// from MinLR to LearningRate over WarmupSteps, then a cosine from LearningRate towards MinLR.
	ScheduleCosine = "cosine"
)

// fastai's fit_one_cycle defaults (fastai/callback/schedule.py) and Learner's moms
// (fastai/learner.py: moms=(0.95,0.85,0.95)).
const (
	OneCyclePctStart = 0.25
	OneCycleDiv      = 25.0
	OneCycleDivFinal = 1e5
)

// OneCycleMoms is fastai's default β1 (momentum) path of fit_one_cycle: start, middle, end.
var OneCycleMoms = [3]float64{0.95, 0.85, 0.95}

// Schedule says how the learning rate (and, for one-cycle, Adam's β1) moves over a Fit. It is a
// function of the global step only (At), so a run resumed from a checkpoint continues at the rate
// it would have had. The span is the whole run: Options.Epochs × steps per epoch; asking a
// finished run for more epochs stretches it (the rates of the new steps follow the new span).
// Zero fields take the defaults (the kind's constants above). Fit sets the rate before every
// step: with a schedule other than the constant one, Trainer.SetLearningRate's value holds only
// until the next step of Fit.
type Schedule struct {
	// Kind is ScheduleConstant (""), ScheduleOneCycle or ScheduleCosine.
	Kind string `json:"kind,omitempty"`

	// One-cycle: the fraction of the steps spent rising (fastai's pct_start, default 0.25),
	// the start rate LearningRate/Div (default 25), the final one LearningRate/DivFinal
	// (default 1e5), and β1's start, middle and end (fastai's moms, default 0.95, 0.85, 0.95).
	PctStart float64    `json:"pct_start,omitempty"`
	Div      float64    `json:"div,omitempty"`
	DivFinal float64    `json:"div_final,omitempty"`
	Moms     [3]float64 `json:"moms,omitzero"`

	// Cosine: the warm-up steps (GoMLX's WarmUpSteps, default 0) and the rate the warm-up
	// starts from and the cosine tends to (GoMLX's MinLearningRate, default 0).
	WarmupSteps int     `json:"warmup_steps,omitempty"`
	MinLR       float64 `json:"min_lr,omitempty"`
}

func (s Schedule) kind() string {
	if s.Kind == "" {
		return ScheduleConstant
	}
	return s.Kind
}

// withDefaults fills the zero fields of the kind in use.
func (s Schedule) withDefaults() Schedule {
	if s.kind() == ScheduleOneCycle {
		if s.PctStart == 0 {
			s.PctStart = OneCyclePctStart
		}
		if s.Div == 0 {
			s.Div = OneCycleDiv
		}
		if s.DivFinal == 0 {
			s.DivFinal = OneCycleDivFinal
		}
		if s.Moms == ([3]float64{}) {
			s.Moms = OneCycleMoms
		}
	}
	return s
}

// Validate reports a schedule that cannot be trained with, naming the field.
func (s Schedule) Validate() error {
	s = s.withDefaults()
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch s.kind() {
	case ScheduleConstant:
		return nil
	case ScheduleOneCycle:
		if !(s.PctStart >= 0 && s.PctStart <= 1) {
			return errors.Errorf("trainer: one-cycle pct_start must be in [0, 1], got %g", s.PctStart)
		}
		if !(s.Div > 0 && finite(s.Div)) || !(s.DivFinal > 0 && finite(s.DivFinal)) {
			return errors.Errorf("trainer: one-cycle div (%g) and div_final (%g) must be positive numbers", s.Div, s.DivFinal)
		}
		for _, m := range s.Moms {
			if !(m >= 0 && m < 1) {
				return errors.Errorf("trainer: one-cycle moms must be Adam β1 values in [0, 1), got %v", s.Moms)
			}
		}
		return nil
	case ScheduleCosine:
		if s.WarmupSteps < 0 || !(s.MinLR >= 0 && finite(s.MinLR)) {
			return errors.Errorf("trainer: cosine warmup_steps (%d) and min_lr (%g) must be ≥ 0", s.WarmupSteps, s.MinLR)
		}
		return nil
	}
	return errors.Errorf("trainer: unknown schedule %q (want %q, %q or %q)", s.Kind, ScheduleConstant, ScheduleOneCycle, ScheduleCosine)
}

// SchedulesBeta1 reports whether the schedule moves Adam's β1 (one-cycle does).
func (s Schedule) SchedulesBeta1() bool { return s.kind() == ScheduleOneCycle }

// At returns the learning rate and Adam's β1 of the update with 0-based index step out of
// total, for the peak rate lr (Options.LearningRate). Constant gives (lr, AdamBeta1).
func (s Schedule) At(lr float64, step, total int64) (rate, beta1 float64) {
	s = s.withDefaults()
	switch s.kind() {
	case ScheduleOneCycle:
		// fastai's pct_train: the fraction of the training done before this batch
		// (TrainEvalCallback in fastai/callback/core.py), in float64.
		pos := float64(step) / float64(total)
		rate = CombinedCos(s.PctStart, lr/s.Div, lr, lr/s.DivFinal, pos)
		beta1 = CombinedCos(s.PctStart, s.Moms[0], s.Moms[1], s.Moms[2], pos)
		return rate, beta1
	case ScheduleCosine:
		return CosineWarmup(lr, s.MinLR, s.WarmupSteps, step, total), AdamBeta1
	}
	return lr, AdamBeta1
}

// SchedCos is fastai's sched_cos (fastai/callback/schedule.py): a half cosine from start
// (pos = 0) to end (pos = 1): start + (1 + cos(π(1−pos)))·(end−start)/2.
func SchedCos(start, end, pos float64) float64 {
	return start + (1+math.Cos(math.Pi*(1-pos)))*(end-start)/2
}

// CombinedCos is fastai's combined_cos(pct, start, middle, end) evaluated at pos in [0, 1]
// (fastai/callback/schedule.py, through combine_scheds([pct, 1-pct], [SchedCos(start, middle),
// SchedCos(middle, end)])): SchedCos from start to middle over [0, pct), then from middle to
// end over [pct, 1]. fit_one_cycle uses it for the rate (lr/div, lr, lr/div_final) and for
// the momentum (moms).
func CombinedCos(pct, start, middle, end, pos float64) float64 {
	// combine_scheds picks the last segment whose start is ≤ pos (so pct = 0 skips the first).
	if pos < pct {
		return SchedCos(start, middle, pos/pct)
	}
	if pct >= 1 { // no annealing: pos = 1 ends the rise (fastai divides 0 by 0 there; Fit never asks)
		return SchedCos(start, middle, pos/pct)
	}
	return SchedCos(middle, end, (pos-pct)/(1-pct))
}

// CosineWarmup is what GoMLX's cosineschedule computes (ml/train/optimizer/cosineschedule,
// Config.Done, GoMLX v0.28.2) with LearningRate(lr), MinLearningRate(minLR),
// WarmUpSteps(warmup) and PeriodSteps(total−warmup), at the 0-based step: during the warm-up
// minLR + step/warmup·(lr−minLR) (so the first step runs at minLR, 0 by default, as GoMLX's);
// then minLR + (1+cos(π·c))/2·(lr−minLR) with c the fraction of the period done.
// TestCosineMatchesGoMLX runs GoMLX's graph version against it. It is also Keras'
// CosineDecay(initial_learning_rate=minLR, decay_steps=total−warmup, alpha=minLR/lr,
// warmup_target=lr, warmup_steps=warmup) (tools/keras).
func CosineWarmup(lr, minLR float64, warmup int, step, total int64) float64 {
	s, w := float64(step), float64(warmup)
	if warmup > 0 && s < w {
		return minLR + s/w*(lr-minLR)
	}
	c := (s - w) / (float64(total) - w)
	c -= math.Floor(c) // GoMLX restarts after a period; one period spans the run here
	return minLR + (1+math.Cos(math.Pi*c))/2*(lr-minLR)
}

// Beta1Var is the Store variable (float64 scalar) Adam reads β1 from when the schedule moves it
// (Schedule.SchedulesBeta1); the trainer sets it before every step. Under AdamScope, so
// restore-best and Adam's Clear treat it as optimizer state.
const Beta1Var = "/" + AdamScope + "/beta1"

// beta1 returns the β1 of the next update: AdamBeta1 unless the schedule moves it.
func (t *Trainer) beta1() float64 {
	if !t.Schedule.SchedulesBeta1() {
		return AdamBeta1
	}
	if v := t.Store.GetVariable(Beta1Var); v != nil && v.HasValue() {
		return tensors.ToScalar[float64](v.MustValue())
	}
	return AdamBeta1
}

// setBeta1 sets the Store's β1 for the next updates (created when missing).
func setBeta1(store *model.Store, b1 float64) error {
	val := tensors.FromScalar(b1)
	if v := store.GetVariable(Beta1Var); v != nil {
		if v.DType() != dtypes.Float64 {
			return errors.Errorf("trainer: %s is %s, want float64", Beta1Var, v.DType())
		}
		return v.SetValue(val)
	}
	v, err := store.CreateVariable(Beta1Var, val)
	if err != nil {
		return err
	}
	v.SetTrainable(false)
	return nil
}

// initSchedule runs in New: a schedule that moves β1 gets its Store variable at once (Keras'
// β1 until Fit sets the scheduled one), so that FindLR's snapshot holds it and graph and host
// steps read the same value from the first update.
func (t *Trainer) initSchedule() error {
	if !t.Schedule.SchedulesBeta1() {
		return nil
	}
	if v := t.Store.GetVariable(Beta1Var); v != nil && v.HasValue() {
		return nil // resumed: Fit sets the scheduled value before the next step
	}
	return setBeta1(t.Store, AdamBeta1)
}

// scheduleStep sets the learning rate (and β1) of the update about to run, the schedule's
// value at the global step, and records it for the epoch's History row. steps is the number of
// steps per epoch.
func (t *Trainer) scheduleStep(steps int) error {
	st := &t.State
	if t.Schedule.kind() == ScheduleConstant {
		st.EpochLRs = nil
		return nil
	}
	total := int64(steps) * int64(t.Epochs)
	lr, b1 := t.Schedule.At(t.LearningRate, st.Step, total)
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return errors.Errorf("trainer: the %s schedule gives learning rate %g at step %d of %d", t.Schedule.kind(), lr, st.Step, total)
	}
	if err := t.step.SetLearningRate(lr); err != nil {
		return err
	}
	st.LR = lr
	// A step that failed and is retried replaces its entry.
	st.EpochLRs = append(st.EpochLRs[:min(len(st.EpochLRs), st.StepInEpoch)], lr)
	if t.Schedule.SchedulesBeta1() {
		if err := setBeta1(t.Store, b1); err != nil {
			return err
		}
		st.EpochBeta1s = append(st.EpochBeta1s[:min(len(st.EpochBeta1s), st.StepInEpoch)], b1)
	}
	return nil
}

// closeEpochSchedule moves the epoch's per-step rates into its History row.
func (t *Trainer) closeEpochSchedule(es *EpochStats) {
	st := &t.State
	es.LR = st.LR
	es.LRs, es.Beta1s = st.EpochLRs, st.EpochBeta1s
	st.EpochLRs, st.EpochBeta1s = nil, nil
}

// validateRecipes checks the fine-tuning options of Options (schedule, groups, loss).
func (o Options) validateRecipes() error {
	if err := o.Schedule.Validate(); err != nil {
		return err
	}
	if err := o.LRGroups.Validate(); err != nil {
		return err
	}
	return o.validateLoss()
}
