package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/learner"
)

func init() {
	register("train", "train the article's head on the frozen ResNet50 (resumable)", runTrain)
}

// trainSettings are the run settings flowers train takes as flags (config.Run's names).
var trainSettings = []string{"data", "weights", "run", "cache", "epochs", "batch", "head", "dropout", "mode", "augment",
	"augment-copies", "lr", "schedule", "warmup-steps", "label-smoothing", "class-weight", "tta", "seed", "size", "valid",
	"per-class", "fine-tune", "fine-tune-lr", "fine-tune-epochs", "lr-mult", "checkpoint-steps", "early-stopping",
	"keep-checkpoints", "monitor", "restore-best", "backend"}

func runTrain(args []string) error {
	fs := newFlags("train", "-run DIR [-data auto|embedded|download|DIR] [-weights auto|imagenet|FILE|random[:SEED]] [flags]", "")
	run := fs.runFlags(trainSettings...)
	jsonOut := fs.Bool("json", false, "end with one JSON object summarising the run on stdout")
	fs.require("run")
	if err := fs.parse(args); err != nil {
		return err
	}
	res, err := learner.Run(learner.Config{Run: run.Resolve(os.Stderr), Progress: os.Stderr, Log: os.Stderr})
	if err != nil {
		return err
	}
	if res.Eval != nil {
		fmt.Fprintf(os.Stderr, "\n%s", res.Eval.String())
	}
	if res.EvalTTA != nil {
		fmt.Fprintf(os.Stderr, "with test-time augmentation (the flip and five crops): accuracy %.4f (plain %.4f)\n", res.EvalTTA.Accuracy, res.Eval.Accuracy)
	}
	f := res.Final
	fmt.Fprintf(os.Stderr, "trained the %s head on the base's %s output: %d epochs, %d steps in %.0fs: val_accuracy %.4f, val_loss %.4f (run %s)\n",
		res.Head.Name, learner.HeadInput(res.Head.Pooling), res.Epochs, res.Steps, res.Seconds, f.ValAccuracy, f.ValLoss, res.RunDir)
	if run.Random() {
		fmt.Fprintln(os.Stderr, "these weights are random, not ImageNet's: the accuracy means nothing (-weights imagenet)")
	}
	if *jsonOut {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	return nil
}
