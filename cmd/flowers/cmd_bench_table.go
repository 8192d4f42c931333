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
			return "seed's Flatten head, Adam step, batch 32"
		}
		return "pooled head, Adam step, batch 32"
	case "augment":
		return "augment-mode epoch, " + cas
	case "finetune":
		return "fine-tuning epoch, " + cas
	}
	return task + " " + cas
}

// printBenchTables prints the run as Markdown: the summary (images/s and the ratio to
// PyTorch, one column per implementation: README.md's table), the detail (CPU seconds per
// image and peak memory too: docs/BENCHMARKS.md's) and notes on the run.
func printBenchTables(w io.Writer, results []benchResult, notes []string) {
	var impls, rows []string
	cell := map[string]benchResult{}
	for _, r := range results {
		row := workload(r.Task, r.Case)
		if !slices.Contains(rows, row) {
			rows = append(rows, row)
		}
		if !slices.Contains(impls, r.Impl) {
			impls = append(impls, r.Impl)
		}
		cell[row+"|"+r.Impl] = r
	}
	fmt.Fprintf(w, "\n| images/s (× PyTorch) | %s |\n|---|%s\n", strings.Join(impls, " | "), strings.Repeat("---:|", len(impls)))
	for _, row := range rows {
		cells := make([]string, len(impls))
		for i, impl := range impls {
			r, ok := cell[row+"|"+impl]
			switch {
			case !ok:
				cells[i] = "–"
			case r.VsTorch != nil && impl != "PyTorch":
				cells[i] = fmt.Sprintf("%s (%.2f×)", figure(r.ImagesPerSec), *r.VsTorch)
			default:
				cells[i] = figure(r.ImagesPerSec)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", row, strings.Join(cells, " | "))
	}

	fmt.Fprintf(w, "\n| workload | implementation | images/s | × PyTorch | × TF-Keras | CPU s/image | peak RSS MiB | s (step or wall) | runs |\n")
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
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.3f | %.0f | %s | %d |\n", row, impl, figure(r.ImagesPerSec),
				ratio(r.VsTorch), ratio(r.VsKeras), r.CPUPerImage, r.PeakRSSMiB, secs, max(r.Iterations, 1))
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

func ratio(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}
