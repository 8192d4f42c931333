// Package metrics evaluates a classifier's predictions: accuracy, mean cross-entropy loss,
// per-class precision and recall, and the confusion matrix (as data and as a text table), plus
// the top-k formatting used when predicting photos.
package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pkg/errors"
)

// Report is the evaluation of predictions against true labels.
type Report struct {
	Classes  []string `json:"classes"`
	N        int      `json:"n"`
	Accuracy float64  `json:"accuracy"`
	Loss     float64  `json:"loss"` // mean categorical cross-entropy of the probabilities
	// Confusion[t][p] counts examples of true class t predicted as p.
	Confusion [][]int   `json:"confusion"`
	Precision []float64 `json:"precision"` // per class; NaN when the class was never predicted
	Recall    []float64 `json:"recall"`    // per class; NaN when the class has no example
	Support   []int     `json:"support"`   // examples per true class
}

// Evaluate builds the Report of probabilities probs[i][class] against labels[i].
func Evaluate(classes []string, labels []int32, probs [][]float32) (*Report, error) {
	k := len(classes)
	if len(labels) != len(probs) {
		return nil, errors.Errorf("metrics.Evaluate: %d labels for %d predictions", len(labels), len(probs))
	}
	if len(labels) == 0 {
		return nil, errors.New("metrics.Evaluate: no examples")
	}
	r := &Report{Classes: classes, N: len(labels), Confusion: make([][]int, k)}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, k)
	}
	correct := 0
	var loss float64
	for i, p := range probs {
		t := int(labels[i])
		if len(p) != k || t < 0 || t >= k {
			return nil, errors.Errorf("metrics.Evaluate: example %d has label %d and %d probabilities for %d classes", i, t, len(p), k)
		}
		pred := ArgMax(p)
		r.Confusion[t][pred]++
		if pred == t {
			correct++
		}
		loss -= math.Log(math.Max(float64(p[t]), 1e-7)) // Keras clips probabilities to [1e-7, 1-1e-7]
	}
	r.Accuracy = float64(correct) / float64(r.N)
	r.Loss = loss / float64(r.N)
	r.Precision, r.Recall, r.Support = make([]float64, k), make([]float64, k), make([]int, k)
	for c := 0; c < k; c++ {
		var predicted, actual int
		for o := 0; o < k; o++ {
			predicted += r.Confusion[o][c]
			actual += r.Confusion[c][o]
		}
		r.Support[c] = actual
		r.Precision[c] = ratio(r.Confusion[c][c], predicted)
		r.Recall[c] = ratio(r.Confusion[c][c], actual)
	}
	return r, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// ArgMax returns the index of the largest value.
func ArgMax(p []float32) int {
	best := 0
	for j, v := range p {
		if v > p[best] {
			best = j
		}
	}
	return best
}

// ConfusionTable formats the confusion matrix: rows are true classes, columns predictions.
func (r *Report) ConfusionTable() string {
	w := len("true \\ predicted")
	for _, c := range r.Classes {
		w = max(w, len(c))
	}
	col := 6
	for _, c := range r.Classes {
		col = max(col, len(c)+1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s", w, "true \\ predicted")
	for _, c := range r.Classes {
		fmt.Fprintf(&b, " %*s", col, c)
	}
	b.WriteString("\n")
	for t, row := range r.Confusion {
		fmt.Fprintf(&b, "%-*s", w, r.Classes[t])
		for _, n := range row {
			fmt.Fprintf(&b, " %*d", col, n)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ClassTable formats per-class precision, recall and support.
func (r *Report) ClassTable() string {
	w := len("class")
	for _, c := range r.Classes {
		w = max(w, len(c))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-*s  %9s  %6s  %7s\n", w, "class", "precision", "recall", "support")
	f := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.3f", v)
	}
	for c, name := range r.Classes {
		fmt.Fprintf(&b, "%-*s  %9s  %6s  %7d\n", w, name, f(r.Precision[c]), f(r.Recall[c]), r.Support[c])
	}
	return b.String()
}

// String is the full text report: summary line, per-class table and confusion matrix.
func (r *Report) String() string {
	return fmt.Sprintf("%d examples: accuracy %.4f, loss %.4f\n\n%s\n%s", r.N, r.Accuracy, r.Loss,
		r.ClassTable(), r.ConfusionTable())
}

// Guess is one class with its probability.
type Guess struct {
	Class       string  `json:"class"`
	Probability float64 `json:"probability"`
}

// TopK returns the k most probable classes, most probable first.
func TopK(classes []string, probs []float32, k int) []Guess {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	k = min(k, len(idx))
	out := make([]Guess, k)
	for i := 0; i < k; i++ {
		out[i] = Guess{Class: classes[idx[i]], Probability: float64(probs[idx[i]])}
	}
	return out
}

// FormatTopK formats guesses as "rose 0.912, tulips 0.051, …".
func FormatTopK(g []Guess) string {
	parts := make([]string, len(g))
	for i, x := range g {
		parts[i] = fmt.Sprintf("%s %.3f", x.Class, x.Probability)
	}
	return strings.Join(parts, ", ")
}

// MarshalJSON writes NaN precision/recall (class never predicted / absent) as null.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	nullable := func(v []float64) []*float64 {
		out := make([]*float64, len(v))
		for i := range v {
			if !math.IsNaN(v[i]) {
				out[i] = &v[i]
			}
		}
		return out
	}
	return json.Marshal(struct {
		*plain
		Precision []*float64 `json:"precision"`
		Recall    []*float64 `json:"recall"`
	}{(*plain)(r), nullable(r.Precision), nullable(r.Recall)})
}

// Confused is one off-diagonal cell of a confusion matrix.
type Confused struct {
	True, Predicted string
	Count           int
}

// MostConfused returns the k largest off-diagonal counts of the confusion matrix, largest
// first (ties in class order), as fastai's ClassificationInterpretation.most_confused.
func (r *Report) MostConfused(k int) []Confused {
	var out []Confused
	for t, row := range r.Confusion {
		for p, c := range row {
			if t != p && c > 0 {
				out = append(out, Confused{True: r.Classes[t], Predicted: r.Classes[p], Count: c})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out
}

// Loss is one example's loss with its prediction.
type Loss struct {
	Index       int     // position in the evaluated examples
	Loss        float64 // −log p(true class)
	True        int32
	Predicted   int     // arg-max class
	Probability float64 // of the predicted class
}

// TopLosses returns the k examples with the largest cross-entropy −log p(true class), largest
// first: the model's worst mistakes (or least confident right answers), as fastai's
// top_losses. Probabilities are clipped at 1e-7, as Keras clips them.
func TopLosses(labels []int32, probs [][]float32, k int) []Loss {
	out := make([]Loss, len(labels))
	for i, y := range labels {
		p := probs[i]
		best := 0
		for j := range p {
			if p[j] > p[best] {
				best = j
			}
		}
		out[i] = Loss{Index: i, Loss: -math.Log(math.Max(float64(p[y]), 1e-7)), True: y, Predicted: best, Probability: float64(p[best])}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Loss > out[j].Loss })
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out
}
