// Package playground is the walkthrough's hyperparameter playground: GoNB widgets that retrain the
// head of the training cell with other values on the cached features and overlay the curves.
package playground

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/learner"
)

// LogScale maps a slider's integer positions 0..Positions()-1 to numbers spaced evenly on
// a log scale from Min to Max, PerDecade positions per factor of 10 (GoNB's sliders hold
// integers only). Values are rounded to 2 significant digits, so they print short and name
// run folders cleanly: 1e-5, 1.8e-5, 3.2e-5, 5.6e-5, 1e-4, ….
type LogScale struct {
	Min, Max  float64
	PerDecade int
}

// LearningRates is the learning-rate slider: 1e-5 … 1e-1, 4 positions per decade.
var LearningRates = LogScale{Min: 1e-5, Max: 1e-1, PerDecade: 4}

// BatchSizes are the batch-size slider's positions.
var BatchSizes = []int{8, 16, 32, 64, 128}

// Heads are the head selector's options: what the base gives the head, by the built-in heads'
// names (config.HeadName): pooled first, they retrain in seconds.
var Heads = []string{"avg", "max", "flatten"}

// Positions is the number of slider positions.
func (s LogScale) Positions() int {
	return int(math.Round(math.Log10(s.Max/s.Min)*float64(s.PerDecade))) + 1
}

// Value is the number at position i (clamped to the slider's range).
func (s LogScale) Value(i int) float64 {
	i = min(max(i, 0), s.Positions()-1)
	v := s.Min * math.Pow(10, float64(i)/float64(s.PerDecade))
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 2, 64), 64)
	return r
}

// Index is the position nearest to v on the log scale (clamped).
func (s LogScale) Index(v float64) int {
	if !(v > 0) {
		return 0
	}
	i := int(math.Round(math.Log10(v/s.Min) * float64(s.PerDecade)))
	return min(max(i, 0), s.Positions()-1)
}

// FormatLR writes a learning rate as 1e-3, 3.2e-4 (what the sliders and legends show).
func FormatLR(v float64) string {
	s := strconv.FormatFloat(v, 'e', -1, 64) // 1e-03, 3.2e-04
	m, e, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	exp, err := strconv.Atoi(e)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%se%d", m, exp)
}

// nearest is the index of the value in vs closest to v.
func nearest(vs []int, v int) int {
	best := 0
	for i, x := range vs {
		if abs(x-v) < abs(vs[best]-v) {
			best = i
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Knobs are the hyperparameters the playground's widgets set.
type Knobs struct {
	LearningRate float64
	Epochs       int
	BatchSize    int
	// Augment is the augmentation strength (1 = the article's ImageDataGenerator ranges).
	// 0 trains on the cached features of the photos; > 0 on cached augmented copies of them
	// (Playground.Copies per strength, computed once: see Playground).
	Augment float64
	Dropout float64
	Head    string
	// Schedule is the rate's schedule (constant, one-cycle, cosine), LabelSmoothing the loss's,
	// and TTA evaluates each finished run with test-time augmentation too.
	Schedule       string
	LabelSmoothing float64
	TTA            bool
}

// Schedules are the schedule selector's options.
var Schedules = []string{"constant", "one-cycle", "cosine"}

// KnobsOf returns the knobs of a run: what the training cell trains. In cached mode the
// training cell does not augment, so Augment is 0 there whatever the settings say.
func KnobsOf(cfg learner.Config) Knobs {
	s := cfg.Run.Defaults()
	k := Knobs{LearningRate: s.LearningRate, Epochs: s.Epochs, BatchSize: s.BatchSize, Dropout: s.Dropout, Head: config.HeadName(s.Pooling),
		Schedule: s.Schedule, LabelSmoothing: s.LabelSmoothing, TTA: s.TTA}
	if s.Mode == learner.ModeAugment {
		k.Augment = s.Augment
	}
	return k
}

// Label is the knobs in a few words, for legends: "lr 1e-3 · 30 ep · b32 · avg", with
// dropout and augmentation when they are set.
func (k Knobs) Label() string {
	s := fmt.Sprintf("lr %s · %d ep · b%d · %s", FormatLR(k.LearningRate), k.Epochs, k.BatchSize, k.Head)
	if k.Dropout > 0 {
		s += fmt.Sprintf(" · drop %g", k.Dropout)
	}
	if k.Augment > 0 {
		s += fmt.Sprintf(" · aug %g", k.Augment)
	}
	if k.Schedule != "" && k.Schedule != "constant" {
		s += " · " + k.Schedule
	}
	if k.LabelSmoothing > 0 {
		s += fmt.Sprintf(" · ls %g", k.LabelSmoothing)
	}
	return s
}

// apply returns cfg with the knobs set: augmentation > 0 switches to augment mode (served by
// cached copies, see Playground.Copies); the head knob sets the base's pooling.
func (k Knobs) apply(cfg learner.Config) learner.Config {
	s := &cfg.Run
	s.LearningRate, s.Epochs, s.BatchSize, s.Dropout = k.LearningRate, k.Epochs, k.BatchSize, k.Dropout
	s.Schedule, s.LabelSmoothing, s.TTA = k.Schedule, k.LabelSmoothing, k.TTA
	if k.LabelSmoothing > 0 {
		cfg.Loss = nil // the knob's: Keras' categorical cross-entropy with that smoothing, instead of the cell's loss
	}
	if s.Schedule == "cosine" && s.WarmupSteps == 0 {
		s.WarmupSteps = 3 // a short warm-up: the cosine's first step would not move the weights
	}
	s.Pooling = config.PoolingOf(k.Head)
	s.Mode, s.Augment = learner.ModeCached, 0
	if k.Augment > 0 {
		s.Mode, s.Augment = learner.ModeAugment, k.Augment
	}
	return cfg
}
