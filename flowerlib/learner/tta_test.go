package learner

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/features"
)

// TestCropDecodeSize: the photo is decoded so that a 0.875 crop is the model's size exactly
// (torchvision's Resize(256) + FiveCrop(224)).
func TestCropDecodeSize(t *testing.T) {
	for _, size := range []int{32, 64, 96, 224, 299} {
		d := cropDecodeSize(size, augment.TTACropScale)
		_, _, w, h := augment.View{Crop: augment.CropCenter, Scale: augment.TTACropScale}.CropBox(d, d)
		if w != size || h != size {
			t.Errorf("size %d: decoded at %d, the crop is %d×%d", size, d, w, h)
		}
	}
	if d := cropDecodeSize(224, augment.TTACropScale); d != 256 {
		t.Errorf("224: decoded at %d, want 256", d)
	}
}

// TestViewExtractor: the flip view mirrors each row, the crops cut the right corner.
func TestViewExtractor(t *testing.T) {
	const w = 4
	pix := make([]float32, 2*w*w*3) // 2 images 4×4, value = image·100 + y·10 + x (every channel)
	for i := range 2 {
		for y := range w {
			for x := range w {
				for c := range 3 {
					pix[((i*w+y)*w+x)*3+c] = float32(i*100 + y*10 + x)
				}
			}
		}
	}
	got := func(v augment.View, size int) []float32 {
		out, err := viewExtractor{inner: features.Pixels{}, view: v, size: size}.ExtractFloats(pix, 2, w, w)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if f := got(augment.View{Flip: true}, 4); f[0] != 3 || f[3*3] != 0 || f[(4*4+0)*3] != 103 {
		t.Errorf("flip: %v", f[:12])
	}
	if c := got(augment.View{Crop: augment.CropBottomRight, Scale: 0.5}, 2); c[0] != 22 || c[3] != 23 || c[(2)*3] != 32 || c[4*3] != 122 {
		t.Errorf("bottom-right crop: %v", c)
	}
	if _, err := (viewExtractor{inner: features.Pixels{}, view: augment.View{Crop: augment.CropCenter, Scale: 0.5}, size: 3}).ExtractFloats(pix, 2, w, w); err == nil {
		t.Error("a crop of the wrong size was accepted")
	}
}

// TestEvaluateTTA: on a trained run the TTA report covers the same photos as the plain one,
// whose accuracy is Evaluate's, and PredictTTA gives probabilities that sum to 1.
func TestEvaluateTTA(t *testing.T) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	var log bytes.Buffer
	cfg := smallConfig(dir, filepath.Join(dir, "data"), 3, &log)
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(res.RunDir, OpenOptions{Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.EvaluateTTA(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Plain.N != res.Eval.N || r.TTA.N != r.Plain.N || r.Plain.Accuracy != res.Eval.Accuracy || len(r.Views) != 6 {
		t.Errorf("TTA report %d/%d photos, plain accuracy %.3f (Evaluate: %d at %.3f), views %v", r.TTA.N, r.Plain.N,
			r.Plain.Accuracy, res.Eval.N, res.Eval.Accuracy, r.Views)
	}
	preds, err := m.PredictTTA(m.Info.Split.Valid[:2], 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range preds {
		sum := 0.0
		for _, x := range p.Probs {
			sum += float64(x)
		}
		if math.Abs(sum-1) > 1e-4 || len(p.Top) != 2 {
			t.Errorf("%s: probabilities sum to %g, top %v", p.Path, sum, p.Top)
		}
	}
}
