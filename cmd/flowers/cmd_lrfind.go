package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

func init() {
	register("lr-find", "learning-rate range test of the head on the cached features (fastai's lr_find)", runLRFind)
}

func runLRFind(args []string) error {
	fs := newFlags("lr-find", "-data DIR -weights imagenet|FILE|random[:SEED] [-run DIR] [-plot FILE.png|.svg] [flags]", "")
	data := fs.String("data", "", "dataset root: one sub-folder of images per class (default $FLOWERS_DATA, else flower_photos.tgz downloaded once into the cache)")
	weightsSpec := fs.String("weights", "imagenet", "ResNet50 weights: imagenet (downloaded once), a Keras .h5 file, or random[:SEED] (offline; NOT ImageNet)")
	runDir := fs.String("run", "", "run folder to sweep in (its run.json is written: flowers train -run DIR -lr RATE then trains it); default a temporary one")
	cacheDir := fs.String("cache", defaults.CacheDir(), "cache folder for downloads, weights and features ($FLOWERS_CACHE)")
	batch := fs.intFlag("batch", defaults.BatchSize, 1, defaults.MaxBatchSize, "batch size")
	headKind := fs.choiceFlag("head", string(head.Flatten), []string{string(head.Flatten), string(head.Avg), string(head.Max)},
		"head: flatten (the article's), avg or max (pooled 2048 features)")
	dropout := fs.floatFlag("dropout", 0, 0, 0.99, false, "dropout rate after each hidden Dense")
	size := fs.intFlag("size", defaults.ImageSize, defaults.MinImageSize, defaults.MaxImageSize, "image size")
	seed := fs.Int64("seed", defaults.Seed, "seed of the split, the batches and the initialisation")
	start := fs.floatFlag("start", 1e-7, 0, 10, true, "learning rate of the first step")
	end := fs.floatFlag("end", 10, 0, 1000, true, "learning rate of the last step")
	steps := fs.intFlag("steps", 100, 2, 100_000, "steps of the sweep (it stops early once the loss diverges)")
	plot := fs.String("plot", "", "write the loss-vs-rate chart to this .png or .svg file")
	force := fs.forceFlag()
	backendName := fs.String("backend", "", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)")
	jsonOut := fs.Bool("json", false, "print the curve and the suggestions as one JSON object on stdout")
	fs.checkBatch(batch, size)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		return usagef("-seed 0: use a non-zero seed (0 means the default, %d, in the library)", defaults.Seed)
	}
	if *end <= *start {
		return usagef("-end %g must be greater than -start %g", *end, *start)
	}
	if *plot != "" {
		if err := checkFigureOutput("plot", *plot, *force); err != nil {
			return err
		}
	}
	dataDir, err := download.ResolveData(*data, *cacheDir, os.Stderr)
	if err != nil {
		return err
	}
	dir := *runDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "flowers-lr-find-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "run")
	}
	l, err := learner.New(learner.Config{Data: dataDir, Weights: *weightsSpec, RunDir: dir, CacheDir: *cacheDir, ImageSize: *size,
		Backend: *backendName, Config: head.Config{Kind: head.Kind(*headKind), Dropout: *dropout},
		Options: trainer.Options{BatchSize: *batch, Seed: *seed, Progress: os.Stderr, Log: os.Stderr}})
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.FindLR(trainer.LRFindOptions{Start: *start, End: *end, Steps: *steps})
	if err != nil {
		return err
	}
	if *plot != "" {
		if err := writeFigure(*plot, nb.LRFinderChart(r)); err != nil {
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
	fmt.Print(nb.TextTable([]string{"learning rate", "loss", "smoothed", ""}, rows))
	fmt.Printf("suggested learning rate %.1e (steepest descent of the smoothed loss); minimum at %.1e (a tenth of it: %.1e)\n",
		r.Steep, r.Minimum, r.Minimum/10)
	if *runDir != "" {
		fmt.Printf("train with it: flowers train -run %s -lr %.1e (with the same -data, -weights, -head, -size, -batch, -seed)\n", *runDir, r.Steep)
	}
	return nil
}
