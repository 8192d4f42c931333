package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

func init() {
	register("lr-find", "learning-rate range test of the head on the cached features (fastai's lr_find)", runLRFind)
}

func runLRFind(args []string) error {
	fs := newFlags("lr-find", "[-data DIR] [-weights imagenet|FILE|random[:SEED]] [-run DIR] [-plot FILE.png|.svg] [flags]", "")
	run := fs.runFlags("data", "weights", "run", "cache", "batch", "head", "dropout", "size", "seed", "valid", "per-class", "backend")
	start := fs.floatFlag("start", 1e-7, 0, 10, true, "learning rate of the first step")
	end := fs.floatFlag("end", 10, 0, 1000, true, "learning rate of the last step")
	steps := fs.intFlag("steps", 100, 2, 100_000, "steps of the sweep (it stops early once the loss diverges)")
	plot := fs.String("plot", "", "write the loss-vs-rate chart to this .png or .svg file")
	force := fs.forceFlag()
	jsonOut := fs.Bool("json", false, "print the curve and the suggestions as one JSON object on stdout")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *end <= *start {
		return usagef("-end %g must be greater than -start %g", *end, *start)
	}
	if *plot != "" {
		if err := checkFigureOutput("plot", *plot, *force); err != nil {
			return err
		}
	}
	runDir := run.RunDir
	if runDir == "" { // a temporary run folder: the sweep writes nothing a run needs
		tmp, err := os.MkdirTemp("", "flowers-lr-find-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		run.RunDir = filepath.Join(tmp, "run")
	}
	l, err := learner.New(learner.Config{Run: run.Resolve(os.Stderr), Progress: os.Stderr, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.FindLR(trainer.LRFindOptions{Start: *start, End: *end, Steps: *steps})
	if err != nil {
		return err
	}
	if *plot != "" {
		if err := writeFigure(*plot, charts.LRFinder(r)); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", *plot)
	}
	if *jsonOut {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	// About 12 rows of the curve, evenly over the sweep, and the rows of the suggestions.
	var rows [][]string
	every := max(1, len(r.Smoothed)/12)
	for i := range r.Smoothed {
		note := ""
		if i > 0 && r.LRs[i-1] < r.Steep && r.LRs[i] >= r.Steep {
			note = "← steepest descent"
		}
		if r.LRs[i] == r.Minimum {
			note = "← minimum"
		}
		if i%every == 0 || note != "" || i == len(r.Smoothed)-1 {
			rows = append(rows, []string{fmt.Sprintf("%.2e", r.LRs[i]), fmt.Sprintf("%.4f", r.Losses[i]), fmt.Sprintf("%.4f", r.Smoothed[i]), note})
		}
	}
	fmt.Print(charts.TextTable([]string{"learning rate", "loss", "smoothed", ""}, rows))
	fmt.Printf("suggested learning rate %.1e (steepest descent of the smoothed loss); minimum at %.1e (a tenth of it: %.1e)\n",
		r.Steep, r.Minimum, r.Minimum/10)
	if runDir != "" {
		fmt.Printf("train with it: flowers train -run %s -lr %.1e (with the same -data, -weights, -head, -size, -batch, -seed)\n", runDir, r.Steep)
	}
	return nil
}
