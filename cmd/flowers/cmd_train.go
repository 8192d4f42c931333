package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

func init() {
	register("train", "train the article's head on the frozen ResNet50 (resumable)", runTrain)
}

func runTrain(args []string) error {
	fs := newFlags("train", "-data DIR -weights imagenet|FILE|random[:SEED] -run DIR [flags]", "")
	data := fs.String("data", "", "dataset root: one sub-folder of images per class (default $FLOWERS_DATA, else flower_photos.tgz downloaded once into the cache)")
	weightsSpec := fs.String("weights", "imagenet", "ResNet50 weights: imagenet (downloaded once), a Keras .h5 file, or random[:SEED] (offline; NOT ImageNet)")
	runDir := fs.String("run", "", "run folder: checkpoints, history, run.json (required); an existing run resumes")
	cacheDir := fs.String("cache", defaults.CacheDir(), "cache folder for downloads, weights and features ($FLOWERS_CACHE)")
	epochs := fs.intFlag("epochs", defaults.Epochs, 1, 1_000_000, "epochs")
	batch := fs.intFlag("batch", defaults.BatchSize, 1, defaults.MaxBatchSize, "batch size")
	headKind := fs.choiceFlag("head", string(head.Flatten), []string{string(head.Flatten), string(head.Avg), string(head.Max)},
		"head: flatten (the article's: Flatten over 7×7×2048), avg or max (pooled 2048 features)")
	dropout := fs.floatFlag("dropout", 0, 0, 0.99, false, "dropout rate after each hidden Dense (0: none, as the article)")
	mode := fs.choiceFlag("mode", learner.ModeCached, []string{learner.ModeCached, learner.ModeAugment},
		"cached (base run once, features cached) or augment (augmented images through the base every epoch)")
	copies := fs.intFlag("augment-copies", 0, 0, 1000, "augment mode: cache this many augmented copies ahead and cycle through them")
	lr := fs.floatFlag("lr", defaults.LearningRate, 0, 10, true, "Adam learning rate (Keras default 1e-3)")
	seed := fs.Int64("seed", defaults.Seed, "seed of the split, shuffling and initialisation")
	size := fs.intFlag("size", defaults.ImageSize, defaults.MinImageSize, defaults.MaxImageSize, "image size")
	fineTune := fs.String("fine-tune", "", "after the head, unfreeze the base from this layer prefix (e.g. conv5) and train both on images")
	fineTuneLR := fs.floatFlag("fine-tune-lr", defaults.FineTuneLearningRate, 0, 10, true, "learning rate of the fine-tuning phase")
	fineTuneEpochs := fs.intFlag("fine-tune-epochs", defaults.FineTuneEpochs, 1, 1_000_000, "epochs of the fine-tuning phase")
	ckptSteps := fs.intFlag("checkpoint-steps", 0, 0, math.MaxInt32, "also checkpoint every N steps (0: after each epoch only)")
	patience := fs.intFlag("early-stopping", 0, 0, 1_000_000, "stop after N epochs without val_loss improvement (0: off)")
	restoreBest := fs.Bool("restore-best", false, "end with the weights of the best epoch (by val_loss)")
	backendName := fs.String("backend", "", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)")
	jsonOut := fs.Bool("json", false, "end with one JSON object summarising the run on stdout")
	fs.require("run")
	fs.checkBatch(batch, size)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		return usagef("-seed 0: use a non-zero seed (0 means the default, %d, in the library)", defaults.Seed)
	}
	dataDir, err := download.ResolveData(*data, *cacheDir, os.Stderr)
	if err != nil {
		return err
	}
	cfg := learner.Config{
		Data: dataDir, Weights: *weightsSpec, RunDir: *runDir, CacheDir: *cacheDir,
		Mode: *mode, ImageSize: *size, AugmentCopies: *copies, Backend: *backendName,
		FineTuneLR: *fineTuneLR, FineTuneEpochs: *fineTuneEpochs,
		Config: head.Config{Kind: head.Kind(*headKind), Dropout: *dropout},
		Options: trainer.Options{Epochs: *epochs, BatchSize: *batch, LearningRate: *lr, Seed: *seed,
			CheckpointSteps: *ckptSteps, EarlyStopping: *patience, RestoreBest: *restoreBest,
			Progress: os.Stderr, Log: os.Stderr},
	}
	if *mode == learner.ModeAugment || *fineTune != "" {
		cfg.Augment = learner.ArticleAugmentation(*seed)
	}
	res, err := learner.Run(cfg, *fineTune)
	if err != nil {
		return err
	}
	if res.Eval != nil {
		fmt.Fprintf(os.Stderr, "\n%s", res.Eval.String())
	}
	f := res.Final
	fmt.Fprintf(os.Stderr, "trained %s head: %d epochs, %d steps in %.0fs: val_accuracy %.4f, val_loss %.4f (run %s)\n",
		res.Head.Kind, res.Epochs, res.Steps, res.Seconds, f.ValAccuracy, f.ValLoss, res.RunDir)
	if *jsonOut {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	return nil
}
