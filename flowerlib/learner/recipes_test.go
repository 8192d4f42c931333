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

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// recipeConfig is a quick run on the embedded photos (random weights, the built-in head on
// avg-pooled features, 32×32, the go backend) with one recipe of issue 22 set by opt.
func recipeConfig(dir, data string, opt func(r *config.Run)) Config {
	r := config.Run{Data: data, Weights: "random:4", RunDir: filepath.Join(dir, "run"), Cache: filepath.Join(dir, "cache"),
		Pooling: "avg", ImageSize: 32, Backend: "go", Epochs: 3, BatchSize: 8, CheckpointSteps: 1}
	opt(&r)
	return Config{Run: r}
}

// TestRecipes: each recipe (one-cycle and cosine schedules, label smoothing, balanced and
// explicit class weights, fine-tuning with discriminative rates, TTA) completes a run on the
// embedded photos, and its History shows what it did: every step's rate under a schedule.
func TestRecipes(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	data, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(r *config.Run){
		"one-cycle":       func(r *config.Run) { r.Schedule = "one-cycle" },
		"cosine":          func(r *config.Run) { r.Schedule, r.WarmupSteps = "cosine", 3 },
		"label-smoothing": func(r *config.Run) { r.LabelSmoothing = 0.1 },
		"balanced":        func(r *config.Run) { r.ClassWeight = "balanced" },
		"weights":         func(r *config.Run) { r.ClassWeight = "1,2,1,1,0.5" },
		"tta":             func(r *config.Run) { r.TTA = true },
		"fine-tune":       func(r *config.Run) { r.FineTune, r.FineTuneEpochs, r.LRMult, r.Epochs = "conv4", 1, 100, 1 },
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var log bytes.Buffer
			cfg := recipeConfig(dir, data, opt)
			cfg.Log = &log
			res, err := Run(cfg)
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			h := res.History
			if len(h) != cfg.Epochs || res.Eval == nil {
				t.Fatalf("%d epochs, evaluation %v", len(h), res.Eval)
			}
			switch name {
			case "one-cycle", "cosine":
				var lrs []float64
				for _, e := range h {
					lrs = append(lrs, e.LRs...)
				}
				if len(lrs) != int(res.Steps) || !(slicesMax(lrs) > lrs[0] && lrs[len(lrs)-1] < slicesMax(lrs) && math.Abs(slicesMax(lrs)-1e-3) < 1e-4) {
					t.Errorf("%s: step rates %v over %d steps: want a rise then a fall", name, lrs, res.Steps)
				}
			case "tta":
				if res.EvalTTA == nil || res.EvalTTA.N != res.Eval.N {
					t.Errorf("no TTA evaluation beside the plain one: %+v", res.EvalTTA)
				}
			case "fine-tune":
				if len(res.FineTune) != 1 || !strings.Contains(log.String(), "discriminative rate: [/resnet50/conv4_] at 1e-07") ||
					!strings.Contains(log.String(), "BatchNorm: the unfrozen layers' in training mode") {
					t.Errorf("fine-tuning %v; log:\n%s", res.FineTune, log.String())
				}
			}
			if !strings.Contains(filepath.Base(res.RunDir), "run") {
				t.Errorf("run folder %s", res.RunDir)
			}
		})
	}
	// A class weight for each class, or an error naming them.
	bad := recipeConfig(t.TempDir(), data, func(r *config.Run) { r.ClassWeight = "1,2" })
	if _, err := New(bad); err == nil || !strings.Contains(err.Error(), "2 weights for 5 classes") {
		t.Errorf("two weights for five classes: %v", err)
	}
}

func slicesMax(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	return m
}

// oneCycleEnv makes the test binary a child that trains a one-cycle run in the folder it names
// (killed by TestOneCycleKilledResumes).
const oneCycleEnv = "FLOWERS_TEST_ONE_CYCLE_RUN"

func init() {
	if run := os.Getenv(oneCycleEnv); run != "" {
		cfg := recipeConfig(filepath.Dir(run), os.Getenv(oneCycleEnv+"_DATA"), func(r *config.Run) { r.Schedule, r.Epochs = "one-cycle", 4 })
		cfg.OnStep = func(trainer.StepInfo) { time.Sleep(150 * time.Millisecond) }
		if _, err := Run(cfg); err != nil {
			os.Stderr.WriteString(err.Error())
			os.Exit(3)
		}
		os.Exit(0)
	}
}

// TestOneCycleKilledResumes: a one-cycle run killed with SIGKILL mid-schedule resumes at the
// rate it would have had: every step's rate in its History equals an uninterrupted run's.
func TestOneCycleKilledResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	data, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	oneCycle := func(r *config.Run) { r.Schedule, r.Epochs = "one-cycle", 4 }
	ref, err := Run(recipeConfig(filepath.Join(t.TempDir(), "ref"), data, oneCycle))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	var out bytes.Buffer
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), oneCycleEnv+"="+runDir, oneCycleEnv+"_DATA="+data)
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if names, _ := trainer.ListCheckpoints(runDir); len(names) > 0 && names[0] >= filepath.Join(runDir, "ckpt-000000007.flw") {
			break
		}
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatalf("no checkpoint at step 7 after 3 minutes:\n%s", out.String())
		}
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()
	if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child ended before the kill:\n%s", out.String())
	}
	res, err := Run(recipeConfig(dir, data, oneCycle))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed == "" {
		t.Fatal("did not resume")
	}
	for i, e := range res.History {
		want := ref.History[i]
		if len(e.LRs) != len(want.LRs) {
			t.Fatalf("epoch %d: %d step rates, uninterrupted %d", i+1, len(e.LRs), len(want.LRs))
		}
		for k := range e.LRs {
			if math.Abs(e.LRs[k]-want.LRs[k]) > 1e-12 {
				t.Errorf("epoch %d step %d: rate %g after the kill, %g uninterrupted", i+1, k+1, e.LRs[k], want.LRs[k])
			}
		}
	}
}
