package learner

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
)

// studentHead is a head a student writes in the notebook's head cell instead of the article's:
// an extra 64-wide Dense with dropout, no BatchNorm.
func studentHead(scope *model.Scope, x *graph.Node) *graph.Node {
	x = head.Flatten(x)
	x = head.Dense(scope, x, 64, head.HeNormal(7))
	x = activation.Relu(x)
	x = layers.DropoutStatic(scope, x, 0.3)
	x = head.Dense(scope, x, 32, head.HeNormal(7))
	x = activation.Relu(x)
	return head.Dense(scope, x, 5)
}

// notebookHead is the notebook's head cell as it ships (flowers.ipynb, step 4), written out.
func notebookHead(scope *model.Scope, x *graph.Node) *graph.Node {
	x = head.Flatten(x)
	x = head.BatchNorm(scope, x)
	x = head.Dense(scope, x, 2048, head.HeNormal(42))
	x = activation.Relu(x)
	x = layers.DropoutStatic(scope, x, 0)
	x = head.BatchNorm(scope, x)
	x = head.Dense(scope, x, 1024, head.HeNormal(42))
	x = activation.Relu(x)
	x = layers.DropoutStatic(scope, x, 0)
	x = head.BatchNorm(scope, x)
	return head.Dense(scope, x, 5)
}

// TestNotebookHeadIsTheArticles: the head as the notebook's cell writes it is the built-in
// article's head, graph for graph (same fingerprint), so TestGoldenHead's numbers hold for it.
func TestNotebookHeadIsTheArticles(t *testing.T) {
	b := backend.MustNew("go", nil)
	for _, dims := range [][]int{{7, 7, 2048}, {2048}} {
		cell, err := head.Describe(b, notebookHead, dims)
		if err != nil {
			t.Fatal(err)
		}
		article, err := head.Describe(b, head.Article(5, nil, 0), dims)
		if err != nil {
			t.Fatal(err)
		}
		if cell.Fingerprint != article.Fingerprint || cell.Summary() != article.Summary() {
			t.Errorf("on %v: the notebook's head %s, the article's %s\n%s\n%s", dims, cell.Fingerprint, article.Fingerprint, cell.Summary(), article.Summary())
		}
	}
}

// customHeadEnv makes the test binary a child that trains studentHead in the run folder it
// names (killed by TestCustomHead).
const customHeadEnv = "FLOWERS_TEST_CUSTOM_HEAD_RUN"

func customHeadConfig(data, runDir, cache, backendName string) Config {
	return Config{Run: config.Run{Data: data, Weights: "random:2", RunDir: runDir, Cache: cache, ImageSize: 32,
		Backend: backendName, Epochs: 6, BatchSize: 8, CheckpointSteps: 2}, Head: studentHead}
}

func init() {
	// The child of TestCustomHead: train until killed.
	if run := os.Getenv(customHeadEnv); run != "" {
		cfg := customHeadConfig(os.Getenv(customHeadEnv+"_DATA"), run, os.Getenv(customHeadEnv+"_CACHE"), os.Getenv(customHeadEnv+"_BACKEND"))
		cfg.OnStep = func(trainer.StepInfo) { time.Sleep(150 * time.Millisecond) } // room to be killed mid-run
		l, err := New(cfg)
		if err == nil {
			_, err = l.Fit()
		}
		if err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(3)
		}
		os.Exit(0)
	}
}

// TestCustomHead: a head written in code (studentHead) trains through the same learner, is
// checkpointed, resumes after a kill -9 at the same point (its history equals an uninterrupted
// run's), evaluates and predicts, reopens only with its code, and a changed head in its run
// folder is refused, naming the change; on go and xla:cpu.
func TestCustomHead(t *testing.T) { forEachBackend(t, testCustomHead) }

func testCustomHead(t *testing.T, backendName string) {
	dir := t.TempDir()
	data, cache := filepath.Join(dir, "data"), filepath.Join(dir, "cache")
	writeClassImages(t, data, 8, 32)
	// Uninterrupted.
	ref, err := Run(customHeadConfig(data, filepath.Join(dir, "ref"), cache, backendName))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Head.Name != "studentHead" || ref.Head.BuiltIn {
		t.Errorf("head recorded as %+v", ref.Head)
	}
	// Killed after its second checkpoint, then resumed.
	runDir := filepath.Join(dir, "run")
	var out bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), customHeadEnv+"="+runDir, customHeadEnv+"_DATA="+data, customHeadEnv+"_CACHE="+cache,
		customHeadEnv+"_BACKEND="+backendName)
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if names, _ := trainer.ListCheckpoints(runDir); len(names) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatalf("no second checkpoint after 3 minutes:\n%s", out.String())
		}
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child ended before the kill:\n%s", out.String())
	}
	l, err := New(customHeadConfig(data, runDir, cache, backendName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Trainer.Resumed == "" || l.Trainer.State.Step == 0 {
		t.Fatalf("did not resume: %+v", l.Trainer.State)
	}
	hist, err := l.Fit()
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(ref.History) {
		t.Fatalf("%d epochs after the resume, %d uninterrupted", len(hist), len(ref.History))
	}
	for i, e := range hist {
		w := ref.History[i]
		if math.Abs(e.Loss-w.Loss) > 1e-6*math.Max(1, w.Loss) || math.Abs(e.ValLoss-w.ValLoss) > 1e-6*math.Max(1, w.ValLoss) {
			t.Errorf("epoch %d after a kill: loss %.7g val_loss %.7g; uninterrupted %.7g %.7g", i+1, e.Loss, e.ValLoss, w.Loss, w.ValLoss)
		}
	}
	rep, err := l.Evaluate()
	if err != nil || math.Abs(rep.Loss-hist[len(hist)-1].ValLoss) > 1e-4*math.Max(1, rep.Loss) {
		t.Errorf("evaluation %+v (%v), last val_loss %v", rep, err, hist[len(hist)-1].ValLoss)
	}
	preds, err := l.Predict(l.Info.Split.Valid[:3], 2)
	if err != nil || len(preds) != 3 || len(preds[0].Top) != 2 {
		t.Fatalf("predict: %v %+v", err, preds)
	}
	checkReopen(t, runDir, backendName, preds)
	// Another head in the same run folder is refused, and nothing in it changes.
	changed := customHeadConfig(data, runDir, cache, backendName)
	changed.Head = head.Article(5, []int{16}, 0)
	if _, err := New(changed); err == nil || !strings.Contains(err.Error(), "the head changed: studentHead") {
		t.Errorf("a changed head in the run folder: %v", err)
	}
}

// checkReopen: the run opens with its head (same predictions), and without it is refused
// with a message naming the head.
func checkReopen(t *testing.T, runDir, backendName string, want []Prediction) {
	t.Helper()
	if _, err := Open(runDir, OpenOptions{Backend: backendName}); err == nil || !strings.Contains(err.Error(), `the head "studentHead" written in code`) {
		t.Errorf("Open without the head: %v", err)
	}
	if _, err := Open(runDir, OpenOptions{Backend: backendName, Head: notebookHead}); err == nil || !strings.Contains(err.Error(), "is not the one run") {
		t.Errorf("Open with another head: %v", err)
	}
	m, err := Open(runDir, OpenOptions{Backend: backendName, Head: studentHead})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	paths := make([]string, len(want))
	for i, p := range want {
		paths[i] = p.Path
	}
	got, err := m.Predict(paths, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		for c := range got[i].Probs {
			if math.Abs(float64(got[i].Probs[c]-want[i].Probs[c])) > 1e-5 {
				t.Fatalf("%s: reopened probabilities %v, learner's %v", got[i].Path, got[i].Probs, want[i].Probs)
			}
		}
	}
}
