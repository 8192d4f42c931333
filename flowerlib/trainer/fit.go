package trainer

// The epoch loop of Fit: the order of the examples, the steps of an epoch, the end of an
// epoch (validation, History, best epoch, early stopping, checkpoint) and of the run.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// Permutation returns the shuffled example order of an epoch: a function of (seed, epoch)
// only, so a resumed run sees the same order.
func Permutation(seed int64, epoch, n int) []int {
	return rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+1)).Perm(n)
}

// StepsPerEpoch is Keras' ceil(n/batch).
func StepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

// Fit trains on train, validating on valid (may be nil) after each epoch, from the current
// state (a resumed run continues where its checkpoint left off) up to Options.Epochs (a
// finished run asked for more epochs trains them). It returns the history.
func (t *Trainer) Fit(train, valid Data) (History, error) {
	// Finished mirrors the two checks below.
	n := train.Len()
	if n == 0 {
		return nil, errors.New("trainer: no training examples")
	}
	st := &t.State
	if st.Done && st.Epoch < t.Epochs && st.Stopped == "" {
		st.Done = false // more epochs asked of a finished run
	}
	if st.Done {
		return st.History, nil
	}
	steps := StepsPerEpoch(n, t.BatchSize)
	stepsThisCall := 0
	t.stop = false
	for st.Epoch < t.Epochs && !t.stop {
		epoch := st.Epoch
		perm := Permutation(t.Seed, epoch, n)
		bar := t.newBar(steps, epoch)
		for st.StepInEpoch < steps && !t.stop {
			if t.MaxSteps > 0 && stepsThisCall >= t.MaxSteps {
				return st.History, nil
			}
			s := st.StepInEpoch
			idx := perm[s*t.BatchSize : min((s+1)*t.BatchSize, n)]
			if err := t.scheduleStep(steps); err != nil {
				return st.History, err
			}
			start := time.Now()
			loss, correct, err := t.TrainStep(train, idx, epoch)
			if err != nil {
				return st.History, err
			}
			secs := time.Since(start).Seconds()
			stepsThisCall++
			st.Step++
			st.StepInEpoch++
			st.SumLoss += loss * float64(len(idx))
			st.SumCorrect += correct
			st.SumCount += len(idx)
			st.EpochSecs += secs
			if bar != nil {
				bar.Describe(fmt.Sprintf("Epoch %d/%d loss %.4f acc %.4f", epoch+1, t.Epochs,
					st.SumLoss/float64(st.SumCount), st.SumCorrect/float64(st.SumCount)))
				_ = bar.Add(1)
			}
			if t.OnStep != nil {
				t.OnStep(StepInfo{Step: st.Step, Epoch: epoch + 1, Batch: s + 1, Steps: steps, Loss: loss,
					Accuracy: correct / float64(len(idx)), LR: st.LR, Seconds: secs})
			}
			if t.CheckpointSteps > 0 && st.Step%int64(t.CheckpointSteps) == 0 && st.StepInEpoch < steps {
				if err := t.SaveCheckpoint(); err != nil {
					return st.History, err
				}
			}
		}
		if bar != nil {
			_ = bar.Finish()
		}
		if st.StepInEpoch < steps { // stopped mid-epoch (Stop from OnStep)
			return st.History, t.SaveCheckpoint()
		}
		if err := t.endEpoch(epoch, valid); err != nil {
			return st.History, err
		}
	}
	return st.History, nil
}

func (t *Trainer) newBar(steps, epoch int) *progressbar.ProgressBar {
	if t.Progress == nil {
		return nil
	}
	bar := progressbar.NewOptions(steps, progressbar.OptionSetWriter(t.Progress),
		progressbar.OptionSetDescription(fmt.Sprintf("Epoch %d/%d", epoch+1, t.Epochs)),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	_ = bar.Set(t.State.StepInEpoch)
	return bar
}

// endEpoch validates, records the epoch, applies early stopping and writes the checkpoint
// and history.
func (t *Trainer) endEpoch(epoch int, valid Data) error {
	st := &t.State
	es := EpochStats{Epoch: epoch + 1, Loss: st.SumLoss / float64(st.SumCount),
		Accuracy: st.SumCorrect / float64(st.SumCount), ValLoss: math.NaN(), ValAccuracy: math.NaN()}
	if valid != nil && valid.Len() > 0 {
		start := time.Now()
		r, err := t.Evaluate(valid)
		if err != nil {
			return err
		}
		es.ValLoss, es.ValAccuracy = r.Loss, r.Accuracy
		st.EpochSecs += time.Since(start).Seconds()
	}
	es.Seconds, es.Step = st.EpochSecs, st.Step
	t.closeEpochSchedule(&es)
	st.History = append(st.History, es)
	t.logf("Epoch %d/%d - %s\n", epoch+1, t.Epochs, es.Line())
	if err := t.trackBest(es); err != nil {
		return err
	}
	st.Epoch++
	st.StepInEpoch, st.SumLoss, st.SumCorrect, st.SumCount, st.EpochSecs = 0, 0, 0, 0, 0
	if st.Epoch >= t.Epochs || t.stop {
		if err := t.finish(); err != nil {
			return err
		}
	}
	if err := t.SaveCheckpoint(); err != nil {
		return err
	}
	if err := st.History.Save(t.RunDir); err != nil {
		return err
	}
	if t.OnEpoch != nil {
		t.OnEpoch(st.History)
	}
	return nil
}

// Stop asks Fit to end: after the current step when called from OnStep (the position is
// checkpointed, a later Fit continues), after the epoch when called from OnEpoch.
func (t *Trainer) Stop() { t.stop = true }

// bestPath is the checkpoint with the weights of the best epoch (RestoreBest).
func (t *Trainer) bestPath() string { return filepath.Join(t.RunDir, BestCheckpoint) }

// trackBest updates the best epoch, saves its weights for RestoreBest and applies early stopping.
func (t *Trainer) trackBest(es EpochStats) error {
	st := &t.State
	value := es.ValLoss
	if t.Monitor == "val_accuracy" {
		value = es.ValAccuracy
	}
	if math.IsNaN(value) {
		return nil
	}
	better := st.BestEpoch == 0 || (t.Monitor == "val_accuracy" && value > st.BestValue) ||
		(t.Monitor == "val_loss" && value < st.BestValue)
	if better {
		st.BestEpoch, st.BestValue = es.Epoch, value
		if t.RestoreBest {
			if err := t.writeCheckpoint(t.bestPath()); err != nil {
				return err
			}
		}
	}
	if t.EarlyStopping > 0 && es.Epoch-st.BestEpoch >= t.EarlyStopping {
		st.Stopped = fmt.Sprintf("early stopping: %s did not improve for %d epochs (best %.4f at epoch %d)",
			t.Monitor, t.EarlyStopping, st.BestValue, st.BestEpoch)
		t.logf("%s\n", st.Stopped)
		t.stop = true
	}
	return nil
}

// finish marks the run done, restoring the best weights when asked.
func (t *Trainer) finish() error {
	st := &t.State
	if t.RestoreBest && st.BestEpoch > 0 && st.BestEpoch != st.Epoch {
		if err := t.loadWeightsFrom(t.bestPath()); err != nil {
			return err
		}
		t.logf("restored the weights of epoch %d (best %s %.4f)\n", st.BestEpoch, t.Monitor, st.BestValue)
	}
	st.Done = true
	return nil
}
