package keras

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/images"
)

// kerasParams is one get_random_transform dict.
type kerasParams struct {
	Theta, Tx, Ty, Shear, Zx, Zy float64
	FlipHorizontal               float64 `json:"flip_horizontal"`
	FlipVertical                 float64 `json:"flip_vertical"`
}

// warpStats compares flowerlib's augment.Apply with params(p) on each photo against Keras' warps.
func warpStats(t *testing.T, o *oracle, ps []kerasParams, keras []float32, params func(kerasParams) augment.Params) (maxDiff, mean float64) {
	t.Helper()
	n := len(ps)
	if len(keras) != n*size*size*3 {
		t.Fatalf("Keras gave %d values for %d photos", len(keras), n)
	}
	dst := make([]float32, size*size*3)
	var sum float64
	for i, p := range ps {
		img := images.NewRGB(size, size)
		copy(img.Pix, o.pix[i*size*size*3:(i+1)*size*size*3])
		augment.Apply(img, params(p), 1, dst)
		for j, v := range dst {
			d := math.Abs(float64(v) - float64(keras[i*size*size*3+j]))
			maxDiff = max(maxDiff, d)
			sum += d
		}
	}
	return maxDiff, sum / float64(len(keras))
}

// TestAugmentApplyTransform: the article's ImageDataGenerator(rotation_range=40,
// width_shift_range=0.4, height_shift_range=0.4, shear_range=0.2, zoom_range=0.3,
// horizontal_flip=True, fill_mode="nearest") draws each photo's parameters
// (get_random_transform) and warps it (apply_transform); flowerlib's augment.Apply with the
// same parameters must be within 1 grey level of Keras-Preprocessing 1.1.2, the
// ImageDataGenerator of the article's Keras 2. tf-keras 2.21 warps differently: since the x/y fix
// of keras-preprocessing (PR #318, after 1.1.2) it conjugates the matrix by the row/column swap
// (the rotation reversed, tx/ty and zx/zy exchanged, the shear along the other axis) and centres
// it on (h/2−0.5, w/2−0.5) instead of (h/2+0.5, w/2+0.5); flowerlib with parameters changed
// accordingly matches it within 1 grey level where the shear, which has no counterpart among
// flowerlib's parameters, is 0.
func TestAugmentApplyTransform(t *testing.T) {
	o := runOracle(t)
	b, err := os.ReadFile(o.file("aug_params.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []kerasParams
	if err := json.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != min(50, o.n()) {
		t.Fatalf("%d parameter sets, want %d", len(ps), min(50, o.n()))
	}
	flips := 0
	for _, p := range ps {
		if p.FlipVertical != 0 {
			t.Fatalf("vertical flip drawn: %+v", p)
		}
		flips += int(p.FlipHorizontal)
	}
	same := func(p kerasParams) augment.Params {
		return augment.Params{Theta: p.Theta, Tx: p.Tx, Ty: p.Ty, Shear: p.Shear, Zx: p.Zx, Zy: p.Zy, Flip: p.FlipHorizontal != 0}
	}
	// tf-keras' matrix is P·M·P (P swaps rows and columns), centred on (h/2−0.5, w/2−0.5): with
	// shear 0 that is M with −θ, tx↔ty, zx↔zy, and the shift t that moves the centre one pixel
	// back, t + R⁻¹d − Z·d for d = (−1, −1).
	swapped := func(p kerasParams) augment.Params {
		theta, zx, zy := -p.Theta, p.Zy, p.Zx
		c, s := math.Cos(theta*math.Pi/180), math.Sin(theta*math.Pi/180)
		return augment.Params{Theta: theta, Tx: p.Ty - c - s + zx, Ty: p.Tx + s - c + zy, Zx: zx, Zy: zy, Flip: p.FlipHorizontal != 0}
	}
	_, kp := o.readNPY(t, "aug_kp.npy")
	maxKP, meanKP := warpStats(t, o, ps, kp, same)
	_, tfk0 := o.readNPY(t, "aug_tfk_noshear.npy")
	maxT0, meanT0 := warpStats(t, o, ps, tfk0, swapped)
	_, tfk := o.readNPY(t, "aug_tfk.npy")
	maxT, meanT := warpStats(t, o, ps, tfk, same)
	var sameDraws bool
	o.result(t, "augment_same_draws_kp_tfk", &sameDraws)
	t.Logf("%d photos (%d flipped): flowerlib vs Keras-Preprocessing 1.1.2: max %.3g, mean %.3g grey levels; "+
		"vs tf-keras 2.21 with the same parameters: max %.3g, mean %.3g; vs tf-keras (shear 0) with θ, tx/ty, zx/zy exchanged and the centre moved: max %.3g, mean %.3g; "+
		"tf-keras draws the same parameters for the same seed: %v",
		len(ps), flips, maxKP, meanKP, maxT, meanT, maxT0, meanT0, sameDraws)
	if maxKP > 1 {
		t.Errorf("flowerlib vs Keras-Preprocessing 1.1.2: max %.3g grey levels > 1", maxKP)
	}
	if maxT0 > 1 {
		t.Errorf("flowerlib (exchanged parameters) vs tf-keras 2.21 without shear: max %.3g grey levels > 1", maxT0)
	}
	if meanT < 5 {
		t.Errorf("tf-keras 2.21 now warps like Keras-Preprocessing 1.1.2 (mean difference %.3g): update README.md", meanT)
	}
	if flips == 0 || flips == len(ps) {
		t.Errorf("%d of %d photos flipped: the draws do not exercise the flip", flips, len(ps))
	}
}
