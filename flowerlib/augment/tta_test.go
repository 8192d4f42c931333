package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ttaPredict runs a tiny GoMLX classifier over size×size views: the mean over the width
// (symmetric: the output ignores left-right flips) or over the height (it does not), then a
// fixed Dense(5) and the softmax. It returns probabilities [example][class].
func ttaPredict(t *testing.T, imgs []*images.RGB, size int, symmetric bool) [][]float32 {
	t.Helper()
	const classes = 5
	r := rand.New(rand.NewPCG(5, 5))
	w := make([]float32, size*3*classes)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	x := make([]float32, 0, len(imgs)*size*size*3)
	for _, img := range imgs {
		x = append(x, img.Float32()...)
	}
	out := graph.MustExecOnce(backend.MustNew("go", nil), func(x, w *graph.Node) *graph.Node {
		axis := 2 // width: flip-invariant
		if !symmetric {
			axis = 1
		}
		f := graph.ReduceMean(graph.DivScalar(x, 255), axis)
		f = graph.Reshape(f, len(imgs), size*3)
		return graph.Softmax(graph.Dot(f, w).Product(), -1)
	}, tensors.FromFlatDataAndDimensions(x, len(imgs), size, size, 3), tensors.FromFlatDataAndDimensions(w, size*3, classes))
	flat := tensors.MustCopyFlatData[float32](out)
	probs := make([][]float32, len(imgs))
	for i := range probs {
		probs[i] = flat[i*classes : (i+1)*classes]
	}
	return probs
}

// samplePhotos decodes n of the embedded sample photos.
func samplePhotos(t *testing.T, n int) []*images.RGB {
	t.Helper()
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []*images.RGB
	for _, class := range sample.Classes {
		files, _ := filepath.Glob(filepath.Join(dir, class, "*.jpg"))
		for _, f := range files[:min(len(files), (n+len(sample.Classes)-1)/len(sample.Classes))] {
			img, _, err := images.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, img)
		}
	}
	return out[:n]
}

// TestTTAFlipInvariantModel: for a model whose output ignores left-right flips, the TTA of the
// flip view equals the plain prediction (any beta); a model that sees the flip changes.
func TestTTAFlipInvariantModel(t *testing.T) {
	const size = 64
	photos := samplePhotos(t, 10)
	tta := TTA{Views: []View{{Flip: true}}, Beta: TTABeta}
	views := func(v View) []*images.RGB {
		out := make([]*images.RGB, len(photos))
		for i, p := range photos {
			out[i] = v.Apply(p, size)
		}
		return out
	}
	plainImgs, flipImgs := views(View{}), views(View{Flip: true})
	for i, p := range photos {
		if want := images.Resize(p, size, size); string(want.Pix) != string(plainImgs[i].Pix) {
			t.Fatalf("photo %d: the plain view is not images.Resize's", i)
		}
	}
	for _, symmetric := range []bool{true, false} {
		plain := ttaPredict(t, plainImgs, size, symmetric)
		flipped := ttaPredict(t, flipImgs, size, symmetric)
		for _, beta := range []float64{TTABeta, 0} {
			tta.Beta = beta
			got, err := tta.Combine(plain, [][][]float32{flipped})
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range got {
				for k := range got[i] {
					worst = math.Max(worst, math.Abs(float64(got[i][k]-plain[i][k])))
				}
			}
			switch {
			case symmetric && worst > 1e-6:
				t.Errorf("flip-invariant model, beta %g: TTA differs from the plain prediction by %.2g", beta, worst)
			case !symmetric && worst < 1e-4:
				t.Errorf("a model that sees the flip, beta %g: TTA within %.2g of the plain prediction: the check would mean nothing", beta, worst)
			}
			t.Logf("symmetric %v, beta %g: max |TTA − plain| = %.2g over %d photos", symmetric, beta, worst, len(got))
		}
	}
}

// TestTTACropsTorchvision: the crops are torchvision's five_crop (and center_crop) of the same
// image, pixel for pixel, and the flip is its hflip.
func TestTTACropsTorchvision(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision").Run(); err != nil {
		msg := py + " cannot import torch and torchvision: the crops are not compared with torchvision's"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	const w, h = 37, 29
	src := randomImage(w, h, 11)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.raw"), src.Pix, 0o644); err != nil {
		t.Fatal(err)
	}
	scales := []float64{TTACropScale, 0.5, 0.3}
	script := `
import sys, numpy as np, torch
import torchvision.transforms.functional as F
w, h = int(sys.argv[2]), int(sys.argv[3])
img = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.uint8).reshape(h, w, 3)).permute(2, 0, 1)
for k, arg in enumerate(sys.argv[5:]):
    ch, cw = map(int, arg.split(','))
    tl, tr, bl, br, center = F.five_crop(img, [ch, cw])
    for name, c in (("top_left", tl), ("top_right", tr), ("bottom_left", bl), ("bottom_right", br), ("center", center),
                    ("center_flip", F.hflip(center))):
        c.permute(1, 2, 0).contiguous().numpy().tofile('%s%d_%s' % (sys.argv[4], k, name))
`
	args := []string{"-c", script, filepath.Join(dir, "in.raw"), fmt.Sprint(w), fmt.Sprint(h), filepath.Join(dir, "out")}
	for _, s := range scales {
		_, _, cw, ch := View{Crop: CropCenter, Scale: s}.CropBox(w, h)
		args = append(args, fmt.Sprintf("%d,%d", ch, cw))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("torchvision: %v\n%s", err, out)
	}
	n := 0
	for k, s := range scales {
		for _, name := range []string{CropTopLeft, CropTopRight, CropBottomLeft, CropBottomRight, CropCenter, "center_flip"} {
			v := View{Crop: strings.TrimSuffix(name, "_flip"), Scale: s, Flip: strings.HasSuffix(name, "_flip")}
			want, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%d_%s", k, name)))
			if err != nil {
				t.Fatal(err)
			}
			got := v.Apply(src, 0)
			if string(got.Pix) != string(want) {
				x0, y0, cw, ch := v.CropBox(w, h)
				t.Errorf("%s: crop (%d, %d) %d×%d differs from torchvision's", v, x0, y0, cw, ch)
			}
			n++
		}
	}
	t.Logf("%d crops of a %d×%d image equal torchvision's five_crop/hflip", n, w, h)
}

// TestTTACombine: fastai's lerp(mean of the views, plain, beta) and use_max, on values worked by
// hand, and the refusals.
func TestTTACombine(t *testing.T) {
	plain := [][]float32{{0.2, 0.8}}
	views := [][][]float32{{{0.6, 0.4}}, {{0.4, 0.6}}}
	two := TTA{Views: []View{{Flip: true}, {Crop: CropCenter, Scale: 0.5}}, Beta: TTABeta}
	got, err := two.Combine(plain, views)
	if err != nil || math.Abs(float64(got[0][0])-0.425) > 1e-7 || math.Abs(float64(got[0][1])-0.575) > 1e-7 {
		t.Errorf("lerp: %v %v, want [0.425 0.575]", got, err)
	}
	two.UseMax = true
	if got, _ := two.Combine(plain, views); got[0][0] != 0.6 || got[0][1] != 0.8 {
		t.Errorf("use_max: %v, want [0.6 0.8]", got)
	}
	if _, err := two.Combine(plain, views[:1]); err == nil || err.Error() != "augment: TTA got predictions of 1 views, configured 2" {
		t.Errorf("missing view: %v", err)
	}
	d := DefaultTTA()
	if err := d.Validate(); err != nil || len(d.Views) != 6 || d.Views[1].String() != "center 0.875" || d.Views[0].String() != "flip" {
		t.Errorf("DefaultTTA: %+v %v", d, err)
	}
	for _, bad := range []struct {
		c    TTA
		want string
	}{
		{TTA{Views: []View{{Crop: "middle", Scale: 0.5}}}, `augment: unknown TTA crop "middle" (want "center", "top_left", "top_right", "bottom_left" or "bottom_right")`},
		{TTA{Views: []View{{Crop: CropCenter}}}, `augment: TTA view "center": crop scale must be in (0, 1], got 0`},
		{TTA{Views: []View{{Flip: true}}, Beta: 2}, "augment: TTA beta must be in [0, 1] (fastai's lerp weight of the plain prediction), got 2"},
	} {
		if err := bad.c.Validate(); err == nil || err.Error() != bad.want {
			t.Errorf("%+v: %v", bad.c, err)
		}
	}
}
