package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/train"
)

func init() {
	register("train", "train the seed's head on the frozen ResNet50 (resumable)", runTrain)
}

func runTrain(args []string) error {
	fs := newFlags("train", "-data DIR -weights imagenet|FILE|random[:SEED] -run DIR [flags]")
	data := fs.String("data", "", "dataset root: one sub-folder of images per class (default $FLOWERS_DATA, else flower_photos.tgz downloaded once into the cache)")
	weightsSpec := fs.String("weights", "imagenet", "ResNet50 weights: imagenet (downloaded once), a Keras .h5 file, or random[:SEED] (offline; NOT ImageNet)")
	runDir := fs.String("run", "", "run directory: checkpoints, history, run.json (required); an existing run resumes")
	cacheDir := fs.String("cache", train.DefaultCacheDir(), "cache directory for features and weights ($FLOWERS_CACHE)")
	epochs := fs.Int("epochs", 30, "epochs")
	batch := fs.Int("batch", 32, "batch size")
	headKind := fs.String("head", "flatten", "head: flatten (the seed: Flatten over 7×7×2048), avg or max (pooled 2048 features)")
	dropout := fs.Float64("dropout", 0, "dropout rate after each hidden Dense (0: none, as the seed)")
	mode := fs.String("mode", "cached", "cached (base run once, features cached) or augment (augmented images through the base every epoch)")
	copies := fs.Int("augment-copies", 0, "augment mode: cache this many augmented copies ahead and cycle through them")
	lr := fs.Float64("lr", 1e-3, "Adam learning rate (Keras default 1e-3)")
	seed := fs.Int64("seed", 42, "seed of the split, shuffling and initialisation")
	size := fs.Int("size", 224, "image size")
	fineTune := fs.String("fine-tune", "", "after the head, unfreeze the base from this layer prefix (e.g. conv5) and train both on images")
	fineTuneLR := fs.Float64("fine-tune-lr", 1e-5, "learning rate of the fine-tuning phase")
	fineTuneEpochs := fs.Int("fine-tune-epochs", 5, "epochs of the fine-tuning phase")
	ckptSteps := fs.Int("checkpoint-steps", 0, "also checkpoint every N steps (0: after each epoch only)")
	patience := fs.Int("early-stopping", 0, "stop after N epochs without val_loss improvement (0: off)")
	restoreBest := fs.Bool("restore-best", false, "end with the weights of the best epoch (by val_loss)")
	backendName := fs.String("backend", "", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)")
	jsonOut := fs.Bool("json", false, "end with one JSON object summarising the run on stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runDir == "" {
		fs.Usage()
		return fmt.Errorf("-run is required")
	}
	dataDir, err := download.ResolveData(*data, *cacheDir, os.Stderr)
	if err != nil {
		return err
	}
	cfg := train.Config{
		Data: dataDir, Weights: *weightsSpec, RunDir: *runDir, CacheDir: *cacheDir,
		Head: head.Config{Kind: head.Kind(*headKind), Dropout: *dropout, Seed: *seed},
		Mode: *mode, Epochs: *epochs, BatchSize: *batch, LearningRate: *lr, Seed: *seed, ImageSize: *size,
		AugmentCopies: *copies, FineTune: *fineTune, FineTuneLR: *fineTuneLR, FineTuneEpochs: *fineTuneEpochs, CheckpointSteps: *ckptSteps, EarlyStopping: *patience, RestoreBest: *restoreBest,
		Backend: *backendName, Progress: os.Stderr, Log: os.Stderr,
	}
	if *mode == train.ModeAugment || *fineTune != "" {
		cfg.Augment = train.SeedAugment(*seed)
	}
	res, err := train.Run(cfg)
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
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(res)
	}
	return nil
}
