package conv

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/internal/testdata"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// xlaBackend returns the xla:cpu backend, or skips when no XLA CPU plugin is installed
// (fails with CI=true: .ci/venv.sh installs one).
func xlaBackend(t testing.TB) compute.Backend {
	t.Helper()
	if !backend.HasXLACPU() {
		testdata.Need(t, "no XLA CPU PJRT plugin (flowers setup, or source .ci/venv.sh)")
	}
	return backend.MustNew("xla:cpu", nil)
}

// execOn is execIn on a given backend; tensor arguments are copied (a tensor on a device
// cannot move to another backend).
func execOn[F graph.ExecGraphFn](t testing.TB, b compute.Backend, m Mode, graphFn F, args ...any) [][]float32 {
	t.Helper()
	args = slices.Clone(args)
	for i, a := range args {
		if tt, ok := a.(*tensors.Tensor); ok {
			c, err := tt.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			args[i] = c
		}
	}
	return withMode(m, func() [][]float32 {
		exec, err := graph.NewExec(b, graphFn)
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		outs, err := exec.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		flat := make([][]float32, len(outs))
		for i, o := range outs {
			flat[i] = tensors.MustCopyFlatData[float32](o)
		}
		return flat
	})
}

// TestFastMatchesXLANative checks flowerlib's fast convolution path, as the go backend runs
// it, against XLA's native convolution (what the XLA backends use), for every ResNet50 kind
// and both stride-1 forms, values and gradients (through the folded BatchNorm). The fast
// path on XLA itself is checked too (FLOWERS_CONV=fast there).
func TestFastMatchesXLANative(t *testing.T) {
	testdata.Slow(t, "every ResNet50 convolution shape against XLA's")
	x := xlaBackend(t)
	bothStride1Forms(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 22))
		for _, c := range append(resnetKinds, convCase{"5x3s1", 8, 9, 6, 7, 5, 1, 3}) {
			t.Run(c.name, func(t *testing.T) {
				in, k, b := randConv(rng, c)
				g, be, m, v := randBN(rng, c.cOut)
				fn := func(inputs []*graph.Node) []*graph.Node {
					y := Conv2D(inputs[0], inputs[1], inputs[2], c.st)
					bn := BatchNorm{inputs[3], inputs[4], inputs[5], inputs[6], 1.001e-5}
					z := Conv2DBatchNormReLU(inputs[0], inputs[1], inputs[2], bn, c.st)
					w := graph.Iota(z.Graph(), z.Shape(), 2)
					loss := graph.ReduceAllSum(graph.Mul(graph.Mul(z, z), graph.OnePlus(w)))
					return append([]*graph.Node{y, z}, graph.Gradient(loss, inputs...)...)
				}
				args := []any{in, k, b, g, be, m, v}
				want := execOn(t, x, Native, fn, args...)
				names := []string{"conv", "conv+BN+ReLU", "d/dx", "d/dkernel", "d/dbias", "d/dgamma", "d/dbeta", "d/dmean", "d/dvariance"}
				for _, run := range []struct {
					what string
					b    compute.Backend
				}{{"fast on go", goBackend(t)}, {"fast on xla:cpu", x}} {
					got := execOn(t, run.b, Fast, fn, args...)
					worst := 0.0
					for i := range want {
						d := relDiff(got[i], want[i])
						worst = max(worst, d)
						if d > 1e-4 {
							t.Errorf("%s vs XLA native: %s relative difference %.3g > 1e-4", run.what, names[i], d)
						}
					}
					t.Logf("%s vs XLA native: worst relative difference %.3g over values and gradients", run.what, worst)
				}
			})
		}
	})
}

// TestMaxPoolAndPadMatchXLA checks the fast path's max-pool and padding against XLA's own ops.
func TestMaxPoolAndPadMatchXLA(t *testing.T) {
	x := xlaBackend(t)
	rng := rand.New(rand.NewPCG(23, 24))
	in := randTensor(rng, 2, 114, 114, 5)
	fn := func(x *graph.Node) *graph.Node { return MaxPool2D(ZeroPad2D(x, 1), 3, 2) }
	want := execOn(t, x, Native, fn, in)[0]
	got := execOn(t, goBackend(t), Fast, fn, in)[0]
	if d := relDiff(got, want); d != 0 || len(got) != 2*57*57*5 {
		t.Fatalf("pad+max-pool on the fast path vs XLA: relative difference %.3g, %d values", d, len(got))
	}
}
