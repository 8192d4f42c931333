package trainer

import (
	"math"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pkg/errors"
)

// LRFindOptions configure FindLR (Leslie Smith's range test, as fastai's lr_find); zero values
// take the defaults.
type LRFindOptions struct {
	Start, End float64 // learning rates of the first and last step; default 1e-7 and 10
	Steps      int     // default 100
	// Smoothing is the exponential moving average's β over the losses; default 0.98.
	Smoothing float64
	// Diverge stops the sweep once the smoothed loss exceeds this many times its minimum;
	// default 4.
	Diverge float64
}

func (o LRFindOptions) withDefaults() LRFindOptions {
	if o.Start == 0 {
		o.Start = 1e-7
	}
	if o.End == 0 {
		o.End = 10
	}
	if o.Steps == 0 {
		o.Steps = 100
	}
	if o.Smoothing == 0 {
		o.Smoothing = 0.98
	}
	if o.Diverge == 0 {
		o.Diverge = 4
	}
	return o
}

// LRFindResult is the loss-vs-learning-rate curve of a sweep and the rates it suggests.
type LRFindResult struct {
	LRs, Losses, Smoothed []float64
	// Steep is the rate of the steepest descent of the smoothed loss (per decade, before its
	// minimum): Smith's suggestion, and the one to start from.
	Steep float64
	// Minimum is the rate at the smoothed loss's minimum; a tenth of it is the classic rule.
	Minimum float64
}

// FindLR runs a learning-rate range test: one training step per rate, the rates growing
// exponentially from Start to End, on shuffled batches of data (cycled if needed), until the
// loss diverges. The model, the optimizer state and the trainer's position are restored
// afterwards: the sweep changes nothing.
func (t *Trainer) FindLR(data Data, opts LRFindOptions) (*LRFindResult, error) {
	opts = opts.withDefaults()
	if !(opts.Start > 0 && opts.End > opts.Start) || opts.Steps < 2 || !(opts.Smoothing >= 0 && opts.Smoothing < 1) || !(opts.Diverge > 1) {
		return nil, errors.Errorf("trainer.FindLR: want 0 < Start < End, Steps ≥ 2, 0 ≤ Smoothing < 1, Diverge > 1; got %+v", opts)
	}
	n := data.Len()
	if n == 0 {
		return nil, errors.New("trainer.FindLR: no examples")
	}
	saved, err := t.snapshot()
	if err != nil {
		return nil, err
	}
	lr0 := t.State.LR
	defer func() {
		t.restore(saved)
		_ = t.SetLearningRate(lr0)
	}()
	r := &LRFindResult{}
	perm := Permutation(t.Seed, 0, n)
	batches := StepsPerEpoch(n, t.BatchSize)
	for i := range opts.Steps {
		lr := opts.Start * math.Pow(opts.End/opts.Start, float64(i)/float64(opts.Steps-1))
		if err := t.SetLearningRate(lr); err != nil {
			return nil, err
		}
		b := i % batches
		idx := perm[b*t.BatchSize : min((b+1)*t.BatchSize, n)]
		loss, _, err := t.TrainStep(data, idx, 0)
		if err != nil && !(math.IsNaN(loss) || math.IsInf(loss, 0)) {
			return nil, err
		}
		r.LRs, r.Losses = append(r.LRs, lr), append(r.Losses, loss)
		if err != nil { // the loss went to NaN/Inf: diverged
			break
		}
		sm := Smooth(r.Losses, opts.Smoothing)
		if last, best := sm[len(sm)-1], minOf(sm); len(sm) > 1 && last > opts.Diverge*best {
			break
		}
	}
	r.Smoothed = Smooth(r.Losses, opts.Smoothing)
	r.Steep, r.Minimum = Suggest(r.LRs, r.Smoothed)
	return r, nil
}

// Smooth is the debiased exponential moving average of the losses (β = beta), as fastai's
// recorder smooths them: s_i = (β·m_{i−1} + (1−β)·x_i) / (1 − β^(i+1)). Non-finite losses
// end the curve.
func Smooth(losses []float64, beta float64) []float64 {
	out := make([]float64, 0, len(losses))
	var m float64
	for i, x := range losses {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			break
		}
		m = beta*m + (1-beta)*x
		out = append(out, m/(1-math.Pow(beta, float64(i+1))))
	}
	return out
}

// Suggest returns, for a smoothed loss curve over exponentially spaced rates, the rate of
// steepest descent and the rate at the minimum. The slope is taken against log10(lr) over
// half a decade (so that batch-to-batch noise does not win), before the minimum, skipping
// the first tenth of the curve where the moving average is still warming up.
func Suggest(lrs, smoothed []float64) (steep, minimum float64) {
	n := len(smoothed)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	best := 0
	for i, v := range smoothed {
		if v < smoothed[best] {
			best = i
		}
	}
	minimum = lrs[best]
	if n < 2 {
		return lrs[0], minimum
	}
	perDecade := float64(n-1) / (math.Log10(lrs[n-1]) - math.Log10(lrs[0]))
	w := max(1, int(math.Round(perDecade/2)))
	steep = lrs[0]
	slope := math.Inf(1)
	for i := max(w, n/10); i <= best; i++ {
		j := i - w
		s := (smoothed[i] - smoothed[j]) / (math.Log10(lrs[i]) - math.Log10(lrs[j]))
		if s < slope {
			// The middle of the window is where the loss falls fastest.
			slope, steep = s, math.Sqrt(lrs[i]*lrs[j])
		}
	}
	return steep, minimum
}

func minOf(x []float64) float64 {
	m := math.Inf(1)
	for _, v := range x {
		m = math.Min(m, v)
	}
	return m
}

// snapshot copies every valued variable of the Store (weights, optimizer state, statistics).
func (t *Trainer) snapshot() (map[string]*tensors.Tensor, error) {
	out := map[string]*tensors.Tensor{}
	for v := range t.Store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		c, err := v.MustValue().LocalClone()
		if err != nil {
			return nil, errors.WithMessagef(err, "trainer: copying %s", v.Path())
		}
		out[v.Path()] = c
	}
	return out, nil
}

// restore puts a snapshot back; variables created since are reset to zeros (optimizer state
// that did not exist before the sweep).
func (t *Trainer) restore(saved map[string]*tensors.Tensor) {
	for v := range t.Store.IterVariables() {
		if !v.HasValue() {
			continue
		}
		if c, ok := saved[v.Path()]; ok {
			_ = v.SetValue(c)
		} else {
			_ = v.SetValue(tensors.FromShape(v.Shape()))
		}
	}
}
