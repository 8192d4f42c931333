package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
)

func init() {
	register("predict", "classify image files with a trained run, printing the top classes", runPredict)
}

func runPredict(args []string) error {
	fs := newFlags("predict", "-run DIR [-top K] [-data DIR] IMAGE…", "IMAGE…")
	runDir := fs.String("run", "", "run folder written by flowers train (required)")
	top := fs.intFlag("top", 3, 1, 1000, "how many classes to print per image")
	data := fs.String("data", "", "optional dataset root: its class folders must be the model's classes")
	backendName := fs.String("backend", "", "GoMLX backend (default: $GOMLX_BACKEND or the best installed)")
	tta := fs.Bool("tta", false, "with test-time augmentation: the flip and five crops, combined as fastai's learn.tta() (7 passes)")
	jsonOut := fs.Bool("json", false, "print the predictions as one JSON array on stdout")
	fs.require("run")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("give at least one image to classify (flowers predict -run DIR IMAGE…)")
	}
	m, err := learner.Open(*runDir, learner.OpenOptions{Backend: *backendName, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer m.Close()
	if *data != "" {
		t, _, err := labels.Scan(*data, labels.Options{})
		if err != nil {
			return err
		}
		if err := m.CheckClasses(t.Classes); err != nil {
			return fmt.Errorf("%s: %w", *data, err)
		}
	}
	predict := m.Predict
	if *tta {
		predict = m.PredictTTA
	}
	preds, err := predict(fs.Args(), *top)
	if err != nil {
		return err
	}
	failed := 0
	for _, p := range preds {
		if p.Err != "" {
			failed++
		}
	}
	if *jsonOut {
		if err := json.NewEncoder(os.Stdout).Encode(preds); err != nil {
			return err
		}
	} else {
		for _, p := range preds {
			if p.Err != "" {
				fmt.Printf("%s: skipped: %s\n", p.Path, p.Err)
				continue
			}
			fmt.Printf("%s: %s\n", p.Path, metrics.FormatTopK(p.Top))
		}
		fmt.Printf("predicted %d images (%d skipped) with %s\n", len(preds)-failed, failed, *runDir)
	}
	// Every image got its answer above; the command fails when any could not be classified.
	switch {
	case failed == len(preds):
		return fmt.Errorf("no image could be classified")
	case failed > 0:
		return fmt.Errorf("%d of the %d images could not be classified (their reasons are listed); the others were", failed, len(preds))
	}
	return nil
}
