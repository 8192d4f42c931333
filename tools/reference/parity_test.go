package reference

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/npy"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
	"github.com/gomlx/compute"
)

const python = "/usr/bin/python3"

// Tolerance is the parity criterion for pooled features: for every image,
// max_j |go_j - torch_j| / max_j |torch_j| (the error relative to the feature vector's
// largest magnitude, i.e. ∞-norm relative) must not exceed it.
const Tolerance = 1e-4

// requirePython skips (or, with CI=true, fails) when /usr/bin/python3 lacks the modules.
func requirePython(t *testing.T, modules string) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import "+modules).CombinedOutput()
	if err == nil {
		return
	}
	testdata.Need(t, "needs %s with %s (Debian python3-h5py python3-torch): %v %s", python, modules, err, out)
}

func script(name string) string {
	return filepath.Join(repoRoot(), "tools", "reference", name)
}

func runPython(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in the repository
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", python, args, err, out)
	}
	t.Logf("%s (%.1fs): %s", filepath.Base(args[0]), time.Since(start).Seconds(), out)
}

// shapes lists "layer/weight[shape]" in file order.
func shapes(f *weights.File) []string {
	var out []string
	for _, l := range f.Layers {
		out = append(out, l.Name)
		for _, w := range l.Weights {
			out = append(out, fmt.Sprintf("%s%v", w.Name, w.Shape))
		}
	}
	return out
}

// TestKerasLayoutSame checks that the file keras_h5.py writes (h5py, the layer list
// derived from Keras's resnet.py) and the one Go writes (resnet50.RandomWeights +
// weights.WriteH5) read back identically through weights.ReadH5: layer names, order,
// weight names and shapes, with and without the top.
func TestKerasLayoutSame(t *testing.T) {
	requirePython(t, "h5py, numpy")
	dir := t.TempDir()
	for _, top := range []bool{false, true} {
		pyPath := filepath.Join(dir, fmt.Sprintf("py_%v.h5", top))
		args := []string{script("keras_h5.py"), "--seed", "7", "--out", pyPath}
		if top {
			args = append(args, "--top")
		}
		runPython(t, args...)
		goPath := filepath.Join(dir, fmt.Sprintf("go_%v.h5", top))
		if err := weights.WriteH5(goPath, resnet50.RandomWeights(7, top)); err != nil {
			t.Fatal(err)
		}
		py, err := weights.ReadH5(pyPath)
		if err != nil {
			t.Fatal(err)
		}
		gw, err := weights.ReadH5(goPath)
		if err != nil {
			t.Fatal(err)
		}
		a, b := shapes(py), shapes(gw)
		if len(a) != len(b) {
			t.Errorf("top=%v: keras_h5.py gives %d layers+weights, Go %d", top, len(a), len(b))
		}
		for i := 0; i < min(len(a), len(b)); i++ {
			if a[i] != b[i] {
				t.Fatalf("top=%v: entry %d differs: keras_h5.py %q, Go %q", top, i, a[i], b[i])
			}
		}
		wantLayers := 175
		if top {
			wantLayers = 177
		}
		if len(py.Layers) != wantLayers {
			t.Errorf("top=%v: %d layers, want %d", top, len(py.Layers), wantLayers)
		}
		if err := resnet50.CheckWeights(py, top); err != nil {
			t.Errorf("top=%v: resnet50.CheckWeights rejects the keras_h5.py file: %v", top, err)
		}
	}
}

// TestTorchParity runs flowerlib's ResNet50 and the independent PyTorch one
// (torch_reference.py) on the same random Keras-layout weights and real sample photos, on
// every backend: "go" (flowerlib's fast convolution path) and "xla:cpu" (XLA's native
// convolution) when its PJRT plugin is installed (required with CI=true). Pooled (avg)
// features must agree within Tolerance (see its definition) on every image, between each
// backend and PyTorch and between the two backends. The top (avg_pool → predictions, a Dense
// layer and a softmax) on flowerlib's pooled features must give PyTorch's top-5 classes on every
// image, and flowerlib's with-top model (IncludeTop) the same probabilities on the first
// topPhotos: one ResNet50 pass per photo and backend, not two.
//
// FLOWERS_PARITY_N sets the number of photos (default 16; "all" for every sample
// photo); FLOWERS_REF_DTYPE=float64 runs the reference in float64 (default float32,
// which differs from float64 by about 3e-8 relative on these weights).
func TestTorchParity(t *testing.T) {
	testdata.Slow(t, "ResNet50 on the sample photos, flowerlib on each backend and PyTorch")
	requirePython(t, "h5py, numpy, torch")
	n := 16
	if s := os.Getenv("FLOWERS_PARITY_N"); s == "all" {
		n = 1 << 30
	} else if s != "" {
		n, _ = strconv.Atoi(s)
	}
	paths := testdata.SamplePhotos(t, n)
	if len(paths) < 16 && os.Getenv("FLOWERS_PARITY_N") == "" {
		t.Fatalf("only %d sample photos found, need 16", len(paths))
	}
	n = len(paths)
	dir := t.TempDir()

	top, topPath, noTopPath := parityWeights(t, dir)

	// Photos: decoded and resized once by flowerlib; both models get the same uint8 pixels.
	const size = 224
	pix := make([]uint8, 0, n*size*size*3)
	for _, p := range paths {
		img, err := images.Load(p, size)
		if err != nil {
			t.Fatal(err)
		}
		pix = append(pix, img.Pix...)
	}
	imgPath := filepath.Join(dir, "images.npy")
	if err := npy.WriteUint8(imgPath, []int{n, size, size, 3}, pix); err != nil {
		t.Fatal(err)
	}

	dtype := "float32"
	if os.Getenv("FLOWERS_REF_DTYPE") == "float64" {
		dtype = "float64"
	}
	refFeat, refProbs := filepath.Join(dir, "ref_features.npy"), filepath.Join(dir, "ref_probs.npy")
	runPython(t, script("torch_reference.py"), "features", "--weights", topPath, "--images", imgPath,
		"--features", refFeat, "--top", "--probs", refProbs, "--dtype", dtype,
		"--threads", strconv.Itoa(runtime.NumCPU()))
	_, wantFeat, err := npy.ReadFloat32(refFeat)
	if err != nil {
		t.Fatal(err)
	}
	_, wantProbs, err := npy.ReadFloat32(refProbs)
	if err != nil {
		t.Fatal(err)
	}

	pixF := make([]float32, len(pix))
	for i, v := range pix {
		pixF[i] = float32(v)
	}
	feats := map[string][]float32{}
	for _, name := range parityBackends(t) {
		be, err := backend.New(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		run := func(path string, opts resnet50.Options, n int) []float32 {
			return extract(t, be, name, path, opts, pixF[:n*size*size*3], n, size)
		}
		feats[name] = run(noTopPath, resnet50.Options{Pooling: resnet50.PoolingAvg}, n)
		checkFeatures(t, name+" vs PyTorch", paths, feats[name], wantFeat)
		probs := topProbs(t, top, feats[name])
		checkTop5(t, name+" (top on the pooled features)", paths, probs, wantProbs)
		k := min(topPhotos, n)
		withTop := run(topPath, resnet50.Options{IncludeTop: true}, k)
		checkTop5(t, name+" (with-top model)", paths[:k], withTop, wantProbs[:k*resnet50.NumClasses])
		if d := maxAbsDiff(withTop, probs[:k*resnet50.NumClasses]); d > 1e-5 {
			t.Errorf("%s: the with-top model's probabilities differ from the top on the pooled features by %.3g (> 1e-5)", name, d)
		}
	}
	if g, x := feats["go"], feats["xla:cpu"]; g != nil && x != nil {
		checkFeatures(t, "xla:cpu vs go", paths, x, g)
	}
}

// parityWeights writes random Keras-layout ResNet50 weights the Go way into dir, with the top
// and without (the same tensors less avg_pool and predictions), and returns them and the files.
func parityWeights(t *testing.T, dir string) (top *weights.File, topPath, noTopPath string) {
	top = resnet50.RandomWeights(1, true)
	noTop := &weights.File{}
	for _, l := range top.Layers {
		if l.Name != "avg_pool" && l.Name != resnet50.TopLayerName {
			noTop.Layers = append(noTop.Layers, l)
		}
	}
	topPath, noTopPath = filepath.Join(dir, "top.h5"), filepath.Join(dir, "notop.h5")
	if err := weights.WriteH5(topPath, top); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteH5(noTopPath, noTop); err != nil {
		t.Fatal(err)
	}
	return top, topPath, noTopPath
}

// extract runs flowerlib's ResNet50 (the weights file path, opts) on the backend be (named name)
// over n photos of pix ([n, size, size, 3] pixels) in batches of 8 and returns its outputs.
func extract(t *testing.T, be compute.Backend, name, path string, opts resnet50.Options, pix []float32, n, size int) []float32 {
	t.Helper()
	w, err := weights.ReadH5(path)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := resnet50.NewBase(be, w, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	const batch = 8
	var out []float32
	start := time.Now()
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		o, err := ex.ExtractFloats(pix[i*size*size*3:(i+m)*size*size*3], m, size, size)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o...)
	}
	t.Logf("flowerlib %s %+v: %d images in %.1fs (%.2f img/s)", name, opts, n, time.Since(start).Seconds(),
		float64(n)/time.Since(start).Seconds())
	return out
}

// topPhotos is how many photos flowerlib's with-top model (IncludeTop) runs on in
// TestTorchParity; the top on the pooled features covers every photo.
const topPhotos = 16

// topProbs applies ResNet50's top — the Dense layer "predictions" of w (kernel [2048, 1000],
// bias [1000]) and a softmax — to pooled features [n, 2048], in float64: [n, 1000].
func topProbs(t *testing.T, w *weights.File, feats []float32) []float32 {
	t.Helper()
	l := w.Layer(resnet50.TopLayerName)
	if l == nil || len(l.Weights) != 2 {
		t.Fatalf("the weights have no %s layer with a kernel and a bias", resnet50.TopLayerName)
	}
	kernel, bias := l.Weights[0].Data, l.Weights[1].Data
	const dim, classes = resnet50.FeatureChannels, resnet50.NumClasses
	if len(kernel) != dim*classes || len(bias) != classes {
		t.Fatalf("%s: kernel of %d values, bias of %d, want %d×%d and %d", resnet50.TopLayerName, len(kernel), len(bias), dim, classes, classes)
	}
	n := len(feats) / dim
	out := make([]float32, n*classes)
	logits := make([]float64, classes)
	for i := 0; i < n; i++ {
		f := feats[i*dim : (i+1)*dim]
		top := math.Inf(-1)
		for c := 0; c < classes; c++ {
			v := float64(bias[c])
			for j, x := range f {
				v += float64(x) * float64(kernel[j*classes+c])
			}
			logits[c] = v
			top = max(top, v)
		}
		var sum float64
		for c := range logits {
			logits[c] = math.Exp(logits[c] - top)
			sum += logits[c]
		}
		for c := range logits {
			out[i*classes+c] = float32(logits[c] / sum)
		}
	}
	return out
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// parityBackends lists the backends the parity test runs: go always, xla:cpu when its plugin
// is installed (with CI=true it must be: .ci/venv.sh installs one).
func parityBackends(t *testing.T) []string {
	if slices.ContainsFunc(backend.Plugins(), func(p string) bool { return p == "cpu" || strings.HasPrefix(p, "cpu_v") }) {
		return []string{"go", "xla:cpu"}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no XLA CPU PJRT plugin found (PJRT_PLUGIN_LIBRARY_PATH=%q): CI must test xla:cpu (source .ci/venv.sh)",
			os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"))
	}
	t.Logf("no XLA CPU PJRT plugin installed: parity checked on the go backend only (flowers setup installs one)")
	return []string{"go"}
}

// checkFeatures compares pooled features [n, 2048] with a reference, per image, by Tolerance.
func checkFeatures(t *testing.T, what string, paths []string, got, want []float32) {
	t.Helper()
	const dim = 2048
	n := len(paths)
	if len(got) != n*dim || len(want) != n*dim {
		t.Fatalf("%s: got %d values, reference %d, want %d", what, len(got), len(want), n*dim)
	}
	worst, worstL2 := 0.0, 0.0
	for i := 0; i < n; i++ {
		var maxDiff, maxRef, d2, r2 float64
		for j := 0; j < dim; j++ {
			g, r := float64(got[i*dim+j]), float64(want[i*dim+j])
			maxDiff = max(maxDiff, math.Abs(g-r))
			maxRef = max(maxRef, math.Abs(r))
			d2 += (g - r) * (g - r)
			r2 += r * r
		}
		if maxRef == 0 {
			t.Fatalf("%s: image %d (%s): reference features are all zero: the random weights make the test meaningless", what, i, paths[i])
		}
		rel := maxDiff / maxRef
		worst = max(worst, rel)
		worstL2 = max(worstL2, math.Sqrt(d2/r2))
		if rel > Tolerance {
			t.Errorf("%s: image %d (%s): pooled features differ by %.3g relative (max |diff| %.4g, max |ref| %.4g), tolerance %g",
				what, i, filepath.Base(paths[i]), rel, maxDiff, maxRef, Tolerance)
		}
	}
	t.Logf("%s: pooled features, %d images: max relative (∞-norm) difference %.3g, max L2-relative %.3g (tolerance %g)",
		what, n, worst, worstL2, Tolerance)
}

// checkTop5 checks that the with-top model ranks the same 5 classes first as the reference.
func checkTop5(t *testing.T, what string, paths []string, gotProbs, wantProbs []float32) {
	t.Helper()
	const classes = 1000
	n := len(paths)
	if len(gotProbs) != n*classes || len(wantProbs) != n*classes {
		t.Fatalf("%s probabilities: got %d values, reference %d, want %d", what, len(gotProbs), len(wantProbs), n*classes)
	}
	maxProbDiff := 0.0
	for i := 0; i < n; i++ {
		g, r := gotProbs[i*classes:(i+1)*classes], wantProbs[i*classes:(i+1)*classes]
		tg, tr := top5(g), top5(r)
		if fmt.Sprint(tg) != fmt.Sprint(tr) {
			t.Errorf("%s: image %d (%s): top-5 classes %v (flowerlib) vs %v (torch); probabilities %v vs %v",
				what, i, filepath.Base(paths[i]), tg, tr, pick(g, tg), pick(r, tr))
		}
		for j := range g {
			maxProbDiff = max(maxProbDiff, math.Abs(float64(g[j]-r[j])))
		}
	}
	t.Logf("%s: top-5 classes equal on %d images; max probability difference %.3g", what, n, maxProbDiff)
}

func top5(p []float32) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	return idx[:5]
}

func pick(p []float32, idx []int) []float32 {
	out := make([]float32, len(idx))
	for i, j := range idx {
		out[i] = p[j]
	}
	return out
}
