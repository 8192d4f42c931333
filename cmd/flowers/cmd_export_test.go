package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/metrics"
)

// exportFixture is a real flowers binary, a run it trained on the 200 sample photos (random
// ResNet50 weights, 64×64 photos, the avg head: cheap, and long enough that the head's
// BatchNorm statistics settle, so the probabilities are not all 0 or 1), `flowers predict`'s
// answers, and the run exported as an executable. Built once per test process.
type exportFixture struct {
	dir, flowers, run, model string
	photos                   []string
	predict                  map[string]learner.Prediction
	exportSeconds            float64
	err                      error
}

var (
	exportOnce sync.Once
	theExport  *exportFixture
)

// removeExportFixture deletes the fixture's folder (binaries, runs, exported files: ~1 GB);
// TestMain calls it once the tests are done.
func removeExportFixture() {
	if theExport != nil && theExport.dir != "" {
		os.RemoveAll(theExport.dir)
	}
}

// requireExportSample returns the 200 sample photos, or skips (fails under CI=true).
func requireExportSample(t *testing.T) []string {
	t.Helper()
	dir := os.Getenv("FLOWERS_SAMPLE_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "flower_photos_small")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if len(paths) < 200 {
		msg := fmt.Sprintf("the 200 sample photos are not in %s (or $FLOWERS_SAMPLE_DIR): skipping", dir)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	slices.Sort(paths)
	return paths
}

func exportSetup(t *testing.T) *exportFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the export tests train a run and build the flowers binary")
	}
	photos := requireExportSample(t)
	exportOnce.Do(func() {
		theExport = &exportFixture{photos: photos}
		theExport.err = theExport.build(t)
	})
	if theExport.err != nil {
		t.Fatal(theExport.err)
	}
	return theExport
}

// run runs a program and returns its stdout; a non-zero exit is an error with its stderr.
func runProgram(name string, args ...string) ([]byte, []byte, error) {
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args[:min(len(args), 8)], " "), err, stderr.String())
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

func (f *exportFixture) build(t *testing.T) error {
	var err error
	if f.dir, err = os.MkdirTemp("", "flowers-export-test-"); err != nil {
		return err
	}
	f.flowers, f.run, f.model = filepath.Join(f.dir, "flowers"), filepath.Join(f.dir, "run"), filepath.Join(f.dir, "flowers-model")
	if out, err := exec.Command("go", "build", "-o", f.flowers, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	data := filepath.Dir(filepath.Dir(f.photos[0]))
	// The training backend is the best installed (xla:cpu in CI: the head's 600 steps take
	// seconds there); predictions compare on the go backend.
	if _, _, err := runProgram(f.flowers, "train", "-data", data, "-weights", "random:7", "-run", f.run, "-head", "avg",
		"-epochs", "30", "-batch", "8", "-size", "64", "-cache", filepath.Join(f.dir, "cache")); err != nil {
		return err
	}
	out, _, err := runProgram(f.flowers, append([]string{"predict", "-run", f.run, "-top", "5", "-json", "-backend", "go"}, f.photos...)...)
	if err != nil {
		return err
	}
	var preds []learner.Prediction
	if err := json.Unmarshal(out, &preds); err != nil {
		return fmt.Errorf("flowers predict -json: %v", err)
	}
	f.predict = map[string]learner.Prediction{}
	for _, p := range preds {
		f.predict[p.Path] = p
	}
	start := time.Now()
	if _, _, err := runProgram(f.flowers, "export", "-run", f.run, "-format", "go", "-out", f.model); err != nil {
		return err
	}
	f.exportSeconds = time.Since(start).Seconds()
	return nil
}

// compareTop checks an exported model's top classes against flowers predict's for one photo:
// the same classes in the same order, each probability within tol. It returns the largest
// difference.
func compareTop(t *testing.T, what, path string, got []metrics.Guess, want learner.Prediction, tol float64) float64 {
	t.Helper()
	if want.Err != "" || len(got) != len(want.Top) {
		t.Errorf("%s %s: %d classes (%v), flowers predict %d (%q)", what, path, len(got), got, len(want.Top), want.Err)
		return math.Inf(1)
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i].Probability - want.Top[i].Probability)
		worst = max(worst, d)
		if got[i].Class != want.Top[i].Class || d > tol {
			t.Errorf("%s %s: #%d is %s %.7f, flowers predict %s %.7f", what, path, i+1, got[i].Class, got[i].Probability,
				want.Top[i].Class, want.Top[i].Probability)
		}
	}
	return worst
}

// TestExportGoMatchesPredict: the exported executable's -json answers equal flowers predict's
// on the 200 sample photos (all five classes, in order, within 1e-5), and a file that is not a
// photo gets an "error" while the others are answered.
func TestExportGoMatchesPredict(t *testing.T) {
	f := exportSetup(t)
	bad := filepath.Join(f.dir, "notes.jpg")
	os.WriteFile(bad, []byte("not a photo\n"), 0o644)
	files := append(append(slices.Clone(f.photos[:100]), bad), f.photos[100:]...)
	start := time.Now()
	out, _, err := runProgram(f.model, append([]string{"-json", "-top", "5", "-backend", "go"}, files...)...)
	if err != nil {
		t.Fatal(err)
	}
	seconds := time.Since(start).Seconds()
	sc := bufio.NewScanner(bytes.NewReader(out))
	worst, informative, n := 0.0, 0, 0
	for sc.Scan() {
		var r struct {
			Path  string          `json:"path"`
			Top   []metrics.Guess `json:"top"`
			Error string          `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
		}
		if want := files[n]; r.Path != want {
			t.Fatalf("line %d is %q, want %q (the order given)", n+1, r.Path, want)
		}
		n++
		if r.Path == bad {
			if r.Error == "" || len(r.Top) > 0 {
				t.Errorf("%s: %+v, want an error", bad, r)
			}
			continue
		}
		worst = max(worst, compareTop(t, "exported", r.Path, r.Top, f.predict[r.Path], 1e-5))
		if r.Top[0].Probability < 0.9 {
			informative++
		}
	}
	if n != 201 {
		t.Fatalf("%d answers, want 201", n)
	}
	// Probabilities that are all 0 or 1 would hide differences: the run must give some doubt.
	if informative < 10 {
		t.Fatalf("only %d of 200 photos have a top probability under 0.9: the fixture run is too saturated to compare", informative)
	}
	st, _ := os.Stat(f.model)
	rst, _ := os.Stat(f.flowers)
	t.Logf("exported executable: %.1f MB (flowers binary %.1f MB + model); export took %.1fs; 201 files classified in %.1fs; "+
		"max |Δp| vs flowers predict %.2g over 200 photos × 5 classes (%d with top probability < 0.9)",
		float64(st.Size())/1e6, float64(rst.Size())/1e6, f.exportSeconds, seconds, worst, informative)
}

// startServer starts `MODEL serve` on a free loopback port and returns its base URL; stderr
// collects what it prints.
func startServer(t *testing.T, model string, stderr *syncBuffer, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(model, append([]string{"serve", "-addr", "127.0.0.1:0", "-backend", "go"}, args...)...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := regexp.MustCompile(`on http://(127\.0\.0\.1:\d+) `)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			return cmd, "http://" + m[1]
		}
	}
	t.Fatalf("the server did not say where it listens within 2 minutes:\n%s", stderr.String())
	return nil, ""
}

// syncBuffer is a bytes.Buffer safe for a process writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// post sends body to url with a Content-Type and returns the status and the decoded JSON answer.
func post(t *testing.T, url, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s (%s): %v", url, contentType, err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("POST %s (%s): status %d, answer not JSON: %v", url, contentType, resp.StatusCode, err)
	}
	return resp.StatusCode, v
}

// TestExportServe: the exported executable's server answers bad bodies (empty, 100 MB, not an
// image, a wrong content type, a wrong method) with 4xx and a message, keeps serving (a photo
// then gets the same answer as flowers predict), and shuts down cleanly on SIGTERM.
func TestExportServe(t *testing.T) {
	f := exportSetup(t)
	var stderr syncBuffer
	cmd, base := startServer(t, f.model, &stderr)
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v %v", resp, err)
	}
	photo, _ := os.ReadFile(f.photos[0])
	huge := make([]byte, 100<<20)
	cases := []struct {
		name, contentType string
		body              io.Reader
		status            int
		want              string // in the error message
	}{
		{"empty", "image/jpeg", bytes.NewReader(nil), 400, "empty body"},
		{"100 MB", "image/jpeg", bytes.NewReader(huge), 413, "body of 104857600 bytes: the limit is 20971520 bytes"},
		{"100 MB, chunked", "image/jpeg", io.LimitReader(zeros{}, 100<<20), 413, "larger than the limit of 20971520 bytes"},
		{"not an image", "image/jpeg", strings.NewReader("just some text, not a photo\n"), 400, "not a JPEG/PNG/GIF/BMP/WebP image"},
		{"wrong content type", "text/plain", bytes.NewReader(photo), 415, `Content-Type "text/plain"`},
		{"a form", "multipart/form-data; boundary=x", bytes.NewReader(photo), 415, "Content-Type"},
		{"no content type", "", bytes.NewReader(photo), 415, "Content-Type"},
		{"truncated photo", "image/jpeg", bytes.NewReader(photo[:len(photo)/3]), 400, ""},
	}
	for _, c := range cases {
		status, v := post(t, base+"/predict", c.contentType, c.body)
		msg, _ := v["error"].(string)
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, status, msg, c.status, c.want)
		} else {
			t.Logf("%s: %d %s", c.name, status, msg)
		}
	}
	if resp, err := http.Get(base + "/predict"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /predict: %v %v, want 405", resp, err)
	}
	// Still serving: a photo gets flowers predict's answer.
	status, v := post(t, base+"/predict?top=5", "image/jpeg", bytes.NewReader(photo))
	if status != http.StatusOK {
		t.Fatalf("a photo after the bad requests: %d %v", status, v)
	}
	b, _ := json.Marshal(v["top"])
	var top []metrics.Guess
	json.Unmarshal(b, &top)
	compareTop(t, "served", f.photos[0], top, f.predict[f.photos[0]], 1e-5)
	// SIGTERM: a clean shutdown, exit status 0.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stderr.String(), "shut down: 1 photos answered") {
			t.Errorf("after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after SIGTERM:\n%s", stderr.String())
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestExportFlags: bad command lines are refused (status 2) before any work, with the flag
// named; an existing output is not replaced without -force; a folder that is no run is named.
func TestExportFlags(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.onnx")
	os.WriteFile(exists, []byte("someone's file"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "-format", "go", "-out", "m"}, 2, "-run is required"},
		{[]string{"export", "-run", dir, "-format", "go"}, 2, "-out is required"},
		{[]string{"export", "-run", dir, "-format", "tflite", "-out", "m"}, 2, `-format "tflite": must be one of go, keras, onnx`},
		{[]string{"export", "-run", dir, "-format", "keras", "-out", "m.onnx"}, 2, `-out "m.onnx": the output must be a .h5 file`},
		{[]string{"export", "-run", dir, "-format", "onnx", "-out", exists}, 2, "exists and is not an ONNX model written by flowers: flowers replaces only files it wrote; write elsewhere, or pass -force to replace it"},
		{[]string{"export", "-run", dir, "-format", "onnx", "-out", filepath.Join(dir, "m.onnx")}, 1, "is not a run folder of `flowers train`"},
	}
	for _, c := range cases {
		out, code := flowers(t, dir, c.args...)
		if code != c.code || !strings.Contains(out, c.want) || strings.Contains(out, "panic") {
			t.Errorf("flowers %v: status %d, want %d with %q:\n%s", c.args, code, c.code, c.want, out)
		}
	}
	if b, _ := os.ReadFile(exists); string(b) != "someone's file" {
		t.Errorf("%s was changed", exists)
	}
}

// TestExportFineTuned: a fine-tuned run's checkpoint holds the whole base; the executable
// exported from it answers as flowers predict does on that run (not as the run's original
// weights would: its answers moved by more than the tolerance).
func TestExportFineTuned(t *testing.T) {
	f := exportSetup(t)
	run := filepath.Join(f.dir, "run-finetuned")
	if out, err := exec.Command("cp", "-a", f.run, run).CombinedOutput(); err != nil {
		t.Fatalf("copying the run: %v %s", err, out)
	}
	data := filepath.Dir(filepath.Dir(f.photos[0]))
	if _, _, err := runProgram(f.flowers, "train", "-data", data, "-weights", "random:7", "-run", run, "-head", "avg",
		"-epochs", "30", "-batch", "8", "-size", "64", "-cache", filepath.Join(f.dir, "cache"),
		"-fine-tune", "conv5", "-fine-tune-epochs", "1", "-fine-tune-lr", "1e-4"); err != nil {
		t.Fatal(err)
	}
	photos := f.photos[:40]
	out, _, err := runProgram(f.flowers, append([]string{"predict", "-run", run, "-top", "5", "-json", "-backend", "go"}, photos...)...)
	if err != nil {
		t.Fatal(err)
	}
	var preds []learner.Prediction
	if err := json.Unmarshal(out, &preds); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(f.dir, "finetuned-model")
	if _, _, err := runProgram(f.flowers, "export", "-run", run, "-format", "go", "-out", model); err != nil {
		t.Fatal(err)
	}
	out, _, err = runProgram(model, append([]string{"-json", "-top", "5", "-backend", "go"}, photos...)...)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	worst, moved := 0.0, 0.0
	for i, p := range preds {
		var r struct {
			Path string          `json:"path"`
			Top  []metrics.Guess `json:"top"`
		}
		if err := dec.Decode(&r); err != nil || r.Path != p.Path {
			t.Fatalf("answer %d: %v %q", i, err, r.Path)
		}
		worst = max(worst, compareTop(t, "fine-tuned export", r.Path, r.Top, p, 1e-5))
		for k, pr := range p.Probs {
			moved = max(moved, math.Abs(float64(pr-f.predict[p.Path].Probs[k])))
		}
	}
	t.Logf("fine-tuned run: max |Δp| exported vs flowers predict %.2g on 40 photos; fine-tuning moved the probabilities by up to %.2g", worst, moved)
	if moved < 1e-4 {
		t.Errorf("fine-tuning moved the probabilities by %.2g only: the test cannot tell the fine-tuned base from the original", moved)
	}
}
