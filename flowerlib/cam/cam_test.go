package cam

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestCAMLinearHead: for a linear head on globally average-pooled features, the map is
// Σ_c W[c, k]·A(i, j, c) exactly; with max pooling, Grad-CAM gives ReLU of the same sum.
func TestCAMLinearHead(t *testing.T) {
	const n, h, w, c, k = 2, 3, 4, 5, 3
	r := rand.New(rand.NewPCG(1, 1))
	fm := make([]float32, n*h*w*c)
	for i := range fm {
		fm[i] = float32(r.NormFloat64())
	}
	W := make([]float32, c*k)
	for i := range W {
		W[i] = float32(r.NormFloat64())
	}
	linear := func(pool func(x *graph.Node) *graph.Node) ScoreFn {
		return func(scope *model.Scope, x *graph.Node) *graph.Node {
			return graph.MatMul(pool(x), graph.Reshape(graph.Const(x.Graph(), W), c, k))
		}
	}
	classes := []int{2, 0}
	want := func(i, y, x int, relu bool) float64 {
		var s float64
		for ch := range c {
			s += float64(W[ch*k+classes[i]]) * float64(fm[((i*h+y)*w+x)*c+ch])
		}
		if relu {
			s = math.Max(s, 0)
		}
		return s
	}
	b := backend.MustNew("go", nil)
	for _, tc := range []struct {
		name   string
		pool   func(x *graph.Node) *graph.Node
		signed bool
	}{
		{"avg (CAM)", func(x *graph.Node) *graph.Node { return graph.ReduceMean(x, 1, 2) }, true},
		{"max (Grad-CAM)", func(x *graph.Node) *graph.Node { return graph.ReduceMax(x, 1, 2) }, false},
	} {
		maps, err := Maps(b, model.NewStore(), linear(tc.pool), k, fm, n, h, w, c, classes, tc.signed)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for y := range h {
				for x := range w {
					got, exp := float64(maps[i][y*w+x]), want(i, y, x, !tc.signed)
					if tc.name[:3] == "max" {
						// Grad-CAM's α_c = Σ_ij ∂score/∂A = W[c, k] (one argmax per channel).
						exp = want(i, y, x, true)
					}
					if math.Abs(got-exp) > 1e-5 {
						t.Fatalf("%s: example %d (%d, %d): %g, want %g", tc.name, i, y, x, got, exp)
					}
				}
			}
		}
	}
	if _, err := Maps(b, model.NewStore(), linear(func(x *graph.Node) *graph.Node { return graph.ReduceMean(x, 1, 2) }), k, fm, n, h, w, c, []int{0, 7}, true); err == nil {
		t.Error("a class beyond the head's was accepted")
	}
}

// TestCAMArticleHead: on the article's avg head, the map's mean over positions is the class score's
// first-order part w·p, checked against a finite-difference derivative of the score along p.
func TestCAMArticleHead(t *testing.T) {
	const h, w, c = 2, 2, 2048
	fn := head.Article(5, []int{16, 8}, 0)
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	if _, err := head.Init(b, store, fn, []int{c}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	fm := make([]float32, h*w*c)
	for i := range fm {
		fm[i] = float32(r.ExpFloat64())
	}
	maps, err := Maps(b, store, HeadScore(fn, "avg"), 5, fm, 1, h, w, c, []int{3}, true)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, v := range maps[0] {
		mean += float64(v) / (h * w)
	}
	// d/dt score(t·A) at t = 1 is w·p (the pooled features scale with t).
	score := func(scale float32) float64 {
		x := make([]float32, len(fm))
		for i := range fm {
			x[i] = fm[i] * scale
		}
		out := model.MustCallOnce(b, store, func(scope *model.Scope, fm *graph.Node) *graph.Node {
			store.SetTraining(fm.Graph(), false)
			return HeadScore(fn, "avg")(scope, fm)
		}, tensors.FromFlatDataAndDimensions(x, 1, h, w, c))
		return float64(tensors.MustCopyFlatData[float32](out)[3])
	}
	const eps = 1e-2
	deriv := (score(1+eps) - score(1-eps)) / (2 * eps)
	if math.Abs(mean-deriv) > 1e-2*math.Max(1, math.Abs(deriv)) {
		t.Fatalf("mean of the map %g, directional derivative of the score %g", mean, deriv)
	}
}

// TestOverlay: a map hot in one corner colours that corner and leaves the opposite one as the
// photo was.
func TestOverlay(t *testing.T) {
	photo := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for i := range photo.Pix {
		photo.Pix[i] = 128
	}
	m := []float32{1, 0, 0, 0} // 2×2, hot at the top left
	out := Overlay(photo, m, 2, 2, 64, 0.6)
	if out.Bounds() != photo.Bounds() {
		t.Fatalf("bounds %v", out.Bounds())
	}
	if c := out.RGBAAt(0, 0); c.R <= 128 || c.B >= 128 {
		t.Errorf("hot corner %v: want red-ish", c)
	}
	if c := out.RGBAAt(39, 39); c != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("cold corner %v: want the photo", c)
	}
}

// TestOverlayAlignment: a map with one hot cell (1, 2), computed on a 96×96 input and shown at
// 192×192, is strongest where that cell's receptive field is centred: input pixel (32, 64),
// display pixel about (65, 129); half a cell off would be (97, 161).
func TestOverlayAlignment(t *testing.T) {
	photo := image.NewRGBA(image.Rect(0, 0, 192, 192))
	for i := range photo.Pix {
		photo.Pix[i] = 0
	}
	m := make([]float32, 9)
	m[1*3+2] = 1
	out := Overlay(photo, m, 3, 3, 96, 1)
	by, bx, best := 0, 0, -1.0
	for y := range 192 {
		for x := range 192 {
			c := out.RGBAAt(x, y)
			if v := float64(c.R); v > best {
				best, by, bx = v, y, x
			}
		}
	}
	if math.Abs(float64(by)-64.5) > 2 || math.Abs(float64(bx)-128.5) > 2 {
		t.Errorf("strongest at display pixel (%d, %d), want about (64.5, 128.5)", by, bx)
	}
}
