package augment

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/internal/testdata"
)

func randomImage(w, h int, seed uint64) *images.RGB {
	img := images.NewRGB(w, h)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	return img
}

func TestIdentityFlipShift(t *testing.T) {
	src := randomImage(7, 5, 1)
	dst := make([]float32, 7*5*3)
	Apply(src, Params{Zx: 1, Zy: 1}, 0.5, dst)
	for i, v := range src.Pix {
		if dst[i] != float32(v)*0.5 {
			t.Fatalf("identity with rescale: %v != %v", dst[i], float32(v)*0.5)
		}
	}
	Apply(src, Params{Zx: 1, Zy: 1, Flip: true}, 1, dst)
	for y := range 5 {
		for x := range 7 {
			r, g, b := src.At(6-x, y)
			o := (y*7 + x) * 3
			if dst[o] != float32(r) || dst[o+1] != float32(g) || dst[o+2] != float32(b) {
				t.Fatalf("flip: (%d,%d) is not the mirror", x, y)
			}
		}
	}
	// Keras' shift: input column = output column + ty, clamped at the border (nearest).
	Apply(src, Params{Zx: 1, Zy: 1, Ty: 3}, 1, dst)
	for y := range 5 {
		for x := range 7 {
			r, _, _ := src.At(min(x+3, 6), y)
			if dst[(y*7+x)*3] != float32(r) {
				t.Fatalf("shift ty=3: (%d,%d) = %v, want %v", x, y, dst[(y*7+x)*3], r)
			}
		}
	}
}

// TestMatchesKerasMatrixTorch runs keras_preprocessing's apply_affine_transform matrix
// code (copied verbatim into the script) and samples with torch.grid_sample (bilinear,
// border padding, align_corners=True: the same as scipy's affine_transform with order=1,
// mode="nearest"), then flips like Keras; the Go warp must agree.
func TestMatchesKerasMatrixTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, numpy").Run(); err != nil {
		t.Skip("torch/numpy not available in /usr/bin/python3: skipping the reference comparison")
	}
	const w, h = 53, 41
	src := randomImage(w, h, 3)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.raw"), src.Pix, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := ArticleGenerator()
	cfg.ShearRange = 20 // make the shear visible
	params := []Params{
		{Theta: 30, Zx: 1, Zy: 1},
		{Tx: 4.5, Ty: -7.25, Zx: 1, Zy: 1},
		{Shear: 15, Zx: 1, Zy: 1},
		{Zx: 0.8, Zy: 1.25},
		{Theta: -17, Tx: 3, Ty: 2, Shear: 8, Zx: 1.1, Zy: 0.9, Flip: true},
	}
	for i := range 5 {
		params = append(params, cfg.Random(1, i, h, w))
	}
	script := `
import sys, numpy as np, torch
import torch.nn.functional as F
w, h = int(sys.argv[2]), int(sys.argv[3])
x = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(h, w, 3).astype(np.float32)

def transform_matrix_offset_center(matrix, x, y):
    o_x = float(x) / 2 + 0.5
    o_y = float(y) / 2 + 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    transform_matrix = np.dot(np.dot(offset_matrix, matrix), reset_matrix)
    return transform_matrix

def keras_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, h=0, w=0):
    # keras_preprocessing/image/affine_transformations.py apply_affine_transform
    transform_matrix = None
    if theta != 0:
        theta = np.deg2rad(theta)
        rotation_matrix = np.array([[np.cos(theta), -np.sin(theta), 0],
                                    [np.sin(theta), np.cos(theta), 0],
                                    [0, 0, 1]])
        transform_matrix = rotation_matrix
    if tx != 0 or ty != 0:
        shift_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        transform_matrix = shift_matrix if transform_matrix is None else np.dot(transform_matrix, shift_matrix)
    if shear != 0:
        shear = np.deg2rad(shear)
        shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
        transform_matrix = shear_matrix if transform_matrix is None else np.dot(transform_matrix, shear_matrix)
    if zx != 1 or zy != 1:
        zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        transform_matrix = zoom_matrix if transform_matrix is None else np.dot(transform_matrix, zoom_matrix)
    if transform_matrix is None:
        return np.eye(3)
    return transform_matrix_offset_center(transform_matrix, h, w)

img = torch.from_numpy(x).permute(2, 0, 1)[None].double()
rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
for k, arg in enumerate(sys.argv[5:]):
    theta, tx, ty, shear, zx, zy, flip = map(float, arg.split(','))
    m = keras_matrix(theta, tx, ty, shear, zx, zy, h, w)
    ir = m[0, 0] * rr + m[0, 1] * cc + m[0, 2]
    ic = m[1, 0] * rr + m[1, 1] * cc + m[1, 2]
    grid = torch.from_numpy(np.stack([2 * ic / (w - 1) - 1, 2 * ir / (h - 1) - 1], axis=-1))[None]
    y = F.grid_sample(img, grid, mode='bilinear', padding_mode='border', align_corners=True)
    y = y[0].permute(1, 2, 0).numpy()
    if flip:
        y = y[:, ::-1]  # keras flip_axis(x, img_col_axis) after the warp
    np.ascontiguousarray(y).astype(np.float32).tofile('%s%d' % (sys.argv[4], k))
`
	args := []string{"-c", script, filepath.Join(dir, "in.raw"), fmt.Sprint(w), fmt.Sprint(h), filepath.Join(dir, "out")}
	for _, p := range params {
		flip := 0
		if p.Flip {
			flip = 1
		}
		args = append(args, fmt.Sprintf("%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%d", p.Theta, p.Tx, p.Ty, p.Shear, p.Zx, p.Zy, flip))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("reference failed: %v\n%s", err, out)
	}
	dst := make([]float32, w*h*3)
	for k, p := range params {
		raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%d", k)))
		if err != nil {
			t.Fatal(err)
		}
		Apply(src, p, 1, dst)
		worst := 0.0
		for i, v := range dst {
			ref := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			worst = max(worst, math.Abs(float64(v-ref)))
		}
		t.Logf("%v: max |Go - Keras matrix + torch sampling| = %.5f", p, worst)
		if worst > 0.01 {
			t.Errorf("%v: max difference %.4f > 0.01", p, worst)
		}
	}
}

func TestRandomParams(t *testing.T) {
	cfg := ArticleGenerator()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	const n = 4000
	flips, sumTheta := 0, 0.0
	var minZ, maxZ = 2.0, 0.0
	for i := range n {
		p := cfg.Random(0, i, 224, 200)
		if math.Abs(p.Theta) > 40 || math.Abs(p.Tx) > 0.4*224 || math.Abs(p.Ty) > 0.4*200 || math.Abs(p.Shear) > 0.2 ||
			p.Zx < 0.7 || p.Zx > 1.3 || p.Zy < 0.7 || p.Zy > 1.3 {
			t.Fatalf("draw %d out of range: %v", i, p)
		}
		sumTheta += p.Theta
		minZ, maxZ = min(minZ, p.Zx), max(maxZ, p.Zx)
		if p.Flip {
			flips++
		}
		if p.Zx == p.Zy {
			t.Fatalf("zx and zy must be drawn independently: %v", p)
		}
	}
	if f := float64(flips) / n; f < 0.46 || f > 0.54 {
		t.Errorf("flip frequency %.3f, want 0.5", f)
	}
	if m := sumTheta / n; math.Abs(m) > 1.5 {
		t.Errorf("mean rotation %.2f°, want about 0", m)
	}
	if minZ > 0.72 || maxZ < 1.28 {
		t.Errorf("zoom draws span [%.3f, %.3f], want about [0.7, 1.3]", minZ, maxZ)
	}
	if cfg.Random(0, 5, 10, 10) != cfg.Random(0, 5, 10, 10) || cfg.Random(0, 5, 10, 10) == cfg.Random(1, 5, 10, 10) ||
		cfg.Random(0, 5, 10, 10) == cfg.Random(0, 6, 10, 10) {
		t.Errorf("parameters must depend on exactly (seed, epoch, index)")
	}
	for _, bad := range []Config{{FillMode: "reflect"}, {ZoomRange: 1}, {RotationRange: -1}, {ShearRange: math.NaN()}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// Parallel workers give the same batches as one worker.
func TestReproducibleInParallel(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i := range 9 {
		p := filepath.Join(dir, fmt.Sprintf("%d.jpg", i))
		if err := os.WriteFile(p, imagestest.JPEG(imagestest.Pattern(40+i, 30)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	run := func(workers, epoch int) []float32 {
		it := images.NewBatches(paths, images.BatchOptions{Size: 32, BatchSize: 4, Workers: workers, Transform: ArticleGenerator().Transform(epoch)})
		defer it.Close()
		var all []float32
		for b := range it.All() {
			all = append(all, b.Data...)
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		return all
	}
	one, three := run(1, 0), run(3, 0)
	if !slices.Equal(one, three) {
		t.Errorf("1 and 3 workers gave different augmentations")
	}
	if slices.Equal(one, run(2, 1)) {
		t.Errorf("epoch 1 gave the same augmentations as epoch 0")
	}
	for _, v := range one {
		if v < 0 || v > 1 {
			t.Fatalf("rescaled value %v outside [0, 1]", v)
		}
	}
}

// BenchmarkDecodeResizeAugment measures the input pipeline of the article's training on the
// real sample photos: decode JPEG, resize to 224×224, augment with ArticleGenerator, as
// float32 batches of 32 on all cores. Reports images/s (wall clock) and images/cpu-s
// (per CPU-second: on a machine shared with other jobs, ×cores estimates the idle figure).
//
//	GOEXPERIMENT=simd go test -run '^$' -bench DecodeResizeAugment -benchtime 400x ./flowerlib/augment/
func BenchmarkDecodeResizeAugment(b *testing.B) {
	dir := testdata.RequireSample(b)
	tab, _, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"decode+resize", "decode+resize+augment"} {
		b.Run(strings.ReplaceAll(mode, "+", "_"), func(b *testing.B) {
			paths := make([]string, b.N)
			for i := range paths {
				paths[i] = tab.Rows[i%len(tab.Rows)].Path
			}
			opts := images.BatchOptions{Size: 224, BatchSize: 32}
			if strings.HasSuffix(mode, "augment") {
				opts.Transform = ArticleGenerator().Transform(0)
			}
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			it := images.NewBatches(paths, opts)
			n := 0
			for batch := range it.All() {
				n += batch.N
			}
			it.Close()
			if it.Err() != nil || n != b.N {
				b.Fatalf("decoded %d of %d: %v", n, b.N, it.Err())
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "images/s")
			// Per CPU-second of this process: stable when other jobs share the machine.
			b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "images/cpu-s")
		})
	}
}

// cpuTime returns the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
