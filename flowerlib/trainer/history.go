package trainer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/pkg/errors"
)

// EpochStats is one epoch of History, with Keras' metric names.
type EpochStats struct {
	Epoch       int     `json:"epoch"` // 1-based
	Loss        float64 `json:"loss"`
	Accuracy    float64 `json:"accuracy"`
	ValLoss     float64 `json:"val_loss"`     // NaN without validation data
	ValAccuracy float64 `json:"val_accuracy"` // NaN without validation data
	Seconds     float64 `json:"seconds"`      // wall time of the epoch, validation included
	Step        int64   `json:"step"`         // global step at the end of the epoch
	// LR is the learning rate of the epoch's last step (NaN in histories written before it was
	// recorded); LRs and Beta1s are the rate and Adam's β1 of each of its steps when a
	// schedule moves them (Options.Schedule), as fastai's recorder keeps them.
	LR     float64   `json:"learning_rate"`
	LRs    []float64 `json:"lrs,omitempty"`
	Beta1s []float64 `json:"beta1s,omitempty"`
}

// Line formats the epoch as Keras' verbose=2 line (without the "Epoch i/n" prefix).
func (e EpochStats) Line() string {
	s := fmt.Sprintf("%.0fs - loss: %.4f - accuracy: %.4f", e.Seconds, e.Loss, e.Accuracy)
	if !math.IsNaN(e.ValLoss) {
		s += fmt.Sprintf(" - val_loss: %.4f - val_accuracy: %.4f", e.ValLoss, e.ValAccuracy)
	}
	return s
}

// epochJSON is EpochStats as JSON: validation figures are null when there was no validation.
type epochJSON struct {
	Epoch       int       `json:"epoch"`
	Loss        float64   `json:"loss"`
	Accuracy    float64   `json:"accuracy"`
	ValLoss     *float64  `json:"val_loss"`
	ValAccuracy *float64  `json:"val_accuracy"`
	Seconds     float64   `json:"seconds"`
	Step        int64     `json:"step"`
	LR          *float64  `json:"learning_rate,omitempty"`
	LRs         []float64 `json:"lrs,omitempty"`
	Beta1s      []float64 `json:"beta1s,omitempty"`
}

// MarshalJSON writes NaN (no validation) as null.
func (e EpochStats) MarshalJSON() ([]byte, error) {
	p := epochJSON{Epoch: e.Epoch, Loss: e.Loss, Accuracy: e.Accuracy, Seconds: e.Seconds, Step: e.Step,
		LRs: e.LRs, Beta1s: e.Beta1s}
	if !math.IsNaN(e.ValLoss) {
		p.ValLoss, p.ValAccuracy = &e.ValLoss, &e.ValAccuracy
	}
	if !math.IsNaN(e.LR) {
		p.LR = &e.LR
	}
	return json.Marshal(p)
}

// UnmarshalJSON reads null as NaN.
func (e *EpochStats) UnmarshalJSON(b []byte) error {
	var p epochJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = EpochStats{Epoch: p.Epoch, Loss: p.Loss, Accuracy: p.Accuracy, Seconds: p.Seconds, Step: p.Step,
		ValLoss: math.NaN(), ValAccuracy: math.NaN(), LR: math.NaN(), LRs: p.LRs, Beta1s: p.Beta1s}
	if p.LR != nil {
		e.LR = *p.LR
	}
	if p.ValLoss != nil {
		e.ValLoss = *p.ValLoss
	}
	if p.ValAccuracy != nil {
		e.ValAccuracy = *p.ValAccuracy
	}
	return nil
}

// History is the per-epoch record of a run, like Keras' History.history.
type History []EpochStats

// Metric returns one metric over the epochs: "loss", "accuracy", "val_loss", "val_accuracy"
// or "learning_rate" (the rate of each epoch's last step).
func (h History) Metric(name string) []float64 {
	out := make([]float64, len(h))
	for i, e := range h {
		switch name {
		case "loss":
			out[i] = e.Loss
		case "accuracy":
			out[i] = e.Accuracy
		case "val_loss":
			out[i] = e.ValLoss
		case "val_accuracy":
			out[i] = e.ValAccuracy
		case "learning_rate":
			out[i] = e.LR
		default:
			out[i] = math.NaN()
		}
	}
	return out
}

// CSV returns the history in Keras CSVLogger's layout: epoch,accuracy,loss,val_accuracy,val_loss
// (0-based epochs as Keras writes them), plus seconds and learning_rate (the rate of the
// epoch's last step, the column Keras 3 logs; empty when unknown), appended last so that
// readers of the earlier columns are unaffected. The per-step rates are in history.json.
func (h History) CSV() []byte {
	var b bytes.Buffer
	b.WriteString("epoch,accuracy,loss,val_accuracy,val_loss,seconds,learning_rate\n")
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 8, 64)
	}
	for _, e := range h {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%.2f,%s\n", e.Epoch-1, f(e.Accuracy), f(e.Loss), f(e.ValAccuracy), f(e.ValLoss), e.Seconds, f(e.LR))
	}
	return b.Bytes()
}

// HistoryFiles are the names Save writes in the run directory.
const (
	HistoryJSON = "history.json"
	HistoryCSV  = "history.csv"
)

// Save writes history.json and history.csv into runDir, atomically.
func (h History) Save(runDir string) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return errors.Wrap(err, "encoding history")
	}
	if err := atomicfile.WriteFile(filepath.Join(runDir, HistoryJSON), data, 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(runDir, HistoryCSV), h.CSV(), 0o644)
}

// LoadHistory reads runDir's history.json.
func LoadHistory(runDir string) (History, error) {
	path := filepath.Join(runDir, HistoryJSON)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Wrapf(err, "reading history (has the run in %q finished an epoch?)", runDir)
	}
	var h History
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, errors.Wrapf(err, "decoding %q", path)
	}
	return h, nil
}
