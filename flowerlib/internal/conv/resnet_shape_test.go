package conv

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// resnetShaped is a ResNet50-shaped network (Keras v1 layout: biased convolutions, BN, stride on
// the first 1×1 of stages 3–5, avg pooling) built only from this package's functions, so the
// fast path can be measured and profiled independently of flowerlib/resnet50.
// Weights are graph inputs, in the order layers() lists them (kernel, bias, γ, β, μ, σ² each).
type resnetShaped struct{ layers []convSpec }

type convSpec struct{ k, cIn, cOut int }

func newResnetShaped() *resnetShaped {
	r := &resnetShaped{}
	r.layers = append(r.layers, convSpec{7, 3, 64})
	cIn := 64
	for _, st := range []struct{ f, n int }{{64, 3}, {128, 4}, {256, 6}, {512, 3}} {
		for i := range st.n {
			if i == 0 {
				r.layers = append(r.layers, convSpec{1, cIn, 4 * st.f})
			}
			r.layers = append(r.layers, convSpec{1, cIn, st.f}, convSpec{3, st.f, st.f}, convSpec{1, st.f, 4 * st.f})
			cIn = 4 * st.f
		}
	}
	return r
}

// weights returns seeded He-normal kernels and mild BN statistics, as tensors.
func (r *resnetShaped) weights(seed uint64) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*tensors.Tensor
	vec := func(n int, lo, hi float32) *tensors.Tensor {
		v := make([]float32, n)
		for i := range v {
			v[i] = lo + (hi-lo)*rng.Float32()
		}
		return tensors.FromFlatDataAndDimensions(v, n)
	}
	for i, l := range r.layers {
		k := make([]float32, l.k*l.k*l.cIn*l.cOut)
		std := math.Sqrt(2 / float64(l.k*l.k*l.cIn))
		if i == 0 {
			std /= 64
		}
		for j := range k {
			k[j] = float32(rng.NormFloat64() * std)
		}
		out = append(out, tensors.FromFlatDataAndDimensions(k, l.k, l.k, l.cIn, l.cOut),
			vec(l.cOut, -0.05, 0.05), vec(l.cOut, 0.2, 0.4), vec(l.cOut, -0.1, 0.1), vec(l.cOut, -0.1, 0.1), vec(l.cOut, 0.5, 1.5))
	}
	return out
}

func pad(x *graph.Node, n int) *graph.Node { return ZeroPad2D(x, n) }

// forward maps images [batch, h, w, 3] (already preprocessed) to pooled features [batch, 2048].
func (r *resnetShaped) forward(inputs []*graph.Node) *graph.Node {
	x, w := inputs[0], inputs[1:]
	li := 0
	conv := func(x *graph.Node, stride int, withReLU bool) *graph.Node {
		p := w[6*li : 6*li+6]
		bn := BatchNorm{p[2], p[3], p[4], p[5], 1.001e-5}
		if r.layers[li].k == 3 {
			x = pad(x, 1)
		}
		li++
		if withReLU {
			return Conv2DBatchNormReLU(x, p[0], p[1], bn, stride)
		}
		return Conv2DBatchNorm(x, p[0], p[1], bn, stride)
	}
	x = conv(pad(x, 3), 2, true)
	x = MaxPool2D(pad(x, 1), 3, 2)
	for s, n := range []int{3, 4, 6, 3} {
		for i := range n {
			stride := 1
			if i == 0 && s > 0 {
				stride = 2
			}
			shortcut := x
			if i == 0 {
				shortcut = conv(x, stride, false)
			}
			y := conv(x, stride, true)
			y = conv(y, 1, true)
			y = conv(y, 1, false)
			x = relu(graph.Add(shortcut, y))
		}
	}
	return graph.ReduceMean(x, 1, 2)
}

// TestResNetShapedFastMatchesNative runs the whole ResNet50-shaped net through both paths at a
// small size (the native path takes seconds even there).
func TestResNetShapedFastMatchesNative(t *testing.T) {
	if testing.Short() {
		t.Skip("native ResNet50 forward is slow")
	}
	r := newResnetShaped()
	args := []any{randImages(2, 64, 3)}
	for _, w := range r.weights(1) {
		args = append(args, w)
	}
	want := execIn(t, Native, r.forward, args...)[0]
	got := execIn(t, Fast, r.forward, args...)[0]
	d := relDiff(got, want)
	t.Logf("ResNet50-shaped, 2×64×64: fast vs native features relative difference %.3g", d)
	if d > 1e-4 {
		t.Fatalf("relative difference %.3g > 1e-4", d)
	}
}

// randImages returns preprocessed-like images: uniform in [-128, 128).
func randImages(batch, size int, seed uint64) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 2))
	data := make([]float32, batch*size*size*3)
	for i := range data {
		data[i] = 256*rng.Float32() - 128
	}
	return tensors.FromFlatDataAndDimensions(data, batch, size, size, 3)
}

// TestResNetShapedSpeed prints images/s of the fast path at 224² (FLOWERS_SPEED_BATCH, default
// 8); it runs only when FLOWERS_SPEED_BATCH is set. Profile it with
// -cpuprofile to see where the time goes without flowerlib/resnet50.
func TestResNetShapedSpeed(t *testing.T) {
	batch, _ := strconv.Atoi(os.Getenv("FLOWERS_SPEED_BATCH"))
	if batch == 0 {
		t.Skip("set FLOWERS_SPEED_BATCH to run")
	}
	r := newResnetShaped()
	args := []any{randImages(batch, 224, 3)}
	for _, w := range r.weights(1) {
		args = append(args, w)
	}
	prev := SetMode(Fast)
	defer SetMode(prev)
	if v, err := strconv.ParseFloat(os.Getenv("FLOWERS_SPEED_WIDE_MAX"), 64); err == nil {
		prevWide := MaxWideOverhead
		MaxWideOverhead = v
		defer func() { MaxWideOverhead = prevWide }()
	}
	exec, err := graph.NewExec(goBackend(t), r.forward)
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	var best, bestCPU time.Duration
	for i := range 4 {
		start, startCPU := time.Now(), cpuTime()
		out, err := exec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		elapsed, cpu := time.Since(start), cpuTime()-startCPU
		out[0].FinalizeAll()
		if i > 0 && (best == 0 || elapsed < best) {
			best = elapsed
		}
		if i > 0 && (bestCPU == 0 || cpu < bestCPU) {
			bestCPU = cpu
		}
	}
	t.Logf("ResNet50-shaped fast path (MaxWideOverhead %.2f), batch %d: best %s (%.2f images/s), best CPU %.3f s/image",
		MaxWideOverhead, batch, best, float64(batch)/best.Seconds(), bestCPU.Seconds()/float64(batch))
}
