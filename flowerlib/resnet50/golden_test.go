package resnet50

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/npy"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
)

// Golden features: the independent PyTorch ResNet50 of tools/reference, run in float64 on
// RandomWeights(goldenSeed) and two committed test images at 64×64, wrote
// testdata/golden_features.npy (avg pooling, [2, 2048]); the pixels it saw are
// testdata/golden_pixels.npy (uint8 [2, 64, 64, 3], images.Load of
// images/testdata/video-001.png and video-001.cmyk.png). So every `go test`, with PyTorch or
// without, checks the model against an independent implementation. Regenerate with
//
//	FLOWERS_WRITE_GOLDEN=1 GOEXPERIMENT=simd go test -run TestGoldenFeatures ./flowerlib/resnet50/
const goldenSeed = 7

func TestGoldenFeatures(t *testing.T) {
	pixPath, featPath := filepath.Join("testdata", "golden_pixels.npy"), filepath.Join("testdata", "golden_features.npy")
	if os.Getenv("FLOWERS_WRITE_GOLDEN") != "" {
		writeGolden(t, pixPath, featPath)
	}
	shape, pix, err := npy.ReadUint8(pixPath)
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := npy.ReadFloat32(featPath)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]float32, len(pix))
	for i, v := range pix {
		in[i] = float32(v)
	}
	backends := []string{"go"}
	if backend.Choose("") != "go" {
		backends = append(backends, backend.Choose(""))
	}
	for _, name := range backends {
		b, err := backend.New(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := NewBase(b, RandomWeights(goldenSeed, false), Options{Pooling: PoolingAvg})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ex.ExtractFloats(in, shape[0], shape[1], shape[2])
		ex.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		var maxDiff, maxAbs float64
		for i := range want {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
			maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		}
		t.Logf("%s: max |flowerlib − PyTorch float64| = %.3g (%.2g relative)", name, maxDiff, maxDiff/maxAbs)
		if maxDiff > 1e-4*maxAbs {
			t.Errorf("%s: features differ from the golden PyTorch features by %.3g relative (bound 1e-4)", name, maxDiff/maxAbs)
		}
	}
}

func writeGolden(t *testing.T, pixPath, featPath string) {
	const size = 64
	var pix []uint8
	for _, f := range []string{"video-001.png", "video-001.cmyk.png"} {
		img, err := images.Load(filepath.Join(testdata.RepoRoot(), "flowerlib", "images", "testdata", f), size)
		if err != nil {
			t.Fatal(err)
		}
		pix = append(pix, img.Pix...)
	}
	if err := npy.WriteUint8(pixPath, []int{2, size, size, 3}, pix); err != nil {
		t.Fatal(err)
	}
	h5 := filepath.Join(t.TempDir(), "w.h5")
	if err := weights.WriteH5(h5, RandomWeights(goldenSeed, false)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join(testdata.RepoRoot(), "tools", "reference", "torch_reference.py"), "features",
		"--weights", h5, "--images", pixPath, "--features", featPath, "--pooling", "avg", "--dtype", "float64")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in the repository
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("PyTorch reference: %v\n%s", err, out)
	}
}
