package augment

import (
	"fmt"
	"math"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/pkg/errors"
)

// Test-time augmentation (TTA): a photo is predicted under a few deterministic views and the
// predictions are combined, as fastai's Learner.tta does (fastai/learner.py):
//
//	aug_preds = mean over the views of get_preds(...)   (probabilities)
//	preds     = torch.lerp(aug_preds, plain, beta) = aug_preds + beta·(plain − aug_preds)
//
// with beta = 0.25 by default (use_max=True takes the element-wise maximum of all instead).
// fastai's views are n = 4 random draws of the training transforms; here they are fixed pixel
// transforms, the flip and crops of timm/torchvision's five-crop, so that a prediction is the
// same on every run and machine.

// Crop positions (View.Crop), as torchvision's five_crop takes them.
const (
	CropNone        = ""
	CropCenter      = "center"
	CropTopLeft     = "top_left"
	CropTopRight    = "top_right"
	CropBottomLeft  = "bottom_left"
	CropBottomRight = "bottom_right"
)

// TTABeta is fastai's Learner.tta default beta: the weight of the plain prediction.
const TTABeta = 0.25

// TTACropScale is the crop side of DefaultTTA's crops, as a fraction of the photo's: 224/256,
// the ratio of torchvision's classic Resize(256) + CenterCrop(224) evaluation.
const TTACropScale = 0.875

// View is one deterministic view of a decoded photo: an optional crop (Crop, of Scale of the
// photo's width and height), resized to the model's size with images.Resize (as images.Load
// resizes the whole photo), then an optional left-right flip.
type View struct {
	Crop  string  `json:"crop,omitempty"`
	Scale float64 `json:"scale,omitempty"`
	Flip  bool    `json:"flip,omitempty"`
}

// String names the view ("plain", "flip", "center 0.875", "top_left 0.875 flip").
func (v View) String() string {
	s := "plain"
	if v.Crop != CropNone {
		s = fmt.Sprintf("%s %g", v.Crop, v.Scale)
	}
	if v.Flip {
		if v.Crop == CropNone {
			return "flip"
		}
		s += " flip"
	}
	return s
}

// Validate reports an unknown crop position or a scale outside (0, 1].
func (v View) Validate() error {
	switch v.Crop {
	case CropNone:
		return nil
	case CropCenter, CropTopLeft, CropTopRight, CropBottomLeft, CropBottomRight:
		if !(v.Scale > 0 && v.Scale <= 1) {
			return errors.Errorf("augment: TTA view %q: crop scale must be in (0, 1], got %g", v.Crop, v.Scale)
		}
		return nil
	}
	return errors.Errorf("augment: unknown TTA crop %q (want %q, %q, %q, %q or %q)", v.Crop,
		CropCenter, CropTopLeft, CropTopRight, CropBottomLeft, CropBottomRight)
}

// CropBox returns the crop of a width×height photo as (x0, y0, w, h) in pixels: the side is
// Scale of the photo's, rounded, and the position is torchvision's five_crop / center_crop
// (centre offset int(round((W − w)/2)), Python's round: half to even). No crop: the photo.
func (v View) CropBox(width, height int) (x0, y0, w, h int) {
	if v.Crop == CropNone {
		return 0, 0, width, height
	}
	w = max(1, min(width, int(math.Round(v.Scale*float64(width)))))
	h = max(1, min(height, int(math.Round(v.Scale*float64(height)))))
	switch v.Crop {
	case CropTopRight:
		x0 = width - w
	case CropBottomLeft:
		y0 = height - h
	case CropBottomRight:
		x0, y0 = width-w, height-h
	case CropCenter:
		x0 = int(math.RoundToEven(float64(width-w) / 2))
		y0 = int(math.RoundToEven(float64(height-h) / 2))
	}
	return x0, y0, w, h
}

// Apply returns the view of src at size×size (size ≤ 0: the crop's own size). The plain view
// of a decoded photo is what images.Load(path, size) gives.
func (v View) Apply(src *images.RGB, size int) *images.RGB {
	x0, y0, w, h := v.CropBox(src.Width, src.Height)
	img := src
	if w != src.Width || h != src.Height {
		img = images.NewRGB(w, h)
		for y := range h {
			row := ((y0+y)*src.Width + x0) * 3
			copy(img.Pix[y*w*3:(y+1)*w*3], src.Pix[row:row+w*3])
		}
	}
	if size > 0 {
		img = images.Resize(img, size, size) // a copy, also when no resize is needed
	} else if img == src {
		img = src.Clone()
	}
	if v.Flip {
		FlipLR(img)
	}
	return img
}

// FlipLR mirrors img left-right in place.
func FlipLR(img *images.RGB) {
	w := img.Width
	for y := range img.Height {
		row := img.Pix[y*w*3 : (y+1)*w*3]
		for l, r := 0, w-1; l < r; l, r = l+1, r-1 {
			row[l*3], row[r*3] = row[r*3], row[l*3]
			row[l*3+1], row[r*3+1] = row[r*3+1], row[l*3+1]
			row[l*3+2], row[r*3+2] = row[r*3+2], row[l*3+2]
		}
	}
}

// TTA configures test-time augmentation: the views besides the plain one, and how their
// predictions combine with the plain one's (Combine).
type TTA struct {
	Views []View `json:"views"`
	// Beta is the weight of the plain prediction in fastai's lerp (TTABeta: 0.25; 0: the views'
	// mean alone).
	Beta float64 `json:"beta"`
	// UseMax takes the element-wise maximum of the plain prediction and every view's instead
	// (fastai's use_max=True).
	UseMax bool `json:"use_max,omitempty"`
}

// DefaultTTA is the flip and torchvision's five crops at TTACropScale, combined with fastai's
// beta.
func DefaultTTA() TTA {
	views := []View{{Flip: true}}
	for _, c := range []string{CropCenter, CropTopLeft, CropTopRight, CropBottomLeft, CropBottomRight} {
		views = append(views, View{Crop: c, Scale: TTACropScale})
	}
	return TTA{Views: views, Beta: TTABeta}
}

// Validate checks the views and beta.
func (c TTA) Validate() error {
	if len(c.Views) == 0 {
		return errors.New("augment: TTA without views")
	}
	if !(c.Beta >= 0 && c.Beta <= 1) {
		return errors.Errorf("augment: TTA beta must be in [0, 1] (fastai's lerp weight of the plain prediction), got %g", c.Beta)
	}
	for _, v := range c.Views {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Combine returns the TTA prediction of each example from its plain prediction plain[i] and
// views[v][i], the prediction under c.Views[v] (probabilities [example][class], as
// trainer.EvalResult.Probs): fastai's lerp(mean over views, plain, Beta), or the maximum with
// UseMax.
func (c TTA) Combine(plain [][]float32, views [][][]float32) ([][]float32, error) {
	if len(views) != len(c.Views) {
		return nil, errors.Errorf("augment: TTA got predictions of %d views, configured %d", len(views), len(c.Views))
	}
	out := make([][]float32, len(plain))
	for i, p := range plain {
		row := make([]float64, len(p))
		if c.UseMax {
			for k := range row {
				row[k] = math.Inf(-1)
			}
		}
		for _, v := range views {
			if len(v) != len(plain) || len(v[i]) != len(p) {
				return nil, errors.Errorf("augment: TTA view predictions of another shape than the plain ones (%d×%d)", len(plain), len(p))
			}
			for k, x := range v[i] {
				if c.UseMax {
					row[k] = math.Max(row[k], float64(x))
				} else {
					row[k] += float64(x)
				}
			}
		}
		out[i] = make([]float32, len(p))
		for k := range p {
			if c.UseMax {
				out[i][k] = float32(math.Max(row[k], float64(p[k])))
				continue
			}
			mean := row[k] / float64(len(views))
			out[i][k] = float32(mean + c.Beta*(float64(p[k])-mean))
		}
	}
	return out, nil
}
