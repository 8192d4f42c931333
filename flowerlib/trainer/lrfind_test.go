package trainer_test

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// TestSuggestKnownCurve: on L(x) = 3 − tanh(2(x+4)) + 0.05·e^(2(x+1)), x = log10(lr), the
// steepest descent is at lr = 1e-4 and the minimum where the grid's loss is lowest.
func TestSuggestKnownCurve(t *testing.T) {
	var lrs, loss []float64
	for i := range 161 {
		x := -7 + 8*float64(i)/160 // 20 points per decade
		lrs = append(lrs, math.Pow(10, x))
		loss = append(loss, 3-math.Tanh(2*(x+4))+0.05*math.Exp(2*(x+1)))
	}
	steep, minimum := trainer.Suggest(lrs, loss)
	if r := math.Log10(steep) + 4; math.Abs(r) > 0.051 {
		t.Errorf("steepest descent at %g, want 1e-4 (within one grid step)", steep)
	}
	best := 0
	for i := range loss {
		if loss[i] < loss[best] {
			best = i
		}
	}
	if minimum != lrs[best] {
		t.Errorf("minimum at %g, want %g", minimum, lrs[best])
	}
}

func TestSmooth(t *testing.T) {
	for _, v := range trainer.Smooth([]float64{2, 2, 2, 2}, 0.98) {
		if math.Abs(v-2) > 1e-12 {
			t.Fatalf("debiased EMA of a constant: %v", v)
		}
	}
	if got := trainer.Smooth([]float64{1, 3, math.NaN(), 5}, 0); len(got) != 2 || got[1] != 3 {
		t.Fatalf("β=0 is the identity up to the first NaN: %v", got)
	}
	// β = 0.5: m1 = 0.5·1 → 1/(1−0.5) = 1; m2 = 0.25 + 0.5·3 = 1.75 → 1.75/0.75.
	if got := trainer.Smooth([]float64{1, 3}, 0.5); math.Abs(got[1]-1.75/0.75) > 1e-12 {
		t.Fatalf("β=0.5: %v", got)
	}
}

// TestFindLRChangesNothing: a sweep on synthetic features gives a curve that falls then rises
// (or diverges), suggests a rate in a sensible range, and leaves the trainer exactly as it
// was: training afterwards gives the history of a trainer that never swept.
func TestFindLRChangesNothing(t *testing.T) {
	cfg := headCfg{Hidden: []int{32, 16}}
	data := syntheticFeatures(64, 5)
	opts := trainer.Options{Epochs: 2, BatchSize: 16}
	swept := newHeadTrainer(t, t.TempDir(), cfg, opts)
	r, err := swept.FindLR(data, trainer.LRFindOptions{Steps: 60})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.LRs) < 10 || len(r.Smoothed) == 0 {
		t.Fatalf("curve of %d points", len(r.LRs))
	}
	lo := math.Inf(1)
	for _, v := range r.Smoothed {
		lo = math.Min(lo, v)
	}
	if !(lo < r.Smoothed[0]) {
		t.Errorf("the loss never fell below its start (%.3f): %v", r.Smoothed[0], r.Smoothed)
	}
	if r.Steep < 1e-6 || r.Steep > 1 || r.Minimum < r.Steep {
		t.Errorf("suggestions: steep %g, minimum %g", r.Steep, r.Minimum)
	}
	t.Logf("%d steps, steepest descent at %.2g, minimum at %.2g", len(r.LRs), r.Steep, r.Minimum)
	if swept.State.Step != 0 || swept.State.LR != opts.WithDefaults().LearningRate {
		t.Fatalf("state after the sweep: step %d, lr %g", swept.State.Step, swept.State.LR)
	}
	got, err := swept.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := newHeadTrainer(t, t.TempDir(), cfg, opts).Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(got[i].Loss-want[i].Loss) > 1e-6 {
			t.Fatalf("epoch %d: loss %.6f after a sweep, %.6f without", i+1, got[i].Loss, want[i].Loss)
		}
	}
}
