package conv

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
)

// TestConvFormsSpeed times one stage-2 3×3 convolution (batch 8, 56×56×64, "same") in each
// formulation; it runs only with FLOWERS_SPEED_FORMS=1.
func TestConvFormsSpeed(t *testing.T) {
	if os.Getenv("FLOWERS_SPEED_FORMS") == "" {
		t.Skip("set FLOWERS_SPEED_FORMS=1 to run")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(rng, 8, 56, 56, 64)
	k := randTensor(rng, 3, 3, 64, 64)
	b := randTensor(rng, 64)
	prev := SetMode(Fast)
	defer SetMode(prev)
	prevOverhead := MaxWideOverhead
	defer func() { MaxWideOverhead = prevOverhead }()
	x1 := randTensor(rng, 8, 230, 230, 3)
	k1 := randTensor(rng, 7, 7, 3, 64)
	conv1 := func(x, k, b *graph.Node) *graph.Node { return Conv2D(x, k, b, 2) }
	exec1, err := graph.NewExec(goBackend(t), conv1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		start, startCPU, startFlt := time.Now(), cpuTime(), minFlt()
		out, err := exec1.Exec(x1, k1, b)
		if err != nil {
			t.Fatal(err)
		}
		out[0].FinalizeAll()
		if i > 0 {
			t.Logf("conv1 7x7/2 batch 8: wall %s, CPU %s, minor page faults %d", time.Since(start), cpuTime()-startCPU, minFlt()-startFlt)
		}
	}
	exec1.Finalize()
	if os.Getenv("FLOWERS_SPEED_FORMS") == "conv1" {
		return
	}
	for _, form := range []struct {
		name     string
		overhead float64
		fn       func(x, k, b *graph.Node) *graph.Node
	}{
		{"pad-only", 0, func(x, k, b *graph.Node) *graph.Node { return ZeroPad2D(x, 1) }},
		{"graph.Pad", 0, func(x, k, b *graph.Node) *graph.Node { return pad1(x) }},
		{"im2col-only", 0, func(x, k, b *graph.Node) *graph.Node { return Im2Col(ZeroPad2D(x, 1), 3, 3, 1) }},
		{"im2col", 0, func(x, k, b *graph.Node) *graph.Node { return Conv2D(ZeroPad2D(x, 1), k, b, 1) }},
		{"wide", 100, func(x, k, b *graph.Node) *graph.Node { return Conv2D(ZeroPad2D(x, 1), k, b, 1) }},
		{"1x1-matmul-only", 0, func(x, k, b *graph.Node) *graph.Node {
			return graph.DotGeneral(x, []int{3}, nil, graph.Reshape(graph.Slice(k, graph.AxisElem(0), graph.AxisElem(0)), 64, 64), []int{0}, nil)
		}},
	} {
		MaxWideOverhead = form.overhead
		exec, err := graph.NewExec(goBackend(t), form.fn)
		if err != nil {
			t.Fatal(err)
		}
		var best, bestCPU time.Duration
		for i := range 6 {
			start, startCPU := time.Now(), cpuTime()
			out, err := exec.Exec(x, k, b)
			if err != nil {
				t.Fatal(err)
			}
			out[0].FinalizeAll()
			if d := time.Since(start); i > 0 && (best == 0 || d < best) {
				best = d
			}
			if d := cpuTime() - startCPU; i > 0 && (bestCPU == 0 || d < bestCPU) {
				bestCPU = d
			}
		}
		exec.Finalize()
		t.Logf("%-16s best wall %s, best CPU (user+sys) %s", form.name, best, bestCPU)
	}
}

func pad1(x *graph.Node) *graph.Node {
	return graph.Pad(x, graph.ScalarZero(x.Graph(), x.DType()),
		padAxis(0), padAxis(1), padAxis(1), padAxis(0))
}

func padAxis(n int) compute.PadAxis { return compute.PadAxis{Start: n, End: n} }

// cpuTime is this process's user+system CPU time: less sensitive than wall time to the other
// jobs sharing the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func minFlt() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}
