package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// workload is the row label of a (task, case).
func workload(task, cas string) string {
	switch task {
	case "forward":
		return "ResNet50 forward, " + cas
	case "photos":
		return cas + " → features (decode, resize, ResNet50)"
	case "head":
		if cas == "flatten" {
			return "article's Flatten head, Adam step, batch 32"
		}
		return "pooled head, Adam step, batch 32"
	case "augment":
		return "augment-mode epoch, " + cas
	case "finetune":
		return "fine-tuning epoch, " + cas
	}
	return task + " " + cas
}

// printBenchTables prints the run's summary (one result per implementation and case, the
// medians of the rounds) as Markdown: images/s with their range over the rounds and the ratio
// to PyTorch with its range, one column per implementation (README.md's table); the detail
// (CPU seconds per image, peak memory and the ratio to TF-Keras too: docs/BENCHMARKS.md's);
// notes on the run. A ratio whose rounds fall on both sides of 1 is marked "≈" (undecided).
func printBenchTables(w io.Writer, results []benchResult, notes []string) {
	var impls, rows []string
	cell := map[string]benchResult{}
	rounds := 1
	for _, r := range results {
		row := workload(r.Task, r.Case)
		if !slices.Contains(rows, row) {
			rows = append(rows, row)
		}
		if !slices.Contains(impls, r.Impl) {
			impls = append(impls, r.Impl)
		}
		cell[row+"|"+r.Impl] = r
		rounds = max(rounds, r.Rounds)
	}
	fmt.Fprintf(w, "\n| images/s, median of %d rounds [range] (× PyTorch [range]) | %s |\n|---|%s\n", rounds,
		strings.Join(impls, " | "), strings.Repeat("---:|", len(impls)))
	for _, row := range rows {
		cells := make([]string, len(impls))
		for i, impl := range impls {
			r, ok := cell[row+"|"+impl]
			switch {
			case !ok:
				cells[i] = "–"
			case r.VsTorch != nil && impl != "PyTorch":
				cells[i] = fmt.Sprintf("%s (%s)", figureRange(r), ratioRange(r.VsTorch, r.VsTorchRange, slices.Contains(r.Undecided, "PyTorch")))
			default:
				cells[i] = figureRange(r)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", row, strings.Join(cells, " | "))
	}

	fmt.Fprintf(w, "\n| workload | implementation | images/s [range] | × PyTorch [range] | × TF-Keras [range] | CPU s/image | peak RSS MiB | s (step or wall) | runs |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		for _, impl := range impls {
			r, ok := cell[row+"|"+impl]
			if !ok {
				continue
			}
			secs := "–"
			if r.Seconds > 0 {
				secs = fmt.Sprintf("%.3g", r.Seconds)
			}
			if r.OnceSeconds > 0 {
				secs += fmt.Sprintf(" (+%.3g once)", r.OnceSeconds)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.3f | %.0f | %s | %d |\n", row, impl, figureRange(r),
				ratioRange(r.VsTorch, r.VsTorchRange, slices.Contains(r.Undecided, "PyTorch")),
				ratioRange(r.VsKeras, r.VsKerasRange, slices.Contains(r.Undecided, "TF-Keras")),
				r.CPUPerImage, r.PeakRSSMiB, secs, max(r.Iterations, 1))
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	fmt.Fprintln(w)
}

// figure prints images/s with 3 significant digits.
func figure(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// figureRange prints a summary's images/s and, over several rounds, their range: "12 [11.5–12.4]".
func figureRange(r benchResult) string {
	if len(r.ImagesPerSecRange) < 2 || r.Rounds < 2 {
		return figure(r.ImagesPerSec)
	}
	return fmt.Sprintf("%s [%s–%s]", figure(r.ImagesPerSec), figure(r.ImagesPerSecRange[0]), figure(r.ImagesPerSecRange[1]))
}

// ratioRange prints a ratio, its range when there is one, and "≈" when undecided:
// "0.93× [0.88–0.99]", "1.02× [0.91–1.10] ≈".
func ratioRange(v *float64, rng []float64, undecided bool) string {
	if v == nil {
		return "–"
	}
	s := fmt.Sprintf("%.2f×", *v)
	if len(rng) == 2 && rng[0] != rng[1] {
		s += fmt.Sprintf(" [%.2f–%.2f]", rng[0], rng[1])
	}
	if undecided {
		s += " ≈"
	}
	return s
}
