package conv

import (
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestFoldBatchNormValues: folding on the host gives the graph's folded kernel and bias, and a
// convolution with them (Conv2D, Conv2DReLU) equals the unfolded Conv2D + BatchNorm (+ ReLU).
func TestFoldBatchNormValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range resnetKinds {
		t.Run(c.name, func(t *testing.T) {
			x, k, b := randConv(rng, c)
			g, be, m, v := randBN(rng, c.cOut)
			flat := func(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }
			k2, b2 := FoldBatchNormValues(flat(k), flat(b), flat(g), flat(be), flat(m), flat(v), 1.001e-5)
			graphFold := execIn(t, Fast, func(in []*graph.Node) []*graph.Node {
				fk, fb := FoldBatchNorm(in[0], in[1], BatchNorm{in[2], in[3], in[4], in[5], 1.001e-5})
				return []*graph.Node{fk, fb}
			}, k, b, g, be, m, v)
			if d := relDiff(k2, graphFold[0]); d > 1e-6 {
				t.Errorf("host-folded kernel vs graph: %.3g", d)
			}
			if d := relDiff(b2, graphFold[1]); d > 1e-6 {
				t.Errorf("host-folded bias vs graph: %.3g", d)
			}
			kt := tensors.FromFlatDataAndDimensions(k2, c.k, c.kW(), c.cIn, c.cOut)
			bt := tensors.FromFlatDataAndDimensions(b2, c.cOut)
			for _, m2 := range []Mode{Fast, Native} {
				got := execIn(t, m2, func(in []*graph.Node) []*graph.Node {
					return []*graph.Node{Conv2D(in[0], in[1], in[2], c.st), Conv2DReLU(in[0], in[1], in[2], c.st)}
				}, x, kt, bt)
				want := execIn(t, Native, func(in []*graph.Node) []*graph.Node {
					y := Unfolded(in[0], in[1], in[2], BatchNorm{in[3], in[4], in[5], in[6], 1.001e-5}, c.st)
					return []*graph.Node{y, relu(y)}
				}, x, k, b, g, be, m, v)
				for i, what := range []string{"Conv2D", "Conv2DReLU"} {
					if d := relDiff(got[i], want[i]); d > 1e-4 {
						t.Errorf("%s %s with host-folded weights vs unfolded: %.3g", m2, what, d)
					}
				}
			}
		})
	}
}

func TestFoldBatchNormValuesBadShapesPanic(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic for a kernel that is not a multiple of the channels")
		}
	}()
	FoldBatchNormValues(make([]float32, 10), nil, make([]float32, 4), make([]float32, 4), make([]float32, 4), make([]float32, 4), 1e-3)
}

func TestRepeatRows(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 100} {
		got := execIn(t, Fast, func(s *graph.Node) *graph.Node { return repeatRows(s, n) }, []float32{1, 2, 3})[0]
		if len(got) != 3*n {
			t.Fatalf("repeatRows(%d): %d values", n, len(got))
		}
		for i, v := range got {
			if v != float32(i%3+1) {
				t.Fatalf("repeatRows(%d)[%d] = %v", n, i, v)
			}
		}
	}
}
