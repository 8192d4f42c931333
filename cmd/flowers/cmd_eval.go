package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/learner"
)

func init() {
	register("eval", "evaluate a trained run on its validation split (confusion matrix, per-class precision/recall)", runEval)
}

func runEval(args []string) error {
	fs := newFlags("eval", "-run DIR [-tta] [-backend NAME] [-json]", "")
	runDir := fs.String("run", "", "run folder written by flowers train (required)")
	backendName := fs.String("backend", "", "GoMLX backend (default: $GOMLX_BACKEND or the best installed)")
	jsonOut := fs.Bool("json", false, "print the report as one JSON object on stdout")
	tta := fs.Bool("tta", false, "also with test-time augmentation: the flip and five crops, combined as fastai's learn.tta() (7 passes)")
	fs.require("run")
	if err := fs.parse(args); err != nil {
		return err
	}
	m, err := learner.Open(*runDir, learner.OpenOptions{Backend: *backendName, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer m.Close()
	r, err := m.Evaluate(os.Stderr)
	if err != nil {
		return err
	}
	var withTTA *learner.TTAReport
	if *tta {
		if withTTA, err = m.EvaluateTTA(os.Stderr); err != nil {
			return err
		}
	}
	if *jsonOut {
		if withTTA != nil {
			return json.NewEncoder(os.Stdout).Encode(map[string]any{"plain": r, "tta": withTTA.TTA, "tta_views": withTTA.Views})
		}
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Print(r.String())
	fmt.Printf("validation accuracy %.4f on %d images (checkpoint step %d, %d epochs)\n", r.Accuracy, r.N, m.State.Step, len(m.State.History))
	if withTTA != nil {
		fmt.Printf("with test-time augmentation (%s): accuracy %.4f (plain %.4f)\n", strings.Join(withTTA.Views, ", "), withTTA.TTA.Accuracy, withTTA.Plain.Accuracy)
	}
	return nil
}
