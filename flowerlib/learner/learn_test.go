package learner

import (
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"github.com/flowerlib/flowers/internal/testdata"
)

// writeClassImages writes perClass noisy PNGs of 5 visually distinct classes under
// root/<class>/: solid red, solid blue, horizontal stripes, vertical stripes, checkerboard.
func writeClassImages(t testing.TB, root string, perClass, size int) {
	t.Helper()
	classes := []string{"blue", "checker", "hstripes", "red", "vstripes"}
	r := rand.New(rand.NewPCG(5, 5))
	for _, c := range classes {
		dir := filepath.Join(root, c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perClass; i++ {
			img := image.NewRGBA(image.Rect(0, 0, size, size))
			phase := r.IntN(8)
			for y := 0; y < size; y++ {
				for x := 0; x < size; x++ {
					var v [3]float64
					on := func(k int) bool { return ((k+phase)/4)%2 == 0 }
					switch c {
					case "red":
						v = [3]float64{210, 40, 40}
					case "blue":
						v = [3]float64{40, 60, 210}
					case "hstripes":
						if on(y) {
							v = [3]float64{230, 230, 230}
						} else {
							v = [3]float64{20, 20, 20}
						}
					case "vstripes":
						if on(x) {
							v = [3]float64{230, 230, 230}
						} else {
							v = [3]float64{20, 20, 20}
						}
					case "checker":
						if on(x) != on(y) {
							v = [3]float64{230, 200, 30}
						} else {
							v = [3]float64{30, 120, 30}
						}
					}
					px := color.RGBA{A: 255}
					ch := []*uint8{&px.R, &px.G, &px.B}
					for k := range ch {
						*ch[k] = uint8(min(255, max(0, v[k]+r.NormFloat64()*25)))
					}
					img.SetRGBA(x, y, px)
				}
			}
			imagestest.WritePNG(t, filepath.Join(dir, string(rune('a'+i/26))+string(rune('a'+i%26))+".png"), img)
		}
	}
}

// TestLearnGeneratedImages: generated images of 5 distinct classes, through the real (random
// weights) ResNet50 at 64×64 and the article's head with avg pooling, reach ≥95% validation accuracy.
func TestLearnGeneratedImages(t *testing.T) {
	testdata.Slow(t, "trains heads to convergence, on each backend")
	forEachBackend(t, testLearnGeneratedImages)
}

func testLearnGeneratedImages(t *testing.T, backendName string) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 24, 64)
	res, err := Run(Config{Run: config.Run{Data: filepath.Join(dir, "data"), Weights: "random:1", RunDir: filepath.Join(dir, "run"), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 64, Backend: backendName, Epochs: 30, BatchSize: 8}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final epoch: %s", res.Final.Line())
	if res.Final.ValAccuracy < 0.95 || res.Eval.Accuracy < 0.95 {
		t.Errorf("validation accuracy %.3f (eval %.3f), want ≥ 0.95", res.Final.ValAccuracy, res.Eval.Accuracy)
	}
}

// TestMemorizeSamplePhotos: on the 200 real sample photos with random-weights ResNet50 (at
// 64×64 to keep CI short, pooled head) the training accuracy climbs to ≥95%: the loop, the
// gradients and the optimizer work.
func TestMemorizeSamplePhotos(t *testing.T) {
	testdata.Slow(t, "trains 20 epochs on the 200 sample photos")
	data := testdata.RequireSample(t)
	dir := t.TempDir()
	res, err := Run(Config{Run: config.Run{Data: data, Weights: "random:1", RunDir: filepath.Join(dir, "run"), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 64, Backend: "go", Epochs: 20}, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.History[0], res.Final
	t.Logf("epoch 1: %s; epoch %d: %s", first.Line(), last.Epoch, last.Line())
	if last.Accuracy < 0.95 {
		t.Errorf("training accuracy %.3f after %d epochs, want ≥ 0.95", last.Accuracy, last.Epoch)
	}
}

type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func testLog(t testing.TB) tlog { return tlog{t} }

// forEachBackend runs test on the go backend and on xla:cpu when its PJRT plugin is installed
// (.ci/venv.sh installs one; under CI=true it must be there).
func forEachBackend(t *testing.T, test func(t *testing.T, backendName string)) {
	t.Run("go", func(t *testing.T) { test(t, "go") })
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no PJRT plugin (PJRT_PLUGIN_LIBRARY_PATH unset): source .ci/venv.sh")
		}
		t.Log("xla:cpu not tested: no PJRT plugin (source .ci/venv.sh)")
		return
	}
	t.Run("xla:cpu", func(t *testing.T) { test(t, "xla:cpu") })
}
