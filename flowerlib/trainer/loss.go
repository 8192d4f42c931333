package trainer

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// CrossEntropy returns Keras' categorical cross-entropy of the logits (from_logits=True) with
// label smoothing ls and per-class weights (nil: none), for int32 labels [batch]:
//
//	y_ik = onehot_ik·(1−ls) + ls/K    (tf-keras categorical_crossentropy's _smooth_labels)
//	l_i  = −Σ_k y_ik·log softmax(z_i)_k
//	loss = Σ_i w[label_i]·l_i / B      (B = batch size)
//
// The weights are Keras' fit(class_weight=…): tf-keras 2.21 turns them into sample weights
// (engine/data_adapter.py, _make_class_weight_map_fn) and its SUM_OVER_BATCH_SIZE reduction
// divides the weighted sum by the batch size, not by the sum of the weights
// (utils/losses_utils.py, reduce_weighted_loss); Keras 3's default reduction does the same.
// tools/keras checks both against tf-keras. The sum is GoMLX's CategoricalCrossEntropyLogits
// with the weights as its extra label. ls = 0 and no weights is SparseCrossEntropy.
func CrossEntropy(ls float64, classWeights []float64) LossFn {
	if ls == 0 && classWeights == nil {
		return SparseCrossEntropy
	}
	return func(logits, labels *graph.Node) *graph.Node {
		g := logits.Graph()
		k := logits.Shape().Dimensions[logits.Rank()-1]
		y := graph.OneHot(graph.ConvertDType(labels, dtypes.Int32), k, logits.DType())
		if ls != 0 {
			y = graph.AddScalar(graph.MulScalar(y, 1-ls), ls/float64(k))
		}
		extras := []*graph.Node{y}
		if classWeights != nil {
			if len(classWeights) != k {
				exceptions.Panicf("trainer.CrossEntropy: %d class weights for a model with %d classes", len(classWeights), k)
			}
			w := graph.ConvertDType(graph.Const(g, classWeights), logits.DType())
			extras = append(extras, graph.Gather(w, graph.InsertAxes(graph.ConvertDType(labels, dtypes.Int32), -1)))
		}
		return loss.CategoricalCrossEntropyLogits(extras, []*graph.Node{logits})
	}
}

// ClassCounts returns how many of labels fall in each of k classes.
func ClassCounts(labels []int32, k int) []int {
	out := make([]int, k)
	for _, y := range labels {
		if y >= 0 && int(y) < k {
			out[y]++
		}
	}
	return out
}

// BalancedClassWeights returns scikit-learn's compute_class_weight('balanced'): n_samples /
// (n_classes · count_c) for each class c, from the class counts of the training data. A class
// with no example is an error naming it (scikit-learn refuses it too).
func BalancedClassWeights(counts []int) ([]float64, error) {
	n := 0
	for c, m := range counts {
		if m <= 0 {
			return nil, errors.Errorf("trainer: class %d has no training example: balanced class weights need every class", c)
		}
		n += m
	}
	out := make([]float64, len(counts))
	for c, m := range counts {
		out[c] = float64(n) / (float64(len(counts)) * float64(m))
	}
	return out, nil
}

// ImbalanceRatio is how many times larger the largest class may be than the smallest before
// ImbalanceWarning speaks.
const ImbalanceRatio = 3.0

// ImbalanceWarning returns a one-line warning when the largest class has more than
// ImbalanceRatio times the examples of the smallest (classes names them; counts from
// ClassCounts), naming both and the way out; "" otherwise.
func ImbalanceWarning(classes []string, counts []int) string {
	if len(counts) < 2 {
		return ""
	}
	idx := make([]int, len(counts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return counts[idx[a]] < counts[idx[b]] })
	lo, hi := idx[0], idx[len(idx)-1]
	name := func(c int) string {
		if c < len(classes) {
			return classes[c]
		}
		return fmt.Sprint("class ", c)
	}
	if counts[lo] > 0 && float64(counts[hi]) <= ImbalanceRatio*float64(counts[lo]) {
		return ""
	}
	ratio := "no example at all"
	if counts[lo] > 0 {
		ratio = fmt.Sprintf("%.1f× fewer", float64(counts[hi])/float64(counts[lo]))
	}
	var all []string
	for c, m := range counts {
		all = append(all, fmt.Sprintf("%s %d", name(c), m))
	}
	return fmt.Sprintf("warning: the classes differ by more than %g× in size: %q has %d training examples, %q %d (%s; %s); "+
		"accuracy then favours the large classes: consider class weights (\"balanced\", as scikit-learn's compute_class_weight) "+
		"and look at per-class recall", ImbalanceRatio, name(hi), counts[hi], name(lo), counts[lo], ratio, strings.Join(all, ", "))
}

// validateLoss checks Options.LabelSmoothing and ClassWeights.
func (o Options) validateLoss() error {
	if !(o.LabelSmoothing >= 0 && o.LabelSmoothing <= 1) {
		return errors.Errorf("trainer: label smoothing must be in [0, 1] (Keras' label_smoothing), got %g", o.LabelSmoothing)
	}
	sum := 0.0
	for c, w := range o.ClassWeights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return errors.Errorf("trainer: class weight %d is %g: want a number ≥ 0", c, w)
		}
		sum += w
	}
	if o.ClassWeights != nil && sum == 0 {
		return errors.New("trainer: every class weight is 0: nothing would be learnt")
	}
	return nil
}

// setRecipeLoss makes the loss of Options.LabelSmoothing and ClassWeights the training loss;
// validation keeps the smoothing but not the weights, as Keras (class_weight applies to the
// training data only). The host step's fused gradients take any loss (the loss is autodiffed).
func (c *Config) setRecipeLoss() error {
	if c.LabelSmoothing == 0 && c.ClassWeights == nil {
		return nil
	}
	if c.Loss != nil {
		return errors.New("trainer: Config.Loss is set: label smoothing and class weights apply to the default loss (leave Loss nil)")
	}
	c.Loss = CrossEntropy(c.LabelSmoothing, c.ClassWeights)
	c.evalLoss = CrossEntropy(c.LabelSmoothing, nil)
	return nil
}

// lossForEval is the validation loss: Loss without the class weights.
func (c *Config) lossForEval() LossFn {
	if c.evalLoss != nil {
		return c.evalLoss
	}
	return c.Loss
}
