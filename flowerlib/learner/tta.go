package learner

import (
	"io"
	"math"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// Test-time augmentation, fastai's learn.tta(): each photo's prediction is combined from the
// plain one and the predictions of augment.DefaultTTA's views (the left-right flip and
// torchvision's five crops at 0.875: the photo decoded at size/0.875, as torchvision's
// Resize(256) + FiveCrop(224), so each crop is the model's size without a second resize), as
// fastai combines them: 0.75 × the views' mean + 0.25 × the plain prediction.

// TTAReport is an evaluation with test-time augmentation beside the plain one.
type TTAReport struct {
	Plain, TTA *metrics.Report
	Views      []string // the views, by name ("flip", "center 0.875", …)
}

// EvaluateTTA scores the model on the run's validation photos, plainly and with test-time
// augmentation (the photos go through the model once per view: 7 times), and returns both
// reports. Photos that cannot be decoded are left out.
func (m *Model) EvaluateTTA(progress io.Writer) (*TTAReport, error) {
	si := m.Info.Split
	plain, tta, ok, err := m.predictTTA(si.Valid, progress)
	if err != nil {
		return nil, err
	}
	var labels []int32
	var pp, tp [][]float32
	for i := range si.Valid {
		if ok[i] {
			labels = append(labels, int32(si.ValidCodes[i]))
			pp, tp = append(pp, plain[i]), append(tp, tta[i])
		}
	}
	if len(labels) == 0 {
		return nil, errors.Errorf("evaluate: none of the %d validation photos of %s can be decoded", len(si.Valid), m.Info.Data)
	}
	r := &TTAReport{}
	for _, v := range augment.DefaultTTA().Views {
		r.Views = append(r.Views, v.String())
	}
	if r.Plain, err = metrics.Evaluate(m.Info.Classes, labels, pp); err != nil {
		return nil, err
	}
	if r.TTA, err = metrics.Evaluate(m.Info.Classes, labels, tp); err != nil {
		return nil, err
	}
	return r, nil
}

// PredictTTA is Predict with test-time augmentation: Probs and Top are the combined
// prediction's.
func (m *Model) PredictTTA(paths []string, topK int) ([]Prediction, error) {
	if topK < 1 {
		return nil, errors.Errorf("predict: top must be at least 1, got %d", topK)
	}
	_, tta, ok, err := m.predictTTA(paths, nil)
	if err != nil {
		return nil, err
	}
	plain, err := m.Predict(paths, topK) // the failures' reasons, by the plain path
	if err != nil {
		return nil, err
	}
	for i := range plain {
		if ok[i] {
			plain[i].Probs, plain[i].Top = tta[i], metrics.TopK(m.Info.Classes, tta[i], topK)
		}
	}
	return plain, nil
}

// predictTTA returns, per path, the plain and the combined probabilities, and whether the
// photo decoded.
func (m *Model) predictTTA(paths []string, progress io.Writer) (plain, tta [][]float32, ok []bool, err error) {
	if err := m.compile(); err != nil {
		return nil, nil, nil, err
	}
	cfg := augment.DefaultTTA()
	size := m.Info.ImageSize
	run := func(view augment.View) ([][]float32, error) {
		return m.viewProbs(paths, view, size, progress)
	}
	if plain, err = run(augment.View{}); err != nil {
		return nil, nil, nil, err
	}
	views := make([][][]float32, len(cfg.Views))
	for v, view := range cfg.Views {
		if views[v], err = run(view); err != nil {
			return nil, nil, nil, err
		}
	}
	ok = make([]bool, len(paths))
	var pp [][]float32
	var vv = make([][][]float32, len(views))
	var rows []int
	for i := range paths {
		ok[i] = plain[i] != nil
		for _, v := range views {
			ok[i] = ok[i] && v[i] != nil
		}
		if ok[i] {
			rows = append(rows, i)
			pp = append(pp, plain[i])
			for v := range views {
				vv[v] = append(vv[v], views[v][i])
			}
		}
	}
	combined, err := cfg.Combine(pp, vv)
	if err != nil {
		return nil, nil, nil, err
	}
	tta = make([][]float32, len(paths))
	for k, i := range rows {
		tta[i] = combined[k]
	}
	return plain, tta, ok, nil
}

// viewProbs runs the photos through the model under one view; nil for a photo that failed.
func (m *Model) viewProbs(paths []string, view augment.View, size int, progress io.Writer) ([][]float32, error) {
	var ex features.Extractor = m.ex
	dims := m.Info.Head.Input
	if m.FineTuned {
		ex, dims = features.Pixels{}, []int{size, size, 3}
	}
	decode := size
	if view.Crop != augment.CropNone {
		decode = cropDecodeSize(size, view.Scale)
	}
	vx := viewExtractor{inner: ex, view: view, size: size}
	out := make([][]float32, len(paths))
	_, err := features.Extract(vx, paths, features.Options{Size: decode, BatchSize: 16, Progress: progress},
		func(indices []int, x []float32) error {
			r, err := trainer.Evaluate(m.exec, &trainer.ArrayData{X: x, Dims: dims, Y: make([]int32, len(indices))}, 32)
			if err != nil {
				return err
			}
			for k, i := range indices {
				out[i] = r.Probs[k]
			}
			return nil
		})
	return out, err
}

// cropDecodeSize is the side to decode a photo at so that a crop of scale is size pixels:
// round(size/scale), adjusted by a pixel where rounding misses.
func cropDecodeSize(size int, scale float64) int {
	d := int(math.Round(float64(size) / scale))
	for _, c := range []int{d, d - 1, d + 1} {
		if int(math.Round(scale*float64(c))) == size {
			return c
		}
	}
	return d
}

// viewExtractor applies a view to decoded pixels [n, h, w, 3] (its crop, then its flip) and
// runs the inner extractor on the size×size result.
type viewExtractor struct {
	inner features.Extractor
	view  augment.View
	size  int
}

func (v viewExtractor) ExtractFloats(pix []float32, n, h, w int) ([]float32, error) {
	x0, y0, cw, ch := v.view.CropBox(w, h)
	if cw != v.size || ch != v.size {
		return nil, errors.Errorf("tta: view %s of a %d×%d photo is %d×%d, want %d×%d", v.view, w, h, cw, ch, v.size, v.size)
	}
	if !v.view.Flip && cw == w && ch == h {
		return v.inner.ExtractFloats(pix, n, h, w)
	}
	out := make([]float32, n*v.size*v.size*3)
	for i := range n {
		src, dst := pix[i*h*w*3:], out[i*v.size*v.size*3:]
		for y := range v.size {
			row := src[((y0+y)*w+x0)*3 : ((y0+y)*w+x0+v.size)*3]
			d := dst[y*v.size*3 : (y+1)*v.size*3]
			if !v.view.Flip {
				copy(d, row)
				continue
			}
			for x := range v.size {
				copy(d[x*3:x*3+3], row[(v.size-1-x)*3:(v.size-x)*3])
			}
		}
	}
	return v.inner.ExtractFloats(out, n, v.size, v.size)
}

func (v viewExtractor) OutputShape(n, _, _ int) []int { return v.inner.OutputShape(n, v.size, v.size) }
