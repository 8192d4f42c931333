package resnet50

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/internal/sgemm"
)

// The go backend's host path (hostNet with sgemm) against the GoMLX graph on the same backend
// ($FLOWERS_BASE=graph), for every kind of output NewBase offers and at sizes whose maps have
// edge tiles. The graph is itself checked against PyTorch (TestGoldenFeatures) and Keras.
func TestHostMatchesGraph(t *testing.T) {
	t.Logf("sgemm kernel: %s", sgemm.Kernel())
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
			run := func(base string) []float32 {
				t.Setenv(EnvBase, base)
				ex, err := NewBase(goBackend(t), testWeights, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer ex.Finalize()
				if (ex.host != nil) != (base == "host") {
					t.Fatalf("%s=%s: host path %v", EnvBase, base, ex.host != nil)
				}
				var out []float32
				for range 2 { // the second pass reuses the first one's buffers
					if out, err = ex.ExtractFloats(x, tc.n, h, w); err != nil {
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
			t.Logf("max |host − graph| / max |graph| = %.2g", worst/scale)
			if worst > 1e-5*scale || scale == 0 { // measured: 3e-7 to 8e-7 (float32 summation order)
				t.Errorf("max |host − graph| = %g, max |graph| = %g", worst, scale)
			}
		})
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
}
