package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/prepare"
)

// refProc is a long-lived Python reference (tools/reference/*_reference.py serve): the
// framework is imported and the model built once, and its figures interleave with
// flowerlib's, case by case.
type refProc struct {
	Name                      string // "PyTorch", "TF-Keras"
	Framework, BLAS, Settings string

	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr *tail
}

// refAnswer is one JSON answer of a reference server.
type refAnswer struct {
	ImagesPerSec   float64   `json:"images_per_sec"`
	CPUPerImage    float64   `json:"cpu_seconds_per_image"`
	PeakRSSMiB     float64   `json:"peak_rss_mib"`
	Iterations     int       `json:"iterations"`
	Seconds        float64   `json:"seconds"`
	SecondsPerStep float64   `json:"seconds_per_step"`
	EpochSeconds   []float64 `json:"epoch_seconds"`
	Error          string    `json:"error"`
}

// startRef starts `python script serve --weights W --threads N [extra...]` and reads its hello line.
func startRef(name, python, script, weightsPath string, threads int, extra ...string) (*refProc, error) {
	if _, err := exec.LookPath(python); err != nil {
		return nil, errors.Wrapf(err, "%s not found", python)
	}
	r := &refProc{Name: name, stderr: &tail{max: 8 << 10}}
	args := append([]string{script, "serve", "--weights", weightsPath, "--threads", strconv.Itoa(threads)}, extra...)
	r.cmd = exec.Command(python, args...)
	r.cmd.Stderr = r.stderr
	var err error
	if r.in, err = r.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	outPipe, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, errors.Wrapf(err, "starting %s", python)
	}
	r.out = bufio.NewScanner(outPipe)
	r.out.Buffer(nil, 1<<20)
	if !r.out.Scan() {
		r.Close()
		return nil, errors.Errorf("%s could not start its reference (install what it needs, or leave it out with -refs):\n%s", python, r.stderr)
	}
	var hello struct{ Framework, BLAS, Settings string }
	if err := json.Unmarshal(r.out.Bytes(), &hello); err != nil || hello.Framework == "" {
		r.Close()
		return nil, errors.Errorf("unexpected answer from the %s reference: %q", name, r.out.Text())
	}
	r.Framework, r.BLAS, r.Settings = hello.Framework, hello.BLAS, hello.Settings
	return r, nil
}

// Do sends one request and waits for its answer.
func (r *refProc) Do(req map[string]any) (*refAnswer, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(r.in, "%s\n", line); err != nil {
		return nil, errors.Wrapf(err, "%s reference exited:\n%s", r.Name, r.stderr)
	}
	if !r.out.Scan() {
		return nil, errors.Errorf("%s reference exited:\n%s", r.Name, r.stderr)
	}
	var a refAnswer
	if err := json.Unmarshal(r.out.Bytes(), &a); err != nil {
		return nil, errors.Wrapf(err, "parsing %q", r.out.Text())
	}
	if a.Error != "" {
		return nil, errors.New(a.Error)
	}
	return &a, nil
}

// Close ends the server (stdin closed; killed after 10 s).
func (r *refProc) Close() {
	if r == nil || r.cmd == nil {
		return
	}
	_ = r.in.Close()
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

// tail keeps the last max bytes written to it (a child's stderr, shown when it fails).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// benchDataDir returns the photo folder of the photos and augment tasks: data (default: the
// 200-photo sample), or with n > 0 a folder of links to n of its photos, spread over the
// classes in file-name order.
func benchDataDir(data string, n int, tmp string) (string, error) {
	if data == "" {
		var err error
		if data, err = (config.Run{Data: "sample"}).DataDir(nil); err != nil {
			return "", errors.WithMessage(err, "photos, augment: pass -data DIR")
		}
	}
	if n == 0 {
		return data, nil
	}
	table, _, err := labels.Scan(data, labels.Options{})
	if err != nil {
		return "", err
	}
	byClass := map[string][]string{}
	var classes []string
	for _, r := range table.Rows {
		if byClass[r.Label] == nil {
			classes = append(classes, r.Label)
		}
		byClass[r.Label] = append(byClass[r.Label], r.Path)
	}
	dir := filepath.Join(tmp, "data")
	for i, made := 0, 0; made < n; i++ {
		progressed := false
		for _, c := range classes {
			if i >= len(byClass[c]) || made >= n {
				continue
			}
			p := byClass[c][i]
			if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
				return "", err
			}
			if err := os.Symlink(p, filepath.Join(dir, c, filepath.Base(p))); err != nil {
				return "", err
			}
			made, progressed = made+1, true
		}
		if !progressed {
			break
		}
	}
	return dir, nil
}

// datasetPaths lists the photos of a dataset folder in its labels-table order.
func datasetPaths(dir string) ([]string, error) {
	table, _, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		return nil, err
	}
	return prepare.Paths(table.Rows), nil
}

// datasetSplit is the train/validation split flowerlib's training makes of dir (seed 42,
// 20% validation), for the references to train on the same photos.
func datasetSplit(dir string) (*prepare.Data, error) {
	table, _, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		return nil, err
	}
	return prepare.Split(table, prepare.Options{ValidFraction: 0.2, Seed: 42})
}
