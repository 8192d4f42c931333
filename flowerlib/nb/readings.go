package nb

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// The experiments' readings: what a run's own numbers say, in a sentence, so that the notebook's
// text never claims what the figures above it contradict (random weights, a small sample).

// weightsReading says what the weights let the numbers mean.
func weightsReading(s config.Run) string {
	if s.Random() {
		return "These runs used random weights, not ImageNet's: nothing was pre-trained, so the numbers show how the experiments work, not what transfer learning gives."
	}
	return "These runs used Keras' ImageNet weights."
}

// TransferReading reads the probes: the best stage and the last one, against chance.
func TransferReading(t *learner.Transfer, s config.Run) string {
	if len(t.Stages) == 0 {
		return "no stage probed"
	}
	best := t.Stages[0]
	for _, p := range t.Stages {
		if p.ValAccuracy > best.ValAccuracy {
			best = p
		}
	}
	last := t.Stages[len(t.Stages)-1]
	r := fmt.Sprintf("Here the best stage is %s (validation accuracy %.0f%%); the last, %s, reaches %.0f%% (chance: %.0f%%).",
		best.Layer, 100*best.ValAccuracy, last.Layer, 100*last.ValAccuracy, 100*t.Chance)
	if s.Random() {
		return r + " With ImageNet weights the last stages usually serve flowers best; with random ones early stages, which keep more of the colours, often do as well."
	}
	return r
}

// CompareReading ranks the three ways by their last validation accuracy.
func CompareReading(c *learner.Comparison, s config.Run) string {
	ways := append([]learner.Way(nil), c.Ways...)
	sort.SliceStable(ways, func(i, j int) bool { return ways[i].Final().ValAccuracy > ways[j].Final().ValAccuracy })
	var parts []string
	for _, w := range ways {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", w.Name, 100*w.Final().ValAccuracy))
	}
	r := fmt.Sprintf("After %d epochs, by validation accuracy: %s.", c.Epochs, strings.Join(parts, ", "))
	if s.Random() {
		return r + " With ImageNet weights expect frozen features far ahead of from-scratch and fine-tuning a little above them; random \"pre-trained\" weights give the frozen way nothing to start from."
	}
	return r
}

// Readings reads every experiment that ran under the settings (from their run folders) and
// says what their numbers show, with what the weights let them mean.
func (e Experiments) Readings(s config.Run) (string, error) {
	e = e.Defaults()
	dir, err := e.Dir(s)
	if err != nil {
		return "", err
	}
	lines := []string{weightsReading(s)}
	last := func(run string) float64 {
		h, err := trainer.LoadHistory(run)
		if err != nil || len(h) == 0 {
			return math.NaN()
		}
		return h[len(h)-1].ValAccuracy
	}
	probes, _ := filepath.Glob(filepath.Join(dir, "transfer", "probe-*"))
	var stages []string
	for _, p := range probes {
		if a := last(p); !math.IsNaN(a) {
			stages = append(stages, fmt.Sprintf("%s %.0f%%", strings.TrimPrefix(filepath.Base(p), "probe-"), 100*a))
		}
	}
	lines = append(lines, orNotRun("Linear probes (section 2)", strings.Join(stages, ", ")))
	if a := last(filepath.Join(dir, "head")); !math.IsNaN(a) {
		lines = append(lines, fmt.Sprintf("The head at the suggested rate (section 3.2): validation accuracy %.0f%%.", 100*a))
	} else {
		lines = append(lines, orNotRun("The head at the suggested rate (section 3.2)", ""))
	}
	cmp := filepath.Join(dir, fmt.Sprintf("compare-s%d-e%d-f%d", e.CompareSize, e.CompareEpochs, e.FreezeEpochs))
	var ways []string
	for _, w := range []struct{ name, run string }{{learner.WayScratch, "scratch"}, {learner.WayFrozen, "frozen"},
		{learner.WayFineTuned, filepath.Join("fine-tuned", learner.FineTuneDir)}} { // learner.Compare's folders
		if a := last(filepath.Join(cmp, w.run)); !math.IsNaN(a) {
			ways = append(ways, fmt.Sprintf("%s %.0f%%", w.name, 100*a))
		}
	}
	lines = append(lines, orNotRun("The three ways (section 3.3)", strings.Join(ways, ", ")))
	return strings.Join(lines, "\n"), nil
}

func orNotRun(what, found string) string {
	if found == "" {
		return what + ": not run yet (run its cell)."
	}
	return what + ": " + found + "."
}
