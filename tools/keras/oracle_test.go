package keras

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/npy"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
)

// The test-only Python environment (.ci/venv.sh) and the modules oracle.py imports.
const (
	envPython = "FLOWERS_PYTHON"
	modules   = "tensorflow, tf_keras, keras, keras_preprocessing, h5py, scipy, numpy"
	// envN sets how many sample photos the oracle uses (default: all 200).
	envN = "FLOWERS_KERAS_N"
	// envSections limits oracle.py to some sections (comma-separated, e.g. "flowerlib_weights,head"),
	// when working on one check; the tests of the others then fail.
	envSections = "FLOWERS_KERAS_SECTIONS"
	size        = resnet50.DefaultSize
	// flowerlibSeed seeds resnet50.RandomWeights for the files flowerlib writes for Keras.
	flowerlibSeed = 11
)

// requireKeras returns $FLOWERS_PYTHON when it can import the oracle's modules; otherwise it
// skips, or fails under CI=true.
func requireKeras(t *testing.T) string {
	t.Helper()
	py := os.Getenv(envPython)
	msg := ""
	if py == "" {
		msg = "$" + envPython + " is not set (source .ci/venv.sh: the test-only Keras environment)"
	} else {
		// find_spec only: importing TensorFlow here would cost seconds per test.
		check := "import importlib.util, sys\nmissing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\nsys.exit(' '.join(missing) or None)"
		if out, err := exec.Command(py, append([]string{"-c", check}, strings.Split(strings.ReplaceAll(modules, " ", ""), ",")...)...).CombinedOutput(); err != nil {
			msg = fmt.Sprintf("%s lacks modules (%s): %v; pinned in .ci/requirements-test.txt, installed by .ci/venv.sh", py, strings.TrimSpace(string(out)), err)
		}
	}
	if msg != "" {
		testdata.Need(t, "%s", msg)
	}
	return py
}

// repoRoot is the repository root.
func repoRoot() string { return testdata.RepoRoot() }

// requireSample returns the sample photo folder or skips.
func requireSample(t *testing.T) string { return testdata.RequireSample(t) }

// oracle is the shared fixture: inputs written for oracle.py, its outputs and measurements.
type oracle struct {
	dir     string
	paths   []string // the photos, round-robin over the classes
	labels  []int32  // class index of each photo (sorted class names, as LabelEncoder)
	classes []string
	pix     []uint8 // [n, 224, 224, 3]
	results map[string]json.RawMessage
	heads   []headJob
	err     error
}

func (o *oracle) n() int { return len(o.paths) }

// subset is how many photos (the first ones, round-robin over the classes) the checks that share
// the base with the full one (pooling none, 200 photos) use: pooling avg and max, the top, and the
// outputs of Keras-written files, whose weights are compared bit for bit anyway. It keeps the
// test's ResNet50 passes at 200 + 5 × 32 on each side. (tools/reference compares the top on all
// 200 photos with PyTorch.)
func (o *oracle) subset() int { return min(32, o.n()) }

func (o *oracle) file(name string) string { return filepath.Join(o.dir, name) }

// result decodes results.json's entry key into v.
func (o *oracle) result(t *testing.T, key string, v any) {
	t.Helper()
	raw, ok := o.results[key]
	if !ok {
		t.Fatalf("oracle results have no %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("oracle result %q: %v", key, err)
	}
}

var (
	oracleOnce sync.Once
	theOracle  *oracle
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theOracle != nil && theOracle.dir != "" {
		os.RemoveAll(theOracle.dir)
	}
	os.Exit(code)
}

// runOracle prepares the inputs and runs oracle.py once per test process; every test shares it.
func runOracle(t *testing.T) *oracle {
	t.Helper()
	testdata.Slow(t, "Keras' oracle: TensorFlow and flowerlib's ResNet50 on the 200 sample photos")
	py := requireKeras(t)
	sample := requireSample(t)
	oracleOnce.Do(func() {
		theOracle = &oracle{}
		theOracle.err = theOracle.run(t, py, sample)
	})
	if theOracle.err != nil {
		t.Fatal(theOracle.err)
	}
	return theOracle
}

func (o *oracle) run(t *testing.T, py, sample string) error {
	start := time.Now()
	var err error
	if o.dir, err = os.MkdirTemp("", "flowers-keras-oracle-"); err != nil {
		return err
	}
	if err := o.loadPhotos(sample); err != nil {
		return err
	}
	if err := o.writeWeights(); err != nil {
		return err
	}
	if err := o.writeHeads(); err != nil {
		return err
	}
	sections := []string{"flowerlib_weights", "keras_writes", "preprocess", "augment", "head", "bn", "split", "summary"}
	if s := os.Getenv(envSections); s != "" { // for work on one check; the others then fail
		sections = strings.Split(s, ",")
	}
	job := map[string]any{
		"sections":  sections,
		"sample":    sample,
		"seed":      7,
		"augment_n": min(50, o.n()),
		"subset":    o.subset(),
		"head":      o.heads,
	}
	b, _ := json.Marshal(job)
	if err := os.WriteFile(o.file("job.json"), b, 0o644); err != nil {
		return err
	}
	prep := time.Since(start)
	if o.results, err = execOracle(py, o.dir); err != nil {
		return err
	}
	t.Logf("oracle: %d photos; inputs prepared in %.1fs, oracle.py ran in %.1fs; %s", o.n(), prep.Seconds(),
		time.Since(start).Seconds()-prep.Seconds(), o.results["seconds"])
	return nil
}

// execOracle runs oracle.py on dir (its job.json written) and returns results.json.
func execOracle(py, dir string) (map[string]json.RawMessage, error) {
	cmd := exec.Command(py, filepath.Join(repoRoot(), "tools", "keras", "oracle.py"), dir)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "KERAS_BACKEND=tensorflow", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s oracle.py %s: %v\n%s", py, dir, err, tail(string(out), 4000))
	}
	var results map[string]json.RawMessage
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err == nil {
		err = json.Unmarshal(b, &results)
	}
	if err != nil {
		return nil, fmt.Errorf("oracle.py results: %v", err)
	}
	return results, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// loadPhotos decodes the sample photos with flowerlib (224², RGB) into images.npy.
func (o *oracle) loadPhotos(sample string) error {
	classDirs, _ := filepath.Glob(filepath.Join(sample, "*"))
	var perClass [][]string
	for _, c := range classDirs {
		files, _ := filepath.Glob(filepath.Join(c, "*.jpg"))
		if st, err := os.Stat(c); err != nil || !st.IsDir() || len(files) == 0 {
			continue
		}
		sort.Strings(files)
		perClass = append(perClass, files)
		o.classes = append(o.classes, filepath.Base(c))
	}
	n := 1 << 30
	if s := os.Getenv(envN); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 8 {
			return fmt.Errorf("$%s=%q: want a number of photos ≥ 8", envN, s)
		}
		n = v
	}
	for i := 0; len(o.paths) < n; i++ {
		added := false
		for c, files := range perClass {
			if i < len(files) && len(o.paths) < n {
				o.paths = append(o.paths, files[i])
				o.labels = append(o.labels, int32(c))
				added = true
			}
		}
		if !added {
			break
		}
	}
	if len(o.paths) < 8 || len(o.classes) != 5 {
		return fmt.Errorf("sample folder %s: %d photos in %d classes, want the 5-class sample", sample, len(o.paths), len(o.classes))
	}
	o.pix = make([]uint8, 0, len(o.paths)*size*size*3)
	for _, p := range o.paths {
		img, err := images.Load(p, size)
		if err != nil {
			return err
		}
		o.pix = append(o.pix, img.Pix...)
	}
	return npy.WriteUint8(o.file("images.npy"), []int{o.n(), size, size, 3}, o.pix)
}

// writeWeights writes flowerlib's random ResNet50 weights for Keras to load: Keras 2 .h5 with and
// without the top, and the with-top weights in Keras 3's layout.
func (o *oracle) writeWeights() error {
	top := resnet50.RandomWeights(flowerlibSeed, true)
	if err := weights.WriteH5(o.file("fl_top.h5"), top); err != nil {
		return err
	}
	if err := weights.WriteH5(o.file("fl_notop.h5"), resnet50.RandomWeights(flowerlibSeed, false)); err != nil {
		return err
	}
	k3, err := resnet50.ToKeras3(top, true)
	if err != nil {
		return err
	}
	return weights.WriteKeras3(o.file("fl_top.weights.h5"), k3)
}

// pixelsFloat returns photos [from, to) as float32 RGB 0..255.
func (o *oracle) pixelsFloat(from, to int) []float32 {
	src := o.pix[from*size*size*3 : to*size*size*3]
	out := make([]float32, len(src))
	for i, v := range src {
		out[i] = float32(v)
	}
	return out
}

var (
	backendOnce sync.Once
	theBackend  compute.Backend
	backendErr  error
)

// testBackend is flowerlib's default choice (XLA's CPU plugin where .ci/venv.sh installed it, else go).
func testBackend(t *testing.T) compute.Backend {
	t.Helper()
	backendOnce.Do(func() { theBackend, backendErr = backend.New("", os.Stderr) })
	if backendErr != nil {
		t.Fatal(backendErr)
	}
	return theBackend
}

// extract runs flowerlib's Extractor with w and opts over the first n photos, batch 32 (as Keras'
// predict).
func (o *oracle) extract(t *testing.T, w *weights.File, opts resnet50.Options, n int) []float32 {
	t.Helper()
	be := testBackend(t)
	ex, err := resnet50.NewBase(be, w, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	start := time.Now()
	var out []float32
	const batch = 32
	for i := 0; i < n; i += batch {
		j := min(i+batch, n)
		f, err := ex.ExtractFloats(o.pixelsFloat(i, j), j-i, size, size)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f...)
	}
	t.Logf("flowerlib %+v on %s: %d photos in %.1fs", opts, be.Name(), n, time.Since(start).Seconds())
	return out
}

// readNPY reads one of the oracle's float32 outputs.
func (o *oracle) readNPY(t *testing.T, name string) ([]int, []float32) {
	t.Helper()
	shape, data, err := npy.ReadFloat32(o.file(name))
	if err != nil {
		t.Fatal(err)
	}
	return shape, data
}

// relDiff is the parity measure used throughout: for each of n rows, max|got−want| / max|want|
// (the ∞-norm error relative to the row's largest magnitude); it returns the worst row and its
// value, and fails on a size mismatch or an all-zero reference row.
func relDiff(t *testing.T, what string, got, want []float32, n int) (worst float64, row int) {
	t.Helper()
	if len(got) != len(want) || len(want)%n != 0 {
		t.Fatalf("%s: %d values vs Keras' %d (%d rows)", what, len(got), len(want), n)
	}
	dim := len(want) / n
	for i := range n {
		var maxDiff, maxRef float64
		for j := i * dim; j < (i+1)*dim; j++ {
			maxDiff = max(maxDiff, math.Abs(float64(got[j])-float64(want[j])))
			maxRef = max(maxRef, math.Abs(float64(want[j])))
		}
		if maxRef == 0 || math.IsNaN(maxDiff) {
			t.Fatalf("%s: Keras' row %d is all zeros or NaN: the check would mean nothing", what, i)
		}
		if r := maxDiff / maxRef; r > worst {
			worst, row = r, i
		}
	}
	return worst, row
}
