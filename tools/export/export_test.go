package export

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/config"
	fexport "github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/npy"
	"github.com/flowerlib/flowers/internal/testdata"
)

// size is the photos' side in the test runs: small, so that ResNet50 runs quickly on every side.
const size = 64

// requirePython returns $FLOWERS_PYTHON when it has the modules check.py imports; otherwise it
// skips, or fails under CI=true.
func requirePython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("FLOWERS_PYTHON")
	msg := ""
	if py == "" {
		msg = "$FLOWERS_PYTHON is not set (source .ci/venv.sh: the test-only environment with tf-keras, Keras 3 and onnxruntime)"
	} else if out, err := exec.Command(py, "-c", "import importlib.util, sys\nm = [n for n in sys.argv[1:] if importlib.util.find_spec(n) is None]\nsys.exit(' '.join(m) or None)",
		"numpy", "tf_keras", "keras", "onnxruntime").CombinedOutput(); err != nil {
		msg = fmt.Sprintf("%s lacks modules (%s): pinned in .ci/requirements-test.txt, installed by .ci/venv.sh", py, strings.TrimSpace(string(out)))
	}
	if msg == "" {
		return py
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// trained trains a run on the sample photos (random ResNet50 weights) and returns it opened,
// with its probabilities on photos (learner's Predict: what `flowers predict` prints).
func trained(t *testing.T, dir, data string, kind string, epochs int, photos []string) (*learner.Model, [][]float32) {
	t.Helper()
	run := filepath.Join(dir, "run-"+kind)
	_, err := learner.Run(learner.Config{Run: config.Run{Data: data, Weights: "random:7", RunDir: run, Cache: filepath.Join(dir, "cache"),
		ImageSize: size, Pooling: config.PoolingOf(kind), Epochs: epochs, BatchSize: 8}, Progress: io.Discard, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	m, err := learner.Open(run, learner.OpenOptions{Backend: "go", Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	preds, err := m.Predict(photos, 1)
	if err != nil {
		t.Fatal(err)
	}
	probs := make([][]float32, len(preds))
	for i, p := range preds {
		if p.Err != "" {
			t.Fatalf("%s: %s", p.Path, p.Err)
		}
		probs[i] = p.Probs
	}
	return m, probs
}

// TestKerasAndONNXRuntime exports runs with the avg head and the article's Flatten head as
// Keras .h5 and ONNX files; tf-keras, Keras 3 and ONNX Runtime load them with no custom code
// and give the run's probabilities on the 200 sample photos within 1e-4, with the same top
// class.
func TestKerasAndONNXRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains two runs")
	}
	py := requirePython(t)
	data := testdata.RequireSample(t)
	photos := testdata.SamplePhotos(t, 200)
	if len(photos) != 200 {
		t.Fatalf("%d sample photos, want 200", len(photos))
	}
	dir := t.TempDir()
	pix, indices, failures, err := images.LoadAll(photos, size, nil)
	if err != nil || len(failures) > 0 || len(indices) != len(photos) {
		t.Fatalf("decoding the photos: %v, %v", err, failures)
	}
	// LoadAll's rows follow indices: reorder them as photos.
	x := make([]float32, len(pix))
	row := size * size * 3
	for r, i := range indices {
		copy(x[i*row:(i+1)*row], pix[r*row:(r+1)*row])
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "images.npy"), []int{len(photos), size, size, 3}, x); err != nil {
		t.Fatal(err)
	}
	type model struct {
		Name  string `json:"name"`
		Keras string `json:"keras"`
		ONNX  string `json:"onnx"`
		probs [][]float32
	}
	var models []model
	for _, c := range []struct {
		kind   string
		epochs int
	}{{"avg", 30}, {"flatten", 10}} {
		m, probs := trained(t, dir, data, c.kind, c.epochs, photos)
		desc, err := fexport.FromRun(m, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		md := model{Name: c.kind, Keras: filepath.Join(dir, c.kind+".h5"), ONNX: filepath.Join(dir, c.kind+".onnx"), probs: probs}
		if err := fexport.WriteKeras(md.Keras, desc); err != nil {
			t.Fatal(err)
		}
		if err := fexport.WriteONNX(md.ONNX, desc); err != nil {
			t.Fatal(err)
		}
		models = append(models, md)
	}
	job, _ := json.Marshal(map[string]any{"images": "images.npy", "models": models})
	if err := os.WriteFile(filepath.Join(dir, "job.json"), job, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join(testdata.RepoRoot(), "tools", "export", "check.py"), dir)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "KERAS_BACKEND=tensorflow")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check.py: %v\n%s", err, out)
	}
	versions, _ := os.ReadFile(filepath.Join(dir, "versions.json"))
	t.Logf("runtimes: %s", versions)
	for _, md := range models {
		informative := 0
		for _, p := range md.probs {
			if maxOf(p) < 0.9 {
				informative++
			}
		}
		if informative < 10 {
			t.Errorf("%s head: only %d of 200 photos have a top probability under 0.9: too saturated to compare", md.Name, informative)
		}
		for _, rt := range []string{"tf_keras", "keras3", "onnxruntime"} {
			shape, got, err := npy.ReadFloat32(filepath.Join(dir, md.Name+"."+rt+".npy"))
			if err != nil || len(shape) != 2 || shape[0] != len(photos) || shape[1] != len(md.probs[0]) {
				t.Fatalf("%s %s: shape %v, %v", md.Name, rt, shape, err)
			}
			worst, flips := 0.0, 0
			for i, want := range md.probs {
				g := got[i*shape[1] : (i+1)*shape[1]]
				for k := range want {
					worst = max(worst, math.Abs(float64(g[k]-want[k])))
				}
				if argmax(g) != argmax(want) {
					flips++
				}
			}
			t.Logf("%s head, %s: max |Δp| %.2g over 200 photos × %d classes, %d top classes differ (%d photos with top < 0.9)",
				md.Name, rt, worst, shape[1], flips, informative)
			if worst > 1e-4 || flips > 0 {
				t.Errorf("%s head, %s: max |Δp| %.2g (limit 1e-4), %d top classes differ", md.Name, rt, worst, flips)
			}
		}
	}
}

func maxOf(p []float32) float32 { return p[argmax(p)] }

func argmax(p []float32) int {
	k := 0
	for i := range p {
		if p[i] > p[k] {
			k = i
		}
	}
	return k
}
