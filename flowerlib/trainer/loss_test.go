package trainer_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// crossEntropy64 is the loss of trainer.CrossEntropy's doc comment in float64.
func crossEntropy64(logits []float32, labels []int32, k int, ls float64, w []float64) float64 {
	b := len(labels)
	sum := 0.0
	for i := range b {
		z := logits[i*k : (i+1)*k]
		m := math.Inf(-1)
		for _, v := range z {
			m = math.Max(m, float64(v))
		}
		lse := 0.0
		for _, v := range z {
			lse += math.Exp(float64(v) - m)
		}
		lse = m + math.Log(lse)
		l := 0.0
		for c := range k {
			y := ls / float64(k)
			if int32(c) == labels[i] {
				y += 1 - ls
			}
			l -= y * (float64(z[c]) - lse)
		}
		if w != nil {
			l *= w[labels[i]]
		}
		sum += l
	}
	return sum / float64(b)
}

// TestCrossEntropyFormula: CrossEntropy with label smoothing and class weights equals its
// formula computed in float64, and without either is SparseCrossEntropy.
func TestCrossEntropyFormula(t *testing.T) {
	const b, k = 7, 4
	r := rand.New(rand.NewPCG(8, 1))
	logits := randn32(r, b*k)
	for i := range logits {
		logits[i] *= 3
	}
	labels := []int32{0, 3, 1, 1, 2, 3, 0}
	weights := []float64{1, 2.5, 0.5, 3}
	be := backend.MustNew("go", nil)
	eval := func(fn trainer.LossFn) float64 {
		out := graph.MustExecOnce(be, func(z, y *graph.Node) *graph.Node { return fn(z, y) },
			tensors.FromFlatDataAndDimensions(logits, b, k), tensors.FromFlatDataAndDimensions(labels, b))
		return float64(tensors.ToScalar[float32](out))
	}
	for _, c := range []struct {
		ls float64
		w  []float64
	}{{0, nil}, {0.1, nil}, {0, weights}, {0.2, weights}, {1, nil}} {
		got, want := eval(trainer.CrossEntropy(c.ls, c.w)), crossEntropy64(logits, labels, k, c.ls, c.w)
		if math.Abs(got-want) > 1e-6*math.Abs(want) {
			t.Errorf("label smoothing %g, weights %v: %.8g, formula %.8g", c.ls, c.w, got, want)
		}
	}
	if got, sparse := eval(trainer.CrossEntropy(0, []float64{1, 1, 1, 1})), eval(trainer.SparseCrossEntropy); math.Abs(got-sparse) > 1e-6*sparse {
		t.Errorf("unit weights %.8g, SparseCrossEntropy %.8g", got, sparse)
	}
	_, err := graph.ExecOnce(be, func(z, y *graph.Node) *graph.Node { return trainer.CrossEntropy(0, weights[:3])(z, y) },
		tensors.FromFlatDataAndDimensions(logits, b, k), tensors.FromFlatDataAndDimensions(labels, b))
	if err == nil || !strings.Contains(err.Error(), "trainer.CrossEntropy: 3 class weights for a model with 4 classes") {
		t.Errorf("wrong number of weights: %v", err)
	}
}

// TestBalancedClassWeights: scikit-learn's 'balanced' n_samples / (n_classes · count), the
// counts, and the warning beyond 3× (tools/keras compares with scikit-learn itself).
func TestBalancedClassWeights(t *testing.T) {
	counts := trainer.ClassCounts([]int32{0, 1, 1, 1, 1, 2, 2, 0, 1, 1}, 3)
	if counts[0] != 2 || counts[1] != 6 || counts[2] != 2 {
		t.Fatalf("counts %v", counts)
	}
	w, err := trainer.BalancedClassWeights(counts)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range []float64{10.0 / 6, 10.0 / 18, 10.0 / 6} {
		if math.Abs(w[c]-want) > 1e-15 {
			t.Errorf("weight %d = %g, want %g", c, w[c], want)
		}
	}
	if _, err := trainer.BalancedClassWeights([]int{3, 0}); err == nil ||
		err.Error() != "trainer: class 1 has no training example: balanced class weights need every class" {
		t.Errorf("empty class: %v", err)
	}
	classes := []string{"daisy", "roses", "tulips"}
	if msg := trainer.ImbalanceWarning(classes, counts); msg != "" {
		t.Errorf("3× is not beyond 3×, got %q", msg)
	}
	want := `warning: the classes differ by more than 3× in size: "roses" has 13 training examples, "daisy" 4 (3.2× fewer; daisy 4, roses 13, tulips 5); ` +
		`accuracy then favours the large classes: consider class weights ("balanced", as scikit-learn's compute_class_weight) and look at per-class recall`
	if msg := trainer.ImbalanceWarning(classes, []int{4, 13, 5}); msg != want {
		t.Errorf("warning:\n%s\nwant\n%s", msg, want)
	}
}

// TestRecipeLossInTrainer: with label smoothing and class weights the host step still fuses the
// head's kernels (the loss is autodiffed), training as plain autodiff does, and validates with
// the smoothed loss without the weights, as Keras does; bad values are refused by name.
func TestRecipeLossInTrainer(t *testing.T) {
	const ls = 0.1
	var log bytes.Buffer
	cfg := headCfg{Hidden: []int{16, 8}}
	c := headConfig(t, "go", t.TempDir(), cfg, trainer.Options{Epochs: 1, BatchSize: 16, Log: &log,
		LabelSmoothing: ls, ClassWeights: []float64{1, 4, 1, 1, 0.5}})
	tr, err := trainer.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var fusedLosses []float64
	tr.OnStep = func(s trainer.StepInfo) { fusedLosses = append(fusedLosses, s.Loss) }
	if _, err := tr.Fit(syntheticFeatures(32, 1), nil); err != nil {
		t.Fatal(err)
	}
	if n := fused(t, tr); n != 3 {
		t.Errorf("%d kernels fused with the recipes' loss, want 3", n)
	}
	ca := headConfig(t, "go", t.TempDir(), cfg, trainer.Options{Epochs: 1, BatchSize: 16, LabelSmoothing: ls, ClassWeights: []float64{1, 4, 1, 1, 0.5}})
	ca.StepKind = trainer.StepHostAutodiff
	ta, err := trainer.New(ca)
	if err != nil {
		t.Fatal(err)
	}
	defer ta.Close()
	var autoLosses []float64
	ta.OnStep = func(s trainer.StepInfo) { autoLosses = append(autoLosses, s.Loss) }
	if _, err := ta.Fit(syntheticFeatures(32, 1), nil); err != nil {
		t.Fatal(err)
	}
	for i := range autoLosses {
		if math.Abs(autoLosses[i]-fusedLosses[i]) > 1e-5*math.Max(1, autoLosses[i]) {
			t.Errorf("step %d: loss %.7g fused, %.7g autodiff", i+1, fusedLosses[i], autoLosses[i])
		}
	}
	r, err := tr.Evaluate(syntheticFeatures(20, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for i, p := range r.Probs {
		for k, pk := range p {
			y := ls / 5
			if int32(k) == r.Labels[i] {
				y += 1 - ls
			}
			want -= y * math.Log(float64(pk))
		}
	}
	want /= float64(len(r.Probs))
	if math.Abs(r.Loss-want) > 1e-5*want {
		t.Errorf("validation loss %.6f, smoothed cross-entropy without weights %.6f", r.Loss, want)
	}
	for _, bad := range []struct {
		o    trainer.Options
		want string
	}{
		{trainer.Options{LabelSmoothing: 1.5}, "trainer: label smoothing must be in [0, 1] (Keras' label_smoothing), got 1.5"},
		{trainer.Options{ClassWeights: []float64{1, -1}}, "trainer: class weight 1 is -1: want a number ≥ 0"},
		{trainer.Options{ClassWeights: []float64{0, 0}}, "trainer: every class weight is 0: nothing would be learnt"},
	} {
		if err := bad.o.WithDefaults().Validate(); err == nil || err.Error() != bad.want {
			t.Errorf("%+v: %v, want %q", bad.o, err, bad.want)
		}
	}
	c = headConfig(t, "go", t.TempDir(), cfg, trainer.Options{LabelSmoothing: ls})
	c.Loss = trainer.SparseCrossEntropy
	if _, err := trainer.New(c); err == nil || !strings.Contains(err.Error(), "Config.Loss is set") {
		t.Errorf("Loss and label smoothing together: %v", err)
	}
}
