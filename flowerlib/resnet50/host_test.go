package resnet50

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/internal/sgemm"
	"github.com/flowerlib/flowers/flowerlib/internal/winograd"
	"github.com/flowerlib/flowers/internal/testdata"
	"github.com/gomlx/compute"
)

// The go backend's host path (hostNet with sgemm) against the GoMLX graph on the same backend
// ($FLOWERS_BASE=graph), for every kind of output NewBase offers and at sizes whose maps have
// edge tiles. The graph is itself checked against PyTorch (TestGoldenFeatures) and Keras.
func TestHostMatchesGraph(t *testing.T) {
	t.Logf("sgemm kernel: %s; frozen base: %s", sgemm.Kernel(), BasePath(true, false))
	cases := []struct {
		opts Options
		n    int
	}{
		{Options{Pooling: PoolingAvg}, 3},
		{Options{Pooling: PoolingMax, Height: 72, Width: 40}, 2},
		{Options{Height: 64, Width: 64}, 1},
		{Options{Pooling: PoolingAvg, Outputs: StageOutputs, Height: 48, Width: 48}, 2},
		{Options{StopAt: "conv4_block6_out", Height: 64, Width: 96}, 2},
	}
	for _, tc := range cases {
		h, w := tc.opts.size()
		t.Run(fmt.Sprintf("%s_%dx%d_pool%s_outputs%d_stop%s", "n"+fmt.Sprint(tc.n), h, w, tc.opts.Pooling, len(tc.opts.Outputs), tc.opts.StopAt), func(t *testing.T) {
			x := randomImages(11, tc.n, h, w)
			compareHostGraph(t, goBackend(t), tc.opts, x, tc.n, h, w)
		})
	}
}

// On XLA's CPU plugin NewBase runs the frozen base on the host too (faster than XLA's
// convolutions where sgemm has a vector kernel), with the graph's results.
func TestHostOnXLACPU(t *testing.T) {
	if !backend.HasXLACPU() {
		testdata.Need(t, "no XLA CPU PJRT plugin (flowers setup, or source .ci/venv.sh)")
	}
	b := backend.MustNew("xla:cpu", nil)
	if !backend.IsXLACPU(b) || backend.IsXLACPU(goBackend(t)) {
		t.Fatalf("backend.IsXLACPU: %v on xla:cpu, %v on go", backend.IsXLACPU(b), backend.IsXLACPU(goBackend(t)))
	}
	onHost := sgemm.Kernel() != "go"
	if got := RunsOnHost(b); got != onHost {
		t.Fatalf("RunsOnHost(xla:cpu) = %v with sgemm kernel %s, want %v", got, sgemm.Kernel(), onHost)
	}
	if !onHost {
		t.Skipf("sgemm has no vector kernel on this CPU: xla:cpu keeps its graph")
	}
	opts := Options{Pooling: PoolingAvg, Height: 64, Width: 64}
	compareHostGraph(t, b, opts, randomImages(12, 2, 64, 64), 2, 64, 64)
}

// compareHostGraph runs NewBase on b with $FLOWERS_BASE=host and =graph and compares the
// outputs (within 1e-5 of the graph's largest value; measured 3e-7 to 8e-7).
func compareHostGraph(t *testing.T, b compute.Backend, opts Options, x []float32, n, h, w int) {
	t.Helper()
	run := func(base string) []float32 {
		t.Setenv(EnvBase, base)
		ex, err := NewBase(b, testWeights, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Finalize()
		if (ex.host != nil) != (base == "host") {
			t.Fatalf("%s=%s: host path %v", EnvBase, base, ex.host != nil)
		}
		var out []float32
		for range 2 { // the second pass reuses the first one's buffers
			if out, err = ex.ExtractFloats(x, n, h, w); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	got, want := run("host"), run("graph")
	if len(got) != len(want) {
		t.Fatalf("host gave %d values, graph %d", len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	worst := 0.0
	for i := range want {
		worst = max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("%s: max |host − graph| / max |graph| = %.2g", b.Name(), worst/scale)
	if worst > 1e-5*scale || scale == 0 {
		t.Errorf("max |host − graph| = %g, max |graph| = %g", worst, scale)
	}
}

// Winograd's 3×3 convolutions (where this build vectorizes their transforms) against the
// direct ones, both on the host, at batch 1 and 2; a batch's images give the results they give
// alone (the tiles are independent). TestHostMatchesGraph checks the default against the graph.
func TestHostWinograd(t *testing.T) {
	if !winograd.Vector() {
		t.Skipf("no vector transforms in this build (amd64 with GOEXPERIMENT=simd has them): hostNet runs every convolution directly")
	}
	t.Setenv(EnvBase, "host")
	w := RandomWeights(3, false)
	x := randomImages(13, 2, DefaultSize, DefaultSize)
	run := func(setting string, n int) []float32 {
		t.Setenv(EnvWinograd, setting)
		ex, err := NewBase(goBackend(t), w, Options{Pooling: PoolingAvg})
		if err != nil {
			t.Fatal(err)
		}
		defer ex.Finalize()
		out, err := ex.ExtractFloats(x[:n*DefaultSize*DefaultSize*3], n, DefaultSize, DefaultSize)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var alone []float32
	for _, n := range []int{1, 2} {
		got, want := run("on", n), run("off", n)
		if n == 1 {
			alone = got
		} else if !slices.Equal(got[:len(alone)], alone) {
			t.Errorf("the first image's features differ at batch 1 and 2")
		}
		scale, worst := 0.0, 0.0
		for i := range want {
			scale = max(scale, math.Abs(float64(want[i])))
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("batch %d: max |winograd − direct| / max |direct| = %.2g", n, worst/scale)
		if worst > 1e-5*scale || scale == 0 {
			t.Errorf("batch %d: max |winograd − direct| = %g, max |direct| = %g", n, worst, scale)
		}
	}
	t.Setenv(EnvWinograd, "on")
	if got := BasePath(true, false); !strings.Contains(got, "Winograd") {
		t.Errorf("BasePath with %s=on: %q does not say Winograd", EnvWinograd, got)
	}
	t.Setenv(EnvWinograd, "off")
	if got := BasePath(true, false); strings.Contains(got, "Winograd") {
		t.Errorf("BasePath with %s=off: %q", EnvWinograd, got)
	}
}

func TestHostRefusesFusedOutputs(t *testing.T) {
	t.Setenv(EnvBase, "host")
	_, err := NewBase(goBackend(t), testWeights, Options{StopAt: "conv4_block6_3_bn"})
	if err == nil || !strings.Contains(err.Error(), "conv4_block6_3_bn") || !strings.Contains(err.Error(), "Activation") {
		t.Errorf("StopAt a fused BatchNorm: got %v, want an error naming it and what to ask for", err)
	}
	t.Setenv(EnvBase, "gpu")
	if _, err := NewBase(goBackend(t), testWeights, Options{}); err == nil || !strings.Contains(err.Error(), EnvBase) {
		t.Errorf("%s=gpu: got %v, want an error naming the variable", EnvBase, err)
	}
	t.Setenv(EnvBase, "host")
	t.Setenv(EnvWinograd, "fast")
	if _, err := NewBase(goBackend(t), testWeights, Options{}); err == nil || !strings.Contains(err.Error(), EnvWinograd) {
		t.Errorf("%s=fast: got %v, want an error naming the variable", EnvWinograd, err)
	}
}
