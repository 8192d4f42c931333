// Package cam shows where the model looks: class activation maps over the base's last
// feature map (conv5_block3_out, [h, w, 2048]: 7×7 at 224²), upsampled and overlaid on the
// photo.
//
// For a head that sees the globally averaged features (the avg head), the class score is a
// function of p = mean_ij A_ij, and the map is CAM (Zhou et al. 2016):
//
//	M_c(i, j) = Σ_k w_k · A_k(i, j),  w = ∂score_c/∂p
//
// which is exact — w are the class's weights — when the head is linear, and its first-order
// version for the article's head (BatchNorm → Dense → ReLU → …): mean_ij M_c(i,j) = w·p is then the
// score's linearisation at this photo. For the max and flatten heads the map is Grad-CAM
// (Selvaraju et al. 2017): α_k = Σ_ij ∂score_c/∂A_k(i, j), M_c = ReLU(Σ_k α_k · A_k). Both are
// one formula, computed with GoMLX's autodiff through the head on the feature map: for the avg
// head Σ_ij ∂score/∂A_k(i,j) = w_k exactly, and no ReLU is applied (the map is signed).
package cam

import (
	"image"
	"image/color"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// ScoreFn builds the class scores (logits) [n, classes] of a head from the base's feature
// map [n, h, w, c]: it pools the map as the head expects. HeadScore gives the one of a head.
type ScoreFn func(scope *model.Scope, featureMap *graph.Node) *graph.Node

// HeadScore is ScoreFn for a head (a flowerlib/head.Func, any GoMLX model of the base's
// output) whose variables are in the Store, trained on the base's output with pooling "avg",
// "max" (the map is pooled first, as the base did) or "none" (the map whole).
func HeadScore(head func(*model.Scope, *graph.Node) *graph.Node, pooling string) ScoreFn {
	return func(scope *model.Scope, fm *graph.Node) *graph.Node {
		switch pooling {
		case "avg":
			return head(scope, graph.ReduceMean(fm, 1, 2))
		case "max":
			return head(scope, graph.ReduceMax(fm, 1, 2))
		}
		return head(scope, fm)
	}
}

// Maps computes one activation map per example: featureMaps holds n maps [h, w, c]
// (row-major, flat), classes[i] the class to explain for example i. signed keeps the sign
// (CAM, for the avg head); otherwise negative values are cut (Grad-CAM). It returns n maps of
// h×w values.
func Maps(backend compute.Backend, store *model.Store, score ScoreFn, numClasses int, featureMaps []float32, n, h, w, c int,
	classes []int, signed bool) ([][]float32, error) {
	if len(featureMaps) != n*h*w*c || len(classes) != n {
		return nil, errors.Errorf("cam.Maps: %d values and %d classes for %d maps of %d×%d×%d", len(featureMaps), len(classes), n, h, w, c)
	}
	var out [][]float32
	err := exceptions.TryCatch[error](func() {
		exec := model.MustNewExec(backend, store, func(scope *model.Scope, fm, onehot *graph.Node) *graph.Node {
			store.SetTraining(fm.Graph(), false)
			scores := score(scope, fm)
			if !scores.Shape().Equal(onehot.Shape()) {
				exceptions.Panicf("cam.Maps: the scores are %s, want [%d, classes]", scores.Shape(), n)
			}
			total := graph.ReduceAllSum(graph.Mul(scores, onehot)) // each example's own class score
			grad := graph.Gradient(total, fm)[0]                   // [n, h, w, c]
			alpha := graph.ReduceSum(grad, 1, 2)                   // [n, c]
			m := graph.Einsum("nhwc,nc->nhw", fm, alpha)
			if !signed {
				m = graph.Max(m, graph.ZerosLike(m))
			}
			return m
		})
		defer exec.Finalize()
		oh := make([]float32, n*numClasses)
		for i, cl := range classes {
			if cl < 0 || cl >= numClasses {
				exceptions.Panicf("cam.Maps: class %d asked of a head with %d classes", cl, numClasses)
			}
			oh[i*numClasses+cl] = 1
		}
		fmT := tensors.FromFlatDataAndDimensions(featureMaps, n, h, w, c)
		res := exec.MustExec(fmT, tensors.FromFlatDataAndDimensions(oh, n, numClasses))[0]
		flat := tensors.MustCopyFlatData[float32](res)
		for i := range n {
			out = append(out, flat[i*h*w:(i+1)*h*w])
		}
	})
	return out, err
}

// Stride is ResNet50's total stride: the base's last feature map has one cell per 32×32 input
// pixels, cell (i, j) centred on input pixel (32i, 32j) (each stride-2 layer keeps the top-left
// of its 2×2 window).
const Stride = 32

// Overlay draws a map (h×w values over the base's last feature map of an inputSize×inputSize
// image) over the photo, shown at any size: bilinearly upsampled with each cell centred where
// its receptive field is (see Stride), scaled so that its largest magnitude is 1, coloured
// (blue for negative through transparent at zero to yellow-red for positive, as the "jet"
// convention reads) and blended with the given opacity at the strongest values.
func Overlay(photo image.Image, m []float32, h, w, inputSize int, opacity float64) *image.RGBA {
	b := photo.Bounds()
	out := image.NewRGBA(b)
	var peak float64
	for _, v := range m {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	if peak == 0 {
		peak = 1
	}
	// Display pixel y is input pixel (y+½)·inputSize/Dy − ½, which is that over Stride cells.
	cell := func(p, n int) float64 {
		return ((float64(p)+0.5)*float64(inputSize)/float64(n) - 0.5) / Stride
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		fy := cell(y-b.Min.Y, b.Dy())
		for x := b.Min.X; x < b.Max.X; x++ {
			fx := cell(x-b.Min.X, b.Dx())
			v := bilinear(m, h, w, fy, fx) / peak
			r0, g0, b0, _ := photo.At(x, y).RGBA()
			cr, cg, cb := heat(v)
			a := opacity * math.Min(1, math.Abs(v))
			mix := func(base uint32, c float64) uint8 {
				return uint8(math.Round((1-a)*float64(base>>8) + a*c))
			}
			out.SetRGBA(x, y, color.RGBA{mix(r0, cr), mix(g0, cg), mix(b0, cb), 255})
		}
	}
	return out
}

// bilinear samples m (h×w) at fractional (y, x), clamping at the borders.
func bilinear(m []float32, h, w int, y, x float64) float64 {
	y = math.Max(0, math.Min(float64(h-1), y))
	x = math.Max(0, math.Min(float64(w-1), x))
	y0, x0 := int(y), int(x)
	y1, x1 := min(y0+1, h-1), min(x0+1, w-1)
	fy, fx := y-float64(y0), x-float64(x0)
	at := func(r, c int) float64 { return float64(m[r*w+c]) }
	top := at(y0, x0) + fx*(at(y0, x1)-at(y0, x0))
	bot := at(y1, x0) + fx*(at(y1, x1)-at(y1, x0))
	return top + fy*(bot-top)
}

// heat maps v in [-1, 1] to a colour: blue for negative, yellow → red for positive.
func heat(v float64) (r, g, b float64) {
	if v < 0 {
		return 30, 90, 255
	}
	return 255, 255 * (1 - v), 0
}
