package trainer

import (
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Group is a layer group with its own learning rate (fastai's parameter groups): the variables
// whose Store path starts with one of Prefixes train at Scale × the schedule's rate. ResNet50's
// stages are prefixes of Keras' layer names: "/conv4_" holds conv4_block1_1_conv … conv4_block6_out.
type Group struct {
	Prefixes []string `json:"prefixes"`
	Scale    float64  `json:"scale"`
}

// Groups are the layer groups of a run (Options.LRGroups). A variable matched by no group (in
// fastai's split, the last group: the head) trains at the rate itself, scale 1.
type Groups []Group

// Scale returns the learning-rate multiplier of the variable at path: the Scale of the group
// with the longest matching prefix, 1 when none matches.
func (gs Groups) Scale(path string) float64 {
	scale, best := 1.0, -1
	for _, g := range gs {
		for _, p := range g.Prefixes {
			if len(p) > best && strings.HasPrefix(path, p) {
				scale, best = g.Scale, len(p)
			}
		}
	}
	return scale
}

// Validate reports a scale that is not a positive number, an empty prefix, or a prefix given
// twice.
func (gs Groups) Validate() error {
	seen := map[string]bool{}
	for i, g := range gs {
		if !(g.Scale > 0) || math.IsInf(g.Scale, 0) {
			return errors.Errorf("trainer: learning-rate group %d (%v) has scale %g: want a positive number", i+1, g.Prefixes, g.Scale)
		}
		if len(g.Prefixes) == 0 {
			return errors.Errorf("trainer: learning-rate group %d (scale %g) has no prefix", i+1, g.Scale)
		}
		for _, p := range g.Prefixes {
			if p == "" || seen[p] {
				return errors.Errorf("trainer: learning-rate group %d: prefix %q is empty or given twice", i+1, p)
			}
			seen[p] = true
		}
	}
	return nil
}

// EvenMults is fastai's even_mults(start, stop, n) (fastcore/basics.py), which its optimizer
// uses for a slice(start, stop) learning rate (fastai/optimizer.py, _BaseOptimizer.set_hyper):
// n values from start to stop, evenly spaced on a log scale, start·step^i with
// step = (stop/start)^(1/(n−1)). n = 1 gives [stop] (fastai divides by zero there).
func EvenMults(start, stop float64, n int) []float64 {
	if n == 1 {
		return []float64{stop}
	}
	step := math.Pow(stop/start, 1/float64(n-1))
	out := make([]float64, n)
	for i := range out {
		out[i] = start * math.Pow(step, float64(i))
	}
	return out
}

// SliceGroups returns the groups of fastai's slice(lo, hi) over len(body)+1 parameter groups:
// body[i] are the prefixes of group i, from the input side; the last group, the head, is every
// variable no prefix matches. As fastai's set_hyper, the rates are even_mults(lo, hi, n), or,
// with lo = 0 (fastai's slice(hi)), hi/10 for every body group and hi for the head. Scales are
// relative to hi: train with Options.LearningRate = hi (a schedule then scales every group
// alike, as fastai's fit_one_cycle does with its per-group lr_max).
func SliceGroups(lo, hi float64, body ...[]string) (Groups, error) {
	if len(body) == 0 {
		return nil, errors.New("trainer.SliceGroups: no layer group besides the head")
	}
	if !(hi > 0) || math.IsInf(hi, 0) || !(lo >= 0 && lo <= hi) {
		return nil, errors.Errorf("trainer.SliceGroups: want 0 ≤ lo ≤ hi, hi > 0; got lo %g, hi %g", lo, hi)
	}
	n := len(body) + 1
	rates := EvenMults(lo, hi, n)
	if lo == 0 {
		rates = make([]float64, n)
		for i := range rates {
			rates[i] = hi / 10
		}
		rates[n-1] = hi
	}
	gs := make(Groups, len(body))
	for i, prefixes := range body {
		gs[i] = Group{Prefixes: append([]string(nil), prefixes...), Scale: rates[i] / hi}
	}
	return gs, gs.Validate()
}

// lrScales returns the float32 learning-rate multiplier of each variable (1 without groups).
// A prefix that matches no variable of the Store is an error: a misspelt layer name would
// otherwise train that group at the head's rate without a word.
func lrScales(store *model.Store, gs Groups, vars []*model.Variable) ([]float32, error) {
	out := make([]float32, len(vars))
	for i, v := range vars {
		out[i] = float32(gs.Scale(v.Path()))
	}
	if len(gs) == 0 {
		return out, nil
	}
	var paths, trainable []string
	for v := range store.IterVariables() {
		paths = append(paths, v.Path())
		if v.Trainable {
			trainable = append(trainable, v.Path())
		}
	}
	for _, g := range gs {
		for _, p := range g.Prefixes {
			if !slices.ContainsFunc(paths, func(path string) bool { return strings.HasPrefix(path, p) }) {
				sort.Strings(trainable)
				return nil, errors.Errorf("trainer: learning-rate group prefix %q matches no variable of the model (%d trainable, e.g. %s)",
					p, len(trainable), strings.Join(trainable[:min(len(trainable), 4)], ", "))
			}
		}
	}
	return out, nil
}
