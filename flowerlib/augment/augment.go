// Package augment is Keras' ImageDataGenerator (keras_preprocessing 1.1, what the seed
// article's Keras 2 uses) for the options the article sets: rescale, rotation_range,
// width_shift_range, height_shift_range, shear_range, zoom_range, horizontal_flip and
// fill_mode="nearest".
//
// Like Keras, the random rotation, shift, shear and zoom are composed into one affine
// matrix (rotation · shift · shear · zoom, around the centre h/2+0.5, w/2+0.5 as Keras'
// transform_matrix_offset_center does) and the image is resampled once, bilinearly
// (Keras: scipy.ndimage.affine_transform with order=1, mode="nearest"); the horizontal
// flip is folded into the same warp. Differences from Keras:
//   - the random numbers: Keras draws from numpy's global generator, so its augmentations
//     are not reproducible across runs or workers; here each image's parameters come from a
//     generator seeded by (Seed, epoch, index), so any number of parallel workers gives the
//     same images, run after run.
//   - sampling outside the image clamps the coordinate to the border (what scipy's
//     "nearest" mode gives at order 1); other fill modes are not implemented.
//   - the warp works on the 8-bit image and writes float32 without rounding, like Keras,
//     which works on the float array.
//
// TestMatchesKerasMatrixTorch checks the warp against Keras' matrix code run in Python
// and sampled with torch's grid_sample (border padding, align_corners=True, equivalent to
// scipy's order=1 "nearest"): max difference 3e-5 on 0..255 values over 10 transforms.
package augment

import (
	"fmt"
	"math"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/pkg/errors"
)

// Config holds ImageDataGenerator's options. The zero value does nothing.
type Config struct {
	// Rescale multiplies every value after the warp (Keras rescale); 0 means 1.
	Rescale float32
	// RotationRange: angle θ ~ U(-r, r) in degrees.
	RotationRange float64
	// WidthShiftRange, HeightShiftRange: shifts ~ U(-r, r), as a fraction of the width
	// (height) when r < 1, in pixels otherwise.
	WidthShiftRange, HeightShiftRange float64
	// ShearRange: shear angle ~ U(-r, r) in degrees (Keras 2 uses degrees, so the article's
	// 0.2 is a very small shear).
	ShearRange float64
	// ZoomRange: zx and zy ~ U(1-z, 1+z), drawn independently (a zoom factor > 1 shows a
	// smaller part of the image, as in Keras).
	ZoomRange float64
	// HorizontalFlip mirrors left-right with probability 1/2.
	HorizontalFlip bool
	// FillMode must be "" or "nearest".
	FillMode string
	// Seed drives the random parameters together with (epoch, index).
	Seed int64
}

// ArticleGenerator returns the article's training generator:
// ImageDataGenerator(rescale=1./255, rotation_range=40, width_shift_range=0.4,
// height_shift_range=0.4, shear_range=0.2, zoom_range=0.3, horizontal_flip=True), seed 42.
func ArticleGenerator() Config {
	return Config{Rescale: 1.0 / 255, RotationRange: 40, WidthShiftRange: 0.4, HeightShiftRange: 0.4,
		ShearRange: 0.2, ZoomRange: 0.3, HorizontalFlip: true, FillMode: "nearest", Seed: 42}
}

// Scaled returns the article's ImageDataGenerator (ArticleGenerator) with every range scaled by
// strength (1 = the article's: rotation 40°, shifts 0.4, shear 0.2, zoom 0.3, flips; 0 =
// none), drawn from seed, without the 1/255 rescale (flowerlib feeds 0..255 pixels to the
// ImageNet weights' caffe preprocessing, as they expect).
func Scaled(strength float64, seed int64) *Config {
	c := ArticleGenerator()
	c.Rescale = 1
	c.RotationRange *= strength
	c.WidthShiftRange *= strength
	c.HeightShiftRange *= strength
	c.ShearRange *= strength
	c.ZoomRange *= strength
	c.HorizontalFlip = c.HorizontalFlip && strength > 0
	c.Seed = seed
	return &c
}

// Validate checks the ranges.
func (c Config) Validate() error {
	if c.FillMode != "" && c.FillMode != "nearest" {
		return errors.Errorf("augment: fill_mode %q is not supported (only \"nearest\")", c.FillMode)
	}
	for name, v := range map[string]float64{"rotation_range": c.RotationRange, "width_shift_range": c.WidthShiftRange,
		"height_shift_range": c.HeightShiftRange, "shear_range": c.ShearRange, "zoom_range": c.ZoomRange} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.Errorf("augment: %s must be a finite value >= 0, got %g", name, v)
		}
	}
	if c.ZoomRange >= 1 {
		return errors.Errorf("augment: zoom_range %g must be < 1 (zoom factors in [1-z, 1+z] must stay positive)", c.ZoomRange)
	}
	return nil
}

// Params are one image's random transform, in Keras' names: Theta and Shear in degrees,
// Tx the shift along rows (height) and Ty along columns (width) in pixels.
type Params struct {
	Theta, Tx, Ty, Shear, Zx, Zy float64
	Flip                         bool
}

func (p Params) String() string {
	return fmt.Sprintf("θ=%.2f° tx=%.2f ty=%.2f shear=%.3f° zx=%.3f zy=%.3f flip=%v", p.Theta, p.Tx, p.Ty, p.Shear, p.Zx, p.Zy, p.Flip)
}

// Random returns the parameters for image index of epoch for an h×w image; they depend
// only on (c.Seed, epoch, index), never on the order images are processed in. The draws
// are in Keras' order (θ, tx, ty, shear, zx, zy, flip).
func (c Config) Random(epoch, index, h, w int) Params {
	r := newRNG(c.Seed, epoch, index)
	p := Params{Zx: 1, Zy: 1}
	if c.RotationRange != 0 {
		p.Theta = r.uniform(-c.RotationRange, c.RotationRange)
	}
	if c.HeightShiftRange != 0 {
		p.Tx = r.uniform(-c.HeightShiftRange, c.HeightShiftRange)
		if c.HeightShiftRange < 1 {
			p.Tx *= float64(h)
		}
	}
	if c.WidthShiftRange != 0 {
		p.Ty = r.uniform(-c.WidthShiftRange, c.WidthShiftRange)
		if c.WidthShiftRange < 1 {
			p.Ty *= float64(w)
		}
	}
	if c.ShearRange != 0 {
		p.Shear = r.uniform(-c.ShearRange, c.ShearRange)
	}
	if c.ZoomRange != 0 {
		p.Zx = r.uniform(1-c.ZoomRange, 1+c.ZoomRange)
		p.Zy = r.uniform(1-c.ZoomRange, 1+c.ZoomRange)
	}
	if c.HorizontalFlip {
		p.Flip = r.float64() < 0.5
	}
	return p
}

// Matrix returns Keras' transform matrix for an h×w image as the 2×3 affine map from
// output (row, col) to input (row, col): [a b c; d e f] (input row = a·r + b·c + c, ...),
// before the flip. Its composition is apply_affine_transform's: rotation · shift · shear ·
// zoom, then transform_matrix_offset_center(m, h, w).
func (p Params) Matrix(h, w int) [6]float64 {
	m := mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if p.Theta != 0 {
		t := p.Theta * math.Pi / 180
		m = m.mul(mat3{{math.Cos(t), -math.Sin(t), 0}, {math.Sin(t), math.Cos(t), 0}, {0, 0, 1}})
	}
	if p.Tx != 0 || p.Ty != 0 {
		m = m.mul(mat3{{1, 0, p.Tx}, {0, 1, p.Ty}, {0, 0, 1}})
	}
	if p.Shear != 0 {
		s := p.Shear * math.Pi / 180
		m = m.mul(mat3{{1, -math.Sin(s), 0}, {0, math.Cos(s), 0}, {0, 0, 1}})
	}
	if p.Zx != 1 || p.Zy != 1 {
		m = m.mul(mat3{{p.Zx, 0, 0}, {0, p.Zy, 0}, {0, 0, 1}})
	}
	ox, oy := float64(h)/2+0.5, float64(w)/2+0.5
	m = mat3{{1, 0, ox}, {0, 1, oy}, {0, 0, 1}}.mul(m).mul(mat3{{1, 0, -ox}, {0, 1, -oy}, {0, 0, 1}})
	return [6]float64{m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2]}
}

type mat3 [3][3]float64

func (a mat3) mul(b mat3) mat3 {
	var c mat3
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// Apply warps src with p and writes the result, multiplied by scale (0 means 1), into
// dst as float32 HWC RGB of src's size (len(dst) >= src.Width*src.Height*3). Sampling is
// bilinear with coordinates clamped to the border (fill_mode="nearest").
func Apply(src *images.RGB, p Params, scale float32, dst []float32) {
	if scale == 0 {
		scale = 1
	}
	h, w := src.Height, src.Width
	dst = dst[:h*w*3]
	if p == (Params{Zx: 1, Zy: 1}) {
		for i, v := range src.Pix {
			dst[i] = float32(v) * scale
		}
		return
	}
	m := p.Matrix(h, w)
	maxR, maxC := float64(h-1), float64(w-1)
	pix := src.Pix
	for r := range h {
		for c := range w {
			cc := float64(c)
			if p.Flip { // flip after the warp = read the warp at the mirrored column
				cc = float64(w - 1 - c)
			}
			ir := m[0]*float64(r) + m[1]*cc + m[2]
			ic := m[3]*float64(r) + m[4]*cc + m[5]
			ir = min(max(ir, 0), maxR)
			ic = min(max(ic, 0), maxC)
			r0, c0 := int(ir), int(ic)
			fr, fc := float32(ir-float64(r0)), float32(ic-float64(c0))
			r1, c1 := min(r0+1, h-1), min(c0+1, w-1)
			i00, i01 := (r0*w+c0)*3, (r0*w+c1)*3
			i10, i11 := (r1*w+c0)*3, (r1*w+c1)*3
			o := (r*w + c) * 3
			for k := range 3 {
				top := float32(pix[i00+k]) + fc*(float32(pix[i01+k])-float32(pix[i00+k]))
				bot := float32(pix[i10+k]) + fc*(float32(pix[i11+k])-float32(pix[i10+k]))
				dst[o+k] = (top + fr*(bot-top)) * scale
			}
		}
	}
}

// Transform returns, for one epoch, the per-image function images.BatchOptions.Transform
// expects: it draws image index's parameters with Random and applies them with Apply.
func (c Config) Transform(epoch int) func(index int, img *images.RGB, dst []float32) {
	return func(index int, img *images.RGB, dst []float32) {
		Apply(img, c.Random(epoch, index, img.Height, img.Width), c.Rescale, dst)
	}
}

// rng is the splitmix64 generator, whose output
// is fixed by its definition, so parameters are the same on every machine and Go version.
type rng struct{ state uint64 }

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func newRNG(seed int64, epoch, index int) *rng {
	s := splitmix(uint64(seed))
	s = splitmix(s ^ uint64(epoch))
	s = splitmix(s ^ uint64(index))
	return &rng{state: s}
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float64 returns a uniform value in [0, 1).
func (r *rng) float64() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.float64() }

// TransformSubset is Transform for one batch of a longer list of images: the k-th image of the
// batch is image indices[k] of the list, so its draws depend on (Seed, epoch, its index in the
// list), never on the batch it falls in.
func (c Config) TransformSubset(epoch int, indices []int) func(k int, img *images.RGB, dst []float32) {
	tf := c.Transform(epoch)
	return func(k int, img *images.RGB, dst []float32) { tf(indices[k], img, dst) }
}
