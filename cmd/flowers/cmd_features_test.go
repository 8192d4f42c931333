package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/npy"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
)

// samplePhotos returns the first n photos (in path order) of the 200-photo sample
// (../shared/data/flower_photos_small, or $FLOWERS_SAMPLE_DIR) or, where it is absent and n
// fits, of the photos embedded in flowerlib; otherwise it skips (fails under CI=true).
func samplePhotos(t *testing.T, n int) []string {
	dir := testdata.SampleDir()
	if dir == "" && n <= sample.Count() {
		dir = testdata.Photos(t)
	}
	if dir == "" {
		testdata.Need(t, "needs the 200 sample photos (../shared/data/flower_photos_small or $%s)", testdata.SampleEnv)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if len(paths) < n {
		t.Fatalf("%d photos in %s, want %d", len(paths), dir, n)
	}
	slices.Sort(paths)
	return paths[:n]
}

// readNPY reads a float32 .npy file.
func readNPY(t *testing.T, path string) ([]int, []float32) {
	shape, data, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	return shape, data
}

func TestFeaturesCommand(t *testing.T) {
	paths := samplePhotos(t, 3)
	dir := t.TempDir()
	h5 := filepath.Join(dir, "random3.h5")
	if err := weights.WriteH5(h5, resnet50.RandomWeights(3, false)); err != nil {
		t.Fatal(err)
	}
	// A text file named .jpg in the middle of the list is skipped and reported (BAD_INPUTS 12);
	// the rows CSV says which image each row is.
	bad := filepath.Join(dir, "notes.jpg")
	if err := os.WriteFile(bad, []byte("not a photo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listed := []string{paths[0], bad, paths[1], paths[2]}
	fromFile := filepath.Join(dir, "file.npy")
	fromRandom := filepath.Join(dir, "random.npy")
	common := []string{"-size", "32", "-pooling", "avg", "-backend", "go", "-cache", filepath.Join(dir, "cache")}
	// Every listed image gets its answer; the bad one makes the command fail once the others
	// are written (BAD_INPUTS 29).
	const partly = "1 of the 4 images could not be used (listed above); the others were written"
	if err := runFeatures(append(append([]string{"-weights", h5, "-out", fromFile}, common...), listed...)); err == nil || err.Error() != partly {
		t.Fatalf("want %q, got %v", partly, err)
	}
	if err := runFeatures(append(append([]string{"-weights", "random:3", "-out", fromRandom}, common...), listed...)); err == nil || err.Error() != partly {
		t.Fatalf("want %q, got %v", partly, err)
	}
	shape, got := readNPY(t, fromFile)
	if !slices.Equal(shape, []int{3, 2048}) {
		t.Fatalf("shape %v, want [3 2048]", shape)
	}
	if _, again := readNPY(t, fromRandom); !slices.Equal(got, again) {
		t.Error("features from the .h5 file differ from the same random weights in memory")
	}
	// Row i is image i: compare with the Extractor on each photo alone.
	b, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := resnet50.NewBase(b, resnet50.RandomWeights(3, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		img, err := images.Load(p, 32)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ex.ExtractFloats(img.Float32(), 1, 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		row := got[i*2048 : (i+1)*2048]
		for j := range want {
			if d := math.Abs(float64(row[j] - want[j])); d > 1e-4*math.Max(1, math.Abs(float64(want[j]))) {
				t.Fatalf("row %d (%s) feature %d: %g, want %g", i, p, j, row[j], want[j])
			}
		}
	}
	csv, err := os.ReadFile(filepath.Join(dir, "file.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 4 || lines[0] != "row,images" || lines[1] != "0,"+paths[0] || lines[2] != "1,"+paths[1] || lines[3] != "2,"+paths[2] {
		t.Errorf("rows CSV:\n%s", csv)
	}

	// A no-top file for -top: one error naming the missing tensors.
	err = runFeatures(append([]string{"-weights", h5, "-top", "-out", filepath.Join(dir, "x.npy"), "-size", "32", "-backend", "go"}, paths[0]))
	if err == nil || !strings.Contains(err.Error(), "predictions/kernel [2048 1000]") || !strings.Contains(err.Error(), h5) {
		t.Errorf("-top with a no-top file: %v", err)
	}
	// Flags.
	if err := runFeatures([]string{"-weights", "random", "-out", filepath.Join(dir, "y.npy")}); err == nil || !strings.Contains(err.Error(), "-data DIR or a list") {
		t.Errorf("no images: %v", err)
	}
	if err := runFeatures([]string{"-weights", "random:x", "-out", filepath.Join(dir, "y.npy"), paths[0]}); err == nil || !strings.Contains(err.Error(), "seed must be an integer") {
		t.Errorf("bad seed: %v", err)
	}
}

// The official with-top file names its top Dense "probs" (keras-applications' resnet_common.py):
// -top loads it by layer order, as Keras does, and gives the probabilities of the same weights
// named "predictions"; so does the Keras 3 layout of the same weights, and the probs file feeds
// the model without the top too.
func TestFeaturesTopProbsFile(t *testing.T) {
	paths := samplePhotos(t, 2)
	dir := t.TempDir()
	w := resnet50.RandomWeights(3, true)
	probs := &weights.File{Layers: slices.Clone(w.Layers)}
	last := &probs.Layers[len(probs.Layers)-1]
	if last.Name != resnet50.TopLayerName {
		t.Fatalf("last layer %q", last.Name)
	}
	last.Name = "probs"
	last.Weights = []weights.Tensor{last.Weights[0], last.Weights[1]}
	last.Weights[0].Name, last.Weights[1].Name = "probs/kernel:0", "probs/bias:0"
	probsPath := filepath.Join(dir, "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
	if err := weights.WriteH5(probsPath, probs); err != nil {
		t.Fatal(err)
	}
	k3, err := resnet50.ToKeras3(w, true)
	if err != nil {
		t.Fatal(err)
	}
	k3Path := filepath.Join(dir, "top.weights.h5")
	if err := weights.WriteKeras3(k3Path, k3); err != nil {
		t.Fatal(err)
	}
	b, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[bool][]float32{}
	for _, top := range []bool{true, false} {
		ex, err := resnet50.NewBase(b, w, resnet50.Options{IncludeTop: top, Pooling: resnet50.PoolingAvg})
		if err != nil {
			t.Fatal(err)
		}
		var pix []float32 // one batch, as the command runs them
		for _, p := range paths {
			img, err := images.Load(p, 32)
			if err != nil {
				t.Fatal(err)
			}
			pix = append(pix, img.Float32()...)
		}
		if want[top], err = ex.ExtractFloats(pix, len(paths), 32, 32); err != nil {
			t.Fatal(err)
		}
		ex.Finalize()
	}
	for _, c := range []struct {
		file string
		top  bool
	}{{probsPath, true}, {k3Path, true}, {probsPath, false}} {
		out := filepath.Join(dir, "out.npy")
		args := []string{"-weights", c.file, "-out", out, "-size", "32", "-backend", "go", "-cache", filepath.Join(dir, "cache")}
		if c.top {
			args = append(args, "-top")
		}
		if err := runFeatures(append(args, paths...)); err != nil {
			t.Fatalf("%s, top=%v: %v", filepath.Base(c.file), c.top, err)
		}
		shape, got := readNPY(t, out)
		if wantShape := []int{2, 2048}; c.top {
			wantShape = []int{2, 1000}
		} else if !slices.Equal(shape, wantShape) {
			t.Fatalf("shape %v", shape)
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[c.top][i])); d > 1e-6*math.Max(1, math.Abs(float64(want[c.top][i]))) {
				t.Fatalf("%s, top=%v: value %d is %g, want %g", filepath.Base(c.file), c.top, i, got[i], want[c.top][i])
			}
		}
	}
}
