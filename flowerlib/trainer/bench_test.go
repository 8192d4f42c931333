package trainer_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// Figures of the seed's training set: 2936 training and 734 validation images, batch 32.
const (
	benchTrain = 2936
	benchValid = 734
	benchBatch = 32
)

// TestBenchHeadEpoch prints the time per epoch on cached features for the flatten and the
// pooled head, extrapolated from a few timed steps (speed does not depend on the values):
// epoch = 92 training steps + 23 validation batches, next to PyTorch 1.13 CPU's figure for the
// same head, run in the same invocation when /usr/bin/python3 has torch. Run it with
//
//	GOEXPERIMENT=simd FLOWERS_BENCH=1 go test -run TestBenchHeadEpoch -v ./flowerlib/trainer/
func TestBenchHeadEpoch(t *testing.T) {
	if os.Getenv("FLOWERS_BENCH") == "" {
		t.Skip("set FLOWERS_BENCH=1 to run the head benchmark (about 1-2 minutes)")
	}
	type row struct {
		name             string
		kind             head.Kind
		steps            int
		goStep, goEval   float64
		torchStep, epoch float64
		torchEpoch       float64
	}
	rows := []*row{{name: "flatten (seed)", kind: head.Flatten, steps: 4}, {name: "pooled (avg)", kind: head.Avg, steps: 20}}
	if os.Getenv("FLOWERS_BENCH_POOLED_ONLY") != "" {
		rows = rows[1:]
	}
	for _, r := range rows {
		cfg := head.Config{Kind: r.kind}.Defaults()
		dims := cfg.InputDims()
		size := cfg.InputSize()
		rng := rand.New(rand.NewPCG(1, 2))
		d := &trainer.ArrayData{Dims: dims, X: make([]float32, 2*benchBatch*size), Y: make([]int32, 2*benchBatch)}
		for i := range d.X {
			d.X[i] = rng.Float32() * 4
		}
		for i := range d.Y {
			d.Y[i] = int32(i % 5)
		}
		tr := newHeadTrainer(t, t.TempDir(), cfg, trainer.Options{BatchSize: benchBatch})
		idx := make([]int, benchBatch)
		for i := range idx {
			idx[i] = i
		}
		if _, _, err := tr.TrainStep(d, idx, 0); err != nil { // compile + first touch
			t.Fatal(err)
		}
		start := time.Now()
		for s := 0; s < r.steps; s++ {
			for i := range idx {
				idx[i] = (s*benchBatch + i) % d.Len()
			}
			if _, _, err := tr.TrainStep(d, idx, 0); err != nil {
				t.Fatal(err)
			}
		}
		r.goStep = time.Since(start).Seconds() / float64(r.steps)
		ev := &trainer.ArrayData{Dims: dims, X: d.X[:benchBatch*size], Y: d.Y[:benchBatch]}
		if _, err := tr.Evaluate(ev); err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if _, err := tr.Evaluate(ev); err != nil {
			t.Fatal(err)
		}
		r.goEval = time.Since(start).Seconds()
		r.epoch = float64(trainer.StepsPerEpoch(benchTrain, benchBatch))*r.goStep + float64(trainer.StepsPerEpoch(benchValid, benchBatch))*r.goEval
		fmt.Printf("%s: GoMLX %.3f s/step, %.3f s per validation batch → %.1f s/epoch\n", r.name, r.goStep, r.goEval, r.epoch)
		r.torchStep = torchStep(t, r.kind, r.steps)
		if r.torchStep > 0 {
			r.torchEpoch = float64(trainer.StepsPerEpoch(benchTrain, benchBatch)) * r.torchStep
		}
	}
	fmt.Printf("\nHead training on cached features: %d training images (+%d validation), batch %d; epoch extrapolated from timed steps\n",
		benchTrain, benchValid, benchBatch)
	fmt.Printf("%-16s %12s %12s %16s %16s\n", "head", "s/step", "s/epoch", "PyTorch s/step", "PyTorch s/epoch")
	for _, r := range rows {
		ts, te := "-", "-"
		if r.torchStep > 0 {
			ts, te = fmt.Sprintf("%.3f", r.torchStep), fmt.Sprintf("%.1f", r.torchEpoch)
		}
		fmt.Printf("%-16s %12.3f %12.1f %16s %16s\n", r.name, r.goStep, r.epoch, ts, te)
	}
}

// torchStep times the same head in PyTorch (seconds per step), or 0 when torch is missing.
func torchStep(t *testing.T, kind head.Kind, steps int) float64 {
	if _, err := os.Stat("/usr/bin/python3"); err != nil || os.Getenv("FLOWERS_BENCH_TORCH") == "0" {
		return 0
	}
	k := "pooled"
	if kind == head.Flatten {
		k = "flatten"
		steps = 2
	}
	out, err := exec.Command("/usr/bin/python3", "testdata/torch_head_bench.py", k, strconv.Itoa(steps)).CombinedOutput()
	if err != nil {
		t.Logf("PyTorch reference not run: %v: %s", err, out)
		return 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "seconds_per_step "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
