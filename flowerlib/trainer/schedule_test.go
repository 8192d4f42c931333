package trainer_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/ml/train/optimizer/cosineschedule"
)

// TestCosineMatchesGoMLX runs GoMLX's own cosineschedule (in a graph, float64) step by step and
// compares its learning rate with trainer.CosineWarmup at every step, through the warm-up, the
// cosine and past one period (GoMLX restarts there).
func TestCosineMatchesGoMLX(t *testing.T) {
	const lr, minLR, warmup, total = 3e-3, 1e-5, 7, 40
	store := model.NewStore()
	exec, err := model.NewExec(backend.MustNew("go", nil), store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		store.SetTraining(g, true)
		cosineschedule.New(scope, g, dtypes.Float64).LearningRate(lr).MinLearningRate(minLR).
			WarmUpSteps(warmup).PeriodSteps(total - warmup).Done()
		return optimizer.LearningRateVar(scope, dtypes.Float64, 0).NodeValue(g)
	})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for step := int64(0); step < total+10; step++ {
		out, err := exec.Call1()
		if err != nil {
			t.Fatal(err)
		}
		gomlx := tensors.ToScalar[float64](out)
		ours := trainer.CosineWarmup(lr, minLR, warmup, step, total)
		if d := math.Abs(ours-gomlx) / lr; d > worst {
			worst = d
		}
		if math.Abs(ours-gomlx) > 1e-12*lr {
			t.Errorf("step %d: GoMLX's cosineschedule %.12g, CosineWarmup %.12g", step, gomlx, ours)
		}
	}
	// The schedule as the trainer applies it: (rate, Keras' β1).
	s := trainer.Schedule{Kind: trainer.ScheduleCosine, WarmupSteps: warmup, MinLR: minLR}
	if r, b1 := s.At(lr, 0, total); r != minLR || b1 != trainer.AdamBeta1 {
		t.Errorf("cosine at step 0: (%g, %g), want (%g, %g)", r, b1, minLR, trainer.AdamBeta1)
	}
	t.Logf("%d steps: max |difference| %.2g × lr", total+10, worst)
}

// TestOneCycleShape: fastai's landmarks of fit_one_cycle (the exact values against fastai's
// formula are tools/keras' TestOneCycleFastai): lr/div at the start, lr at pct_start with β1 at
// its middle, near lr/div_final at the end; the default schedule is the constant one.
func TestOneCycleShape(t *testing.T) {
	s := trainer.Schedule{Kind: trainer.ScheduleOneCycle}
	const lr, total = 1e-3, 100
	check := func(step int64, wantLR, wantB1, tol float64) {
		t.Helper()
		r, b1 := s.At(lr, step, total)
		if math.Abs(r-wantLR) > tol*lr || math.Abs(b1-wantB1) > 1e-12 {
			t.Errorf("step %d: (%.9g, %.9g), want (%.9g, %.9g)", step, r, b1, wantLR, wantB1)
		}
	}
	check(0, lr/25, 0.95, 1e-15)
	check(25, lr, 0.85, 1e-15)
	// The last step (pos 0.99): lr/1e5 + (lr - lr/1e5)(1+cos(π·(1−0.99/0.75·…)))/2, small.
	r, _ := s.At(lr, total-1, total)
	if !(r > lr/1e5 && r < lr/1e3) {
		t.Errorf("last step's rate %g, want just above lr/div_final = %g", r, lr/1e5)
	}
	if r, b1 := (trainer.Schedule{}).At(lr, 50, total); r != lr || b1 != trainer.AdamBeta1 || (trainer.Schedule{}).SchedulesBeta1() {
		t.Errorf("constant schedule: (%g, %g)", r, b1)
	}
	for _, bad := range []trainer.Schedule{{Kind: "linear"}, {Kind: trainer.ScheduleOneCycle, PctStart: 1.5},
		{Kind: trainer.ScheduleOneCycle, Moms: [3]float64{0.95, 1, 0.95}}, {Kind: trainer.ScheduleCosine, WarmupSteps: -1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if err := (trainer.Schedule{Kind: "linear"}).Validate(); err == nil || err.Error() != `trainer: unknown schedule "linear" (want "constant", "one_cycle" or "cosine")` {
		t.Errorf("unknown kind: %v", err)
	}
}

// scheduleTrainer is a small head (go backend, 48 examples, batch 8: 6 steps per epoch) with
// a one-cycle schedule in dir and returns the trainer; OnStep records (step, lr).
func scheduleTrainer(t *testing.T, b, dir, step string, epochs int) *trainer.Trainer {
	t.Helper()
	cfg := headCfg{Hidden: []int{16, 8}, Dropout: 0.3}
	c := headConfig(t, b, dir, cfg, trainer.Options{Epochs: epochs, BatchSize: 8, LearningRate: 3e-3, CheckpointSteps: 1,
		Schedule: trainer.Schedule{Kind: trainer.ScheduleOneCycle}})
	c.StepKind = step
	tr, err := trainer.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

const envKillChild = "FLOWERS_TRAINER_KILL_CHILD"

// TestResumeKilledMidSchedule starts a one-cycle run in a child process (this test binary),
// kills it with SIGKILL in the middle of the schedule (step 8 of 18, on the way down), resumes it
// here, and checks that every step after the resume ran at the schedule's rate for its global
// step, that the History records the schedule per step, and that the run ends with the weights
// and History of an uninterrupted run.
func TestResumeKilledMidSchedule(t *testing.T) {
	const epochs, killAt = 3, 8
	data := syntheticFeatures(48, 4)
	if dir := os.Getenv(envKillChild); dir != "" {
		tr := scheduleTrainer(t, "go", dir, "", epochs)
		tr.OnStep = func(s trainer.StepInfo) {
			os.Stdout.WriteString("step " + strconv.FormatInt(s.Step, 10) + "\n")
			if s.Step == killAt {
				time.Sleep(time.Hour) // the parent kills us here, checkpoint killAt-1 written
			}
		}
		_, err := tr.Fit(data, nil)
		t.Fatalf("the child was not killed: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestResumeKilledMidSchedule$", "-test.count=1")
	cmd.Env = append(os.Environ(), envKillChild+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "step "+strconv.Itoa(killAt) {
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v (want killed)", err)
	}

	full := scheduleTrainer(t, "go", t.TempDir(), "", epochs)
	want, err := full.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := scheduleTrainer(t, "go", dir, "", epochs)
	if tr.Resumed == "" || tr.State.Step != killAt-1 {
		t.Fatalf("resumed from %q at step %d, want the checkpoint of step %d", tr.Resumed, tr.State.Step, killAt-1)
	}
	const total = epochs * 6
	var steps []int64
	tr.OnStep = func(s trainer.StepInfo) {
		steps = append(steps, s.Step)
		wantLR, _ := tr.Schedule.At(tr.LearningRate, s.Step-1, total)
		if s.LR != wantLR {
			t.Errorf("step %d after the resume ran at %.9g, the schedule says %.9g", s.Step, s.LR, wantLR)
		}
	}
	got, err := tr.Fit(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != total-killAt+1 || steps[0] != killAt {
		t.Fatalf("steps after the resume: %v", steps)
	}
	for e := range got {
		if len(got[e].LRs) != 6 || len(got[e].Beta1s) != 6 {
			t.Fatalf("epoch %d records %d rates and %d β1s, want 6", e+1, len(got[e].LRs), len(got[e].Beta1s))
		}
		for i := range 6 {
			lr, b1 := tr.Schedule.At(tr.LearningRate, int64(e*6+i), total)
			if got[e].LRs[i] != lr || got[e].Beta1s[i] != b1 || got[e].LRs[i] != want[e].LRs[i] {
				t.Errorf("epoch %d step %d: History (%g, %g), schedule (%g, %g), uninterrupted run %g",
					e+1, i+1, got[e].LRs[i], got[e].Beta1s[i], lr, b1, want[e].LRs[i])
			}
		}
		if got[e].LR != got[e].LRs[5] || math.Abs(got[e].Loss-want[e].Loss) > 1e-6 {
			t.Errorf("epoch %d: lr %g (last step %g), loss %.7f, uninterrupted %.7f", e+1, got[e].LR, got[e].LRs[5], got[e].Loss, want[e].Loss)
		}
	}
	for _, name := range []string{"/dense/kernel", "/dense_2/kernel", trainer.Beta1Var} {
		a := tensors.MustCopyFlatData[float64](toF64(tr.Store.GetVariable(name).MustValue()))
		b := tensors.MustCopyFlatData[float64](toF64(full.Store.GetVariable(name).MustValue()))
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-6 {
				t.Fatalf("%s[%d]: resumed %g, uninterrupted %g", name, i, a[i], b[i])
			}
		}
	}
	// history.json on disk holds the rates, and reads back.
	h, err := trainer.LoadHistory(dir)
	if err != nil || len(h) != epochs || len(h[2].LRs) != 6 || h[2].LR != got[2].LR {
		t.Fatalf("history.json: %v %+v", err, h)
	}
}

// toF64 returns a float64 copy of a float32 or float64 tensor.
func toF64(x *tensors.Tensor) *tensors.Tensor {
	if x.DType() == dtypes.Float64 {
		return x
	}
	f := tensors.MustCopyFlatData[float32](x)
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return tensors.FromFlatDataAndDimensions(out, len(out))
}

// TestScheduleStepsAgree: with a one-cycle schedule (β1 moving too) and discriminative rates,
// the host step and the graph step (go, and xla:cpu when its plugin is installed) train to the
// same losses and weights.
func TestScheduleStepsAgree(t *testing.T) {
	data := syntheticFeatures(48, 3)
	type run struct{ name, backend, step string }
	runs := []run{{"go host", "go", trainer.StepHost}, {"go graph", "go", trainer.StepGraph}}
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") != "" || os.Getenv("CI") == "true" {
		runs = append(runs, run{"xla:cpu graph", "xla:cpu", trainer.StepGraph})
	}
	groups, err := trainer.SliceGroups(1e-4, 3e-3, []string{"/dense/", "/batch_normalization/"}, []string{"/dense_1/"})
	if err != nil {
		t.Fatal(err)
	}
	var ref []float64
	var refW []float32
	for _, r := range runs {
		cfg := headCfg{Hidden: []int{16, 8}}
		c := headConfig(t, r.backend, t.TempDir(), cfg, trainer.Options{Epochs: 2, BatchSize: 16, LearningRate: 3e-3,
			Schedule: trainer.Schedule{Kind: trainer.ScheduleOneCycle}, LRGroups: groups})
		c.StepKind = r.step
		tr, err := trainer.New(c)
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		tr.OnStep = func(s trainer.StepInfo) { losses = append(losses, s.Loss) }
		h, err := tr.Fit(data, nil)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		w := tensors.MustCopyFlatData[float32](c.Store.GetVariable("/dense/kernel").MustValue())
		tr.Close()
		if len(h[1].Beta1s) != 3 || h[1].Beta1s[2] == h[1].Beta1s[0] {
			t.Errorf("%s: β1 per step %v", r.name, h[1].Beta1s)
		}
		if ref == nil {
			ref, refW = losses, w
			continue
		}
		for i := range losses {
			if math.Abs(losses[i]-ref[i]) > 1e-4*math.Max(1, ref[i]) {
				t.Errorf("%s: step %d loss %.6f, %s %.6f", r.name, i+1, losses[i], runs[0].name, ref[i])
			}
		}
		for i := range w {
			if math.Abs(float64(w[i]-refW[i])) > 1e-4 {
				t.Fatalf("%s: dense/kernel[%d] %g, %s %g", r.name, i, w[i], runs[0].name, refW[i])
			}
		}
	}
}

// TestHistoryLRCompatible: a history.json written before the learning rate was recorded reads
// back with NaN rates and writes an empty learning_rate column; a new one round-trips.
func TestHistoryLRCompatible(t *testing.T) {
	dir := t.TempDir()
	old := `[{"epoch":1,"loss":1.5,"accuracy":0.25,"val_loss":null,"val_accuracy":null,"seconds":2,"step":5}]`
	if err := os.WriteFile(filepath.Join(dir, trainer.HistoryJSON), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := trainer.LoadHistory(dir)
	if err != nil || !math.IsNaN(h[0].LR) || h[0].LRs != nil {
		t.Fatalf("old history: %v %+v", err, h)
	}
	if got := string(h.CSV()); got != "epoch,accuracy,loss,val_accuracy,val_loss,seconds,learning_rate\n0,0.25,1.5,,,2.00,\n" {
		t.Errorf("CSV of the old history:\n%s", got)
	}
	b, _ := json.Marshal(h)
	if string(b) != old {
		t.Errorf("old history re-encoded as\n%s", b)
	}
	h[0].LR, h[0].LRs = 4e-5, []float64{1e-3, 4e-5}
	if err := h.Save(dir); err != nil {
		t.Fatal(err)
	}
	h2, err := trainer.LoadHistory(dir)
	if err != nil || h2[0].LR != 4e-5 || len(h2[0].LRs) != 2 || h2.Metric("learning_rate")[0] != 4e-5 {
		t.Fatalf("round trip: %v %+v", err, h2)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, trainer.HistoryCSV))
	if !strings.HasSuffix(string(csv), ",2.00,4e-05\n") {
		t.Errorf("CSV: %s", csv)
	}
}
