package weights

import (
	"crypto/md5"
	"encoding/hex"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// smallFile is a Keras-like weights file: a weightless input layer, a conv+BN pair, a dense top.
func smallFile() *File {
	r := rand.New(rand.NewSource(3))
	t := func(name string, shape ...int) Tensor {
		n := 1
		for _, s := range shape {
			n *= s
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return Tensor{Name: name, Shape: shape, Data: d}
	}
	return &File{Layers: []Layer{
		{Name: "input_1"},
		{Name: "conv1_conv", Weights: []Tensor{t("conv1_conv/kernel:0", 7, 7, 3, 4), t("conv1_conv/bias:0", 4)}},
		{Name: "conv1_bn", Weights: []Tensor{t("conv1_bn/gamma:0", 4), t("conv1_bn/beta:0", 4), t("conv1_bn/moving_mean:0", 4), t("conv1_bn/moving_variance:0", 4)}},
		{Name: "conv1_relu"},
		{Name: "predictions", Weights: []Tensor{t("predictions/kernel:0", 4, 10), t("predictions/bias:0", 10)}},
	}}
}

// readEqual reads the weights file at path and fails the test unless it holds want.
func readEqual(t *testing.T, path string, want *File) *File {
	t.Helper()
	got, err := ReadH5(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Equal(want, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriteReadH5(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.h5")
	want := smallFile()
	if err := WriteH5(path, want, Attr{"note", "random"}); err != nil {
		t.Fatal(err)
	}
	got := readEqual(t, path, want)
	if d := Describe(got); !strings.Contains(d, "5 layers (3 with weights), 8 tensors, 658 parameters") {
		t.Errorf("Describe:\n%s", d)
	}
	bad := smallFile()
	bad.Layers[1].Weights[0].Shape = []int{7, 7, 3, 5}
	if err := WriteH5(path, bad); err == nil || !strings.Contains(err.Error(), "conv1_conv/kernel:0") {
		t.Errorf("want a shape error naming the tensor, got %v", err)
	}
}

// TestKerasLayoutFromH5py reads a file written by h5py the way Keras 2's
// save_weights_to_hdf5_group writes it, and checks the error for a missing dataset.
func TestKerasLayoutFromH5py(t *testing.T) {
	if exec.Command("/usr/bin/python3", "-c", "import h5py").Run() != nil {
		t.Skip("/usr/bin/python3 with h5py not available")
	}
	dir := t.TempDir()
	goPath := filepath.Join(dir, "go.h5")
	if err := WriteH5(goPath, smallFile()); err != nil {
		t.Fatal(err)
	}
	pyPath := filepath.Join(dir, "py.h5")
	// Re-write every tensor with h5py exactly as Keras does (sorted layer groups,
	// bytes attributes, empty float64 weight_names), reading values from the Go file.
	script := `
import h5py, numpy as np, sys
src = h5py.File(sys.argv[1], 'r')
with h5py.File(sys.argv[2], 'w') as f:
    names = [n for n in src.attrs['layer_names']]
    f.attrs['layer_names'] = np.array(names)
    f.attrs['backend'] = b'tensorflow'
    f.attrs['keras_version'] = b'2.2.4'
    for name in sorted(names):
        g = f.create_group(name.decode())
        wn = list(src[name.decode()].attrs['weight_names'])
        g.attrs['weight_names'] = np.array(wn) if wn else np.array([])
        for w in wn:
            d = g.create_dataset(w.decode(), src[name.decode()][w.decode()].shape, dtype=np.float32)
            d[:] = src[name.decode()][w.decode()][()]
    if len(sys.argv) > 3:
        del f['conv1_bn/conv1_bn/beta:0']
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, goPath, pyPath).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	readEqual(t, pyPath, smallFile())
	if out, err := exec.Command("/usr/bin/python3", "-c", script, goPath, pyPath, "broken").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, err := ReadH5(pyPath)
	if err == nil || !strings.Contains(err.Error(), `weight "conv1_bn/beta:0"`) || !strings.Contains(err.Error(), pyPath) {
		t.Errorf("want an error naming the missing weight and file, got %v", err)
	}
}

func TestLoadCache(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "w.h5")
	if err := WriteH5(src, smallFile()); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	for i := 0; i < 2; i++ {
		f, err := Load(src, cache)
		if err != nil {
			t.Fatal(err)
		}
		if err := Equal(smallFile(), f); err != nil {
			t.Fatal(err)
		}
	}
	sum, _ := FileSHA256(src)
	cp := CachePath(cache, sum)
	if _, err := readCache(cp, sum); err != nil {
		t.Fatalf("cache not written or unreadable: %v", err)
	}
	// Corrupt one value: detected by the checksum and rebuilt.
	b, _ := os.ReadFile(cp)
	b[len(b)/2] ^= 0x40
	os.WriteFile(cp, b, 0o644)
	if _, err := readCache(cp, sum); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("corruption not detected: %v", err)
	}
	f, err := Load(src, cache)
	if err != nil || Equal(smallFile(), f) != nil {
		t.Fatalf("rebuild failed: %v", err)
	}
	if _, err := readCache(cp, sum); err != nil {
		t.Fatalf("cache not rebuilt: %v", err)
	}
	// Truncated cache too.
	os.WriteFile(cp, b[:100], 0o644)
	if f, err := Load(src, cache); err != nil || Equal(smallFile(), f) != nil {
		t.Fatalf("rebuild after truncation failed: %v", err)
	}
}

func TestDownload(t *testing.T) {
	content := []byte("pretend these are 94 MB of ImageNet weights")
	h := md5.Sum(content)
	sum := hex.EncodeToString(h[:])
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/missing.h5" {
			http.NotFound(w, r)
			return
		}
		w.Write(content)
	}))
	dir := t.TempDir()
	p, err := DownloadURL(dir, srv.URL+"/w.h5", "w.h5", sum, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != string(content) {
		t.Fatalf("downloaded %q", b)
	}
	if _, err := DownloadURL(dir, srv.URL+"/w.h5", "w.h5", sum, nil); err != nil || hits.Load() != 1 {
		t.Fatalf("second call downloaded again (%d hits) or failed: %v", hits.Load(), err)
	}
	// A wrong checksum: error, and nothing saved under the final name.
	if _, err := DownloadURL(dir, srv.URL+"/w.h5", "x.h5", "00112233445566778899aabbccddeeff", nil); err == nil || !strings.Contains(err.Error(), "md5") {
		t.Errorf("want md5 error, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.h5")); err == nil {
		t.Errorf("file with a bad md5 was saved")
	}
	// Offline: the message names the URL, the file and how to use a local copy.
	srv.Close()
	_, err = DownloadURL(dir, srv.URL+"/y.h5", "y.h5", sum, nil)
	for _, want := range []string{srv.URL + "/y.h5", "y.h5", "-weights FILE", EnvWeights, sum} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("offline error lacks %q: %v", want, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files in cache dir: %v", entries)
	}
	t.Log(err)
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.h5")
	os.WriteFile(p, []byte("x"), 0o644)
	if got, err := Resolve(p, dir, false, nil); err != nil || got != p {
		t.Errorf("Resolve(file) = %q, %v", got, err)
	}
	t.Setenv(EnvWeights, p)
	if got, err := Resolve("imagenet", dir, false, nil); err != nil || got != p {
		t.Errorf("Resolve(imagenet) with $%s = %q, %v", EnvWeights, got, err)
	}
	if _, err := Resolve(filepath.Join(dir, "nope.h5"), dir, false, nil); err == nil || !strings.Contains(err.Error(), "nope.h5") {
		t.Errorf("want error naming the file, got %v", err)
	}
}

// smallKeras3 is smallFile in Keras 3's layout: keys per class, in ReadH5's order (by key),
// plus a layer with 12 variables (HDF5 lists "10" and "11" before "2").
func smallKeras3() *File {
	f := smallFile()
	keys := []string{"input_layer", "conv2d", "batch_normalization", "activation", "dense"}
	for i := range f.Layers {
		f.Layers[i].Key = keys[i]
		for j := range f.Layers[i].Weights {
			f.Layers[i].Weights[j].Name = "vars/" + strconv.Itoa(j)
		}
	}
	many := Layer{Name: "many", Key: "many_vars"}
	for j := range 12 {
		many.Weights = append(many.Weights, Tensor{Name: "vars/" + strconv.Itoa(j), Shape: []int{1}, Data: []float32{float32(j)}})
	}
	f.Layers = append(f.Layers, many)
	f.Format = FormatKeras3
	order := []int{3, 2, 1, 4, 0, 5} // activation, batch_normalization, conv2d, dense, input_layer, many_vars
	out := &File{Format: FormatKeras3}
	for _, i := range order {
		out.Layers = append(out.Layers, f.Layers[i])
	}
	return out
}

func TestKeras3RoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.weights.h5")
	want := smallKeras3()
	if err := WriteKeras3(path, want); err != nil {
		t.Fatal(err)
	}
	got := readEqual(t, path, want)
	// The converted cache keeps the format and the keys.
	cache := filepath.Join(dir, "cache")
	for range 2 {
		f, err := Load(path, cache)
		if err != nil {
			t.Fatal(err)
		}
		if err := Equal(want, f); err != nil {
			t.Fatalf("through the cache: %v", err)
		}
	}
	// Keras 3 content has no model order: WriteH5 refuses it.
	if err := WriteH5(filepath.Join(dir, "x.h5"), got); err == nil || !strings.Contains(err.Error(), "no model order") {
		t.Errorf("WriteH5 of Keras 3 content: %v", err)
	}
	if err := WriteKeras3(filepath.Join(dir, "y.weights.h5"), smallFile()); err == nil || !strings.Contains(err.Error(), `layer "input_1" has an empty, bad or duplicate Keras 3 key ""`) {
		t.Errorf("WriteKeras3 without keys: %v", err)
	}
	if s, n := SplitKey("batch_normalization_12"); s != "batch_normalization" || n != 12 {
		t.Errorf("SplitKey = %q, %d", s, n)
	}
	if s, n := SplitKey("conv2d"); s != "conv2d" || n != 0 || Key3("conv2d", 0) != "conv2d" || Key3("conv2d", 7) != "conv2d_7" {
		t.Errorf("SplitKey(conv2d) = %q, %d", s, n)
	}
}

// A Keras 3 .keras archive is a zip: the message says where its weights are.
func TestReadH5Zip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.keras")
	os.WriteFile(path, []byte("PK\x03\x04rest of a zip"), 0o644)
	if _, err := ReadH5(path); err == nil || !strings.Contains(err.Error(), "model.weights.h5 inside it") || !strings.Contains(err.Error(), path) {
		t.Errorf("zip: %v", err)
	}
}
