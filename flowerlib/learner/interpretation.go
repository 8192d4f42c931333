package learner

import (
	"io"

	"github.com/flowerlib/flowers/flowerlib/metrics"
)

// Interpretation is a trained model's predictions on the validation photos, kept photo by
// photo: fastai's ClassificationInterpretation.from_learner. Report is what Evaluate returns
// (accuracy, confusion matrix, precision and recall); MostConfused and TopLosses say where the
// model goes wrong.
type Interpretation struct {
	Report *metrics.Report
	Paths  []string    // the validation photos evaluated (photos that cannot be decoded are left out)
	Labels []int32     // true class of each
	Probs  [][]float32 // [photo][class] probabilities
}

// Interpret evaluates the model on the run's validation split as Evaluate does (the cached
// features for a head, the photos through a fine-tuned model) and keeps every photo's result.
func (m *Model) Interpret(progress io.Writer) (*Interpretation, error) {
	r, paths, err := m.evaluate(progress)
	if err != nil {
		return nil, err
	}
	rep, err := report(r, m.Info.Classes)
	if err != nil {
		return nil, err
	}
	return &Interpretation{Report: rep, Paths: paths, Labels: r.Labels, Probs: r.Probs}, nil
}

// Interpret is Model().Interpret for the model being trained.
func (l *Learner) Interpret() (*Interpretation, error) { return l.Model().Interpret(l.Progress) }

// MostConfused returns the k (≤ 0: all) most frequent mistakes as (true, predicted, count),
// largest first: fastai's interp.most_confused().
func (in *Interpretation) MostConfused(k int) []metrics.Confused { return in.Report.MostConfused(k) }

// TopLoss is one of the model's worst predictions.
type TopLoss struct {
	Index           int     // in Interpretation's photos
	Path            string  // the photo
	Loss            float64 // −log p(true class), p clipped at 1e-7
	True, Predicted string  // class names
	Probability     float64 // of the predicted class
	ProbabilityTrue float64 // of the true class
}

// TopLosses returns the k (≤ 0: all) photos with the largest loss, largest first: the
// confident mistakes, then the right answers it was least sure of (fastai's
// interp.top_losses / plot_top_losses).
func (in *Interpretation) TopLosses(k int) []TopLoss {
	var out []TopLoss
	for _, l := range metrics.TopLosses(in.Labels, in.Probs, k) {
		out = append(out, TopLoss{Index: l.Index, Path: in.Paths[l.Index], Loss: l.Loss, True: in.Report.Classes[l.True],
			Predicted: in.Report.Classes[l.Predicted], Probability: l.Probability, ProbabilityTrue: float64(in.Probs[l.Index][l.True])})
	}
	return out
}
