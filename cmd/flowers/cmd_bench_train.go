package main

// The training tasks of flowers bench, on flowerlib/trainer (the head step, as flowerlib/learner
// assembles it for cached features) and flowerlib/learner (augment mode, fine-tuning).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/ml/model"
)

// benchHeadBatch is the article's batch size.
const benchHeadBatch = 32

// runHead measures one Adam step of the article's head on cached features (random values: the
// speed does not depend on them), batch 32: the Flatten head (7×7×2048 inputs, 208M
// parameters) and the pooled one (2048 inputs).
func (c *benchConfig) runHead() error {
	for _, kind := range c.headKinds {
		dims := []int{head.FeatureGrid, head.FeatureGrid, head.FeatureChannels} // the Flatten head's
		if kind == "pooled" {
			dims = []int{head.FeatureChannels}
		}
		for _, name := range c.backends {
			r, err := c.flowerlibHeadStep(name, dims)
			if err != nil {
				fmt.Fprintf(os.Stderr, "flowers bench: head %s on %s: %v\n", kind, name, err)
				c.failed = append(c.failed, "head "+kind+" on "+name)
				continue
			}
			r.Case = kind
			c.add(r)
		}
		c.refTask("head", kind, benchHeadBatch, map[string]any{"kind": kind, "batch": benchHeadBatch,
			"duration": c.duration.Seconds(), "min_steps": 2})
	}
	return nil
}

func (c *benchConfig) flowerlibHeadStep(name string, dims []int) (benchResult, error) {
	b, err := backend.New(name, c.progress)
	if err != nil {
		return benchResult{}, err
	}
	startMeasure()
	const classes = 5
	fn := head.Article(classes, nil, 0)
	store := model.NewStore()
	if _, err := head.Init(b, store, fn, dims); err != nil {
		return benchResult{}, err
	}
	dir, err := os.MkdirTemp(c.tmp, "head-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	// The trainer learner.New builds for cached features.
	tr, err := trainer.New(trainer.Config{Backend: b, Store: store, RunDir: dir, Model: fn,
		Options: trainer.Options{BatchSize: benchHeadBatch}})
	if err != nil {
		return benchResult{}, err
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(uint64(c.seed), 2))
	size := 1
	for _, d := range dims {
		size *= d
	}
	d := &trainer.ArrayData{Dims: dims, X: make([]float32, benchHeadBatch*size), Y: make([]int32, benchHeadBatch)}
	for i := range d.X {
		d.X[i] = 4 * rng.Float32()
	}
	idx := make([]int, benchHeadBatch)
	for i := range idx {
		idx[i], d.Y[i] = i, int32(i%classes)
	}
	if _, _, err := tr.TrainStep(d, idx, 0); err != nil { // compiles, allocates Adam's moments
		return benchResult{}, err
	}
	var times []time.Duration
	u0, end := getRusage(), time.Now().Add(c.duration)
	for len(times) < 2 || time.Now().Before(end) {
		start := time.Now()
		if _, _, err := tr.TrainStep(d, idx, 0); err != nil {
			return benchResult{}, err
		}
		times = append(times, time.Since(start))
	}
	step := median(times).Seconds()
	return benchResult{Task: "head", Batch: benchHeadBatch, Impl: "flowerlib " + name, Backend: name,
		ImagesPerSec: benchHeadBatch / step, Seconds: step, Iterations: len(times), PeakRSSMiB: peakRSSMiB(),
		CPUPerImage: (getRusage().cpu - u0.cpu).Seconds() / float64(benchHeadBatch*len(times))}, nil
}

// runAugment measures an epoch of the article's augment mode on the photos: each epoch the
// training photos, augmented as the article's ImageDataGenerator, go through the frozen base,
// the Flatten head trains on them (batch 32, Adam) and a validation pass follows. The last
// of -epochs epochs is reported (the first includes graph compilation).
func (c *benchConfig) runAugment() error {
	return c.runEpochTask("augment", "", nil, func() learner.Config {
		return learner.Config{Run: config.Run{Pooling: "none", Mode: learner.ModeAugment, Augment: 1, Seed: 42, Epochs: c.epochs}}
	})
}

// runFineTune measures an epoch of fine-tuning: ResNet50's conv5 stage unfrozen and trained
// with the pooled head (Adam, lr 1e-5, batch 32) on the training photos (not augmented),
// then a validation pass, after one epoch of the head alone. The last of -epochs fine-tuning
// epochs is reported; flowerlib's pass of the frozen layers before the first epoch, as
// OnceSeconds.
func (c *benchConfig) runFineTune() error {
	return c.runEpochTask("finetune", "conv5", map[string]any{"stage": "conv5", "lr": 1e-5}, func() learner.Config {
		return learner.Config{Run: config.Run{Pooling: "avg", FineTune: "conv5", FineTuneEpochs: c.epochs, FineTuneLR: 1e-5, Epochs: 1}}
	})
}

// runEpochTask runs a training task that learner.Run does (config gives its settings; the
// data, weights, folders, size, batch and backend are set here) on each backend, timing the
// last epoch (of the fine-tuning phase when fineTune is set), then the references on the same
// split.
func (c *benchConfig) runEpochTask(task, fineTune string, refArgs map[string]any, config func() learner.Config) error {
	split, err := datasetSplit(c.dataDir)
	if err != nil {
		return err
	}
	n := len(split.Train) + len(split.Valid)
	cas := fmt.Sprintf("%d+%d photos", len(split.Train), len(split.Valid))
	if fineTune != "" {
		cas = fineTune + " + head, " + cas
	}
	for _, name := range c.backends {
		r, err := c.flowerlibEpoch(task, name, n, fineTune, config)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flowers bench: %s on %s: %v\n", task, name, err)
			c.failed = append(c.failed, task+" on "+name)
			continue
		}
		r.Case = cas
		c.add(r)
	}
	args := map[string]any{
		"train": prepare.Paths(split.Train), "train_labels": split.TrainCodes,
		"valid": prepare.Paths(split.Valid), "valid_labels": split.ValidCodes,
		"size": c.size, "batch": benchHeadBatch, "epochs": c.epochs}
	for k, v := range refArgs {
		args[k] = v
	}
	c.refTask(task, cas, benchHeadBatch, args)
	return nil
}

func (c *benchConfig) flowerlibEpoch(task, name string, n int, fineTune string, config func() learner.Config) (benchResult, error) {
	dir, err := os.MkdirTemp(c.tmp, task+"-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	startMeasure()
	var epochCPU []time.Duration
	last := getRusage().cpu
	cfg := config()
	cfg.Data, cfg.Weights, cfg.RunDir, cfg.Cache = c.dataDir, c.weightsPath, filepath.Join(dir, "run"), filepath.Join(dir, "cache")
	cfg.ImageSize, cfg.Backend, cfg.BatchSize = c.size, name, benchHeadBatch
	cfg.OnEpoch = func(trainer.History) { // CPU per epoch (after the epoch's checkpoint: it is included)
		now := getRusage().cpu
		epochCPU = append(epochCPU, now-last)
		last = now
	}
	res, err := learner.Run(cfg)
	if err != nil {
		return benchResult{}, err
	}
	hist := res.History
	if fineTune != "" {
		hist = res.FineTune
	}
	if len(hist) != c.epochs || len(epochCPU) == 0 {
		return benchResult{}, errors.Errorf("%s: %d epochs ran, want %d", task, len(hist), c.epochs)
	}
	secs := hist[c.epochs-1].Seconds
	return benchResult{Task: task, Batch: benchHeadBatch, Impl: "flowerlib " + name, Backend: name,
		ImagesPerSec: float64(n) / secs, Seconds: secs, Iterations: 1, PeakRSSMiB: peakRSSMiB(),
		CPUPerImage: epochCPU[len(epochCPU)-1].Seconds() / float64(n), OnceSeconds: res.Features["finetune_frozen"]}, nil
}
