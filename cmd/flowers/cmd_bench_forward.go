package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	benchmarks "github.com/janpfeifer/go-benchmarks"
	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/gomlx/core/tensors"
)

// runForward measures the frozen ResNet50 forward (avg pooling) at each batch size: every
// flowerlib backend, then each reference, batch by batch (the same machine state per batch).
func (c *benchConfig) runForward() error {
	type compiled struct {
		name   string
		base   *resnet50.Base
		fast   bool
		onHost bool
	}
	var execs []compiled
	for _, name := range c.backends {
		b, err := backend.New(name, c.progress)
		if err != nil { // report, measure the others, fail at the end
			fmt.Fprintf(os.Stderr, "flowers bench: %v\n", err)
			c.failed = append(c.failed, name)
			continue
		}
		// The frozen base as every command runs it (resnet50.NewBase: on CPU backends, its host path).
		base, err := resnet50.NewBase(b, c.weights, resnet50.Options{Pooling: resnet50.PoolingAvg, Height: c.size, Width: c.size})
		if err != nil {
			return errors.WithMessagef(err, "backend %s", name)
		}
		defer base.Finalize()
		execs = append(execs, compiled{name, base, c.convMode == "fast" || (c.convMode != "native" && backend.IsGo(b)), resnet50.RunsOnHost(b)})
	}
	for _, batch := range c.batches {
		cas := fmt.Sprintf("batch %d", batch)
		for _, e := range execs {
			r, err := benchGoMLX(e.base.Extract, e.name, batch, c.size, c.seed, c.duration, c.progress)
			if err != nil {
				return errors.WithMessagef(err, "backend %s, batch %d", e.name, batch)
			}
			r.Case, r.BFloat16, r.ConvPath = cas, c.bf16, map[bool]string{true: "fast", false: "native"}[e.fast]
			r.FrozenBase = map[bool]string{true: "host", false: "graph"}[e.onHost]
			c.add(r)
		}
		c.refTask("forward", cas, batch, map[string]any{"batch": batch, "size": c.size, "duration": c.duration.Seconds()})
	}
	return nil
}

// benchGoMLX measures extract on one batch of random 0..255 images with go-benchmarks
// (one warm-up run, which also compiles; then timed runs for duration).
func benchGoMLX(extract func(*tensors.Tensor) (*tensors.Tensor, error), name string, batch, size int, seed int64, duration time.Duration, progress io.Writer) (benchResult, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(batch)))
	data := make([]float32, batch*size*size*3)
	for i := range data {
		data[i] = 255 * rng.Float32()
	}
	images := tensors.FromFlatDataAndDimensions(data, batch, size, size, 3)
	defer images.FinalizeAll()
	startMeasure()

	var runErr error
	var times []time.Duration
	run := func() {
		if runErr != nil {
			return
		}
		start := time.Now()
		out, err := extract(images)
		if err != nil {
			runErr = err
			return
		}
		if got := out.Shape().Dimensions; len(got) != 2 || got[0] != batch || got[1] != resnet50.FeatureChannels {
			runErr = errors.Errorf("unexpected output shape %s", out.Shape())
		}
		_ = out.FinalizeAll()
		times = append(times, time.Since(start))
	}
	compileStart := time.Now()
	run() // warm-up: builds and compiles the graph for this shape, creates the variables
	if runErr != nil {
		return benchResult{}, runErr
	}
	compile := time.Since(compileStart)
	times = times[:0]
	startUsage := getRusage()

	// go-benchmarks prints its table on os.Stdout: point it at the progress writer.
	stdout := os.Stdout
	if f, ok := progress.(*os.File); ok {
		os.Stdout = f
	}
	benchmarks.New(benchmarks.NamedFunction{
		Name: fmt.Sprintf("flowerlib/%s/batch=%d", name, batch),
		Func: run,
	}).WithWarmUps(0).WithDuration(duration).WithQuantiles(5, 95).Done()
	os.Stdout = stdout
	if runErr != nil {
		return benchResult{}, runErr
	}
	endUsage := getRusage()
	med := median(times)
	return benchResult{
		Task:           "forward",
		Batch:          batch,
		Impl:           "flowerlib " + name,
		Backend:        name,
		ImagesPerSec:   float64(batch) / med.Seconds(),
		PeakRSSMiB:     peakRSSMiB(),
		Iterations:     len(times),
		CompileSeconds: compile.Seconds(),
		CPUPerImage:    (endUsage.cpu - startUsage.cpu).Seconds() / float64(batch*len(times)),
		FaultsPerRun:   float64(endUsage.minFlt-startUsage.minFlt) / float64(len(times)),
	}, nil
}

// runPhotos measures the photos end to end, cold, as `flowers features` runs them
// (features.Extract): decode (parallel, overlapping the base), resize to -size, pooled
// features at batch 32, graph compilation included.
func (c *benchConfig) runPhotos() error {
	paths, err := datasetPaths(c.dataDir)
	if err != nil {
		return err
	}
	cas := fmt.Sprintf("%d photos", len(paths))
	const batch = 32
	for _, name := range c.backends {
		b, err := backend.New(name, c.progress)
		if err != nil {
			c.failed = append(c.failed, name)
			continue
		}
		startMeasure()
		u0, start := getRusage(), time.Now()
		ex, err := resnet50.NewBase(b, c.weights, resnet50.Options{Pooling: resnet50.PoolingAvg, Height: c.size, Width: c.size})
		if err != nil {
			return err
		}
		n := 0
		failures, err := features.Extract(ex, paths, features.Options{Size: c.size, BatchSize: batch}, func(indices []int, _ []float32) error {
			n += len(indices)
			return nil
		})
		ex.Finalize()
		if err != nil {
			return err
		}
		if n != len(paths) {
			return errors.Errorf("photos: %d of %d decoded (%v)", n, len(paths), failures)
		}
		secs := time.Since(start).Seconds()
		c.add(benchResult{Task: "photos", Case: cas, Batch: batch, Impl: "flowerlib " + name, Backend: name,
			ImagesPerSec: float64(n) / secs, CPUPerImage: (getRusage().cpu - u0.cpu).Seconds() / float64(n),
			PeakRSSMiB: peakRSSMiB(), Seconds: secs})
	}
	c.refTask("photos", cas, batch, map[string]any{"paths": paths, "size": c.size, "batch": batch})
	return nil
}
