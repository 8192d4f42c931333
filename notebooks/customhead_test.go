package notebooks_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"
)

// studentHead replaces the walkthrough's head cell: what a student writes when told "add a
// 64-wide Dense with dropout, drop the BatchNorm" (flowers.ipynb, step 4's "try this").
const studentHead = `func flowerHead(scope *model.Scope, x *graph.Node) *graph.Node {
	x = head.Flatten(x)
	x = head.Dense(scope, x, 64, head.HeNormal(42))
	x = activation.Relu(x)
	x = layers.DropoutStatic(scope, x, 0.5)
	return head.Dense(scope, x, 5)
}`

// writeStudentNotebook writes the walkthrough into dir with studentHead in its head cell.
func writeStudentNotebook(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(notebooksDir, BrowserNotebook))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?s)func flowerHead\(.*?\n}`)
	replaced := 0
	for _, c := range doc["cells"].([]any) {
		cell := c.(map[string]any)
		if src := joinText(cell["source"]); cell["cell_type"] == "code" && fn.MatchString(src) {
			cell["source"] = fn.ReplaceAllLiteralString(src, studentHead)
			replaced++
		}
	}
	if replaced != 1 {
		t.Fatalf("%s: %d head cells (func flowerHead), want 1", BrowserNotebook, replaced)
	}
	out, _ := json.MarshalIndent(doc, "", " ")
	path := filepath.Join(dir, "student.ipynb")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStudentHead: a head written differently in the walkthrough's head cell (studentHead: a
// 64-wide Dense with dropout, no BatchNorm) trains through the same cells on go and xla:cpu:
// its summary shows its layers, the training cell trains it (checkpointed), and on go a kernel
// killed with SIGKILL mid-training resumes from its checkpoint when the notebook runs again;
// the evaluation, the gallery, the own-photo prediction, the export (the executable answers)
// and the playground all run with it.
func TestStudentHead(t *testing.T) {
	testdata.Slow(t, "executes the walkthrough with another head three times")
	jupyter := requireKernel(t)
	dir := browserTree(t)
	nbPath := writeStudentNotebook(t, dir)
	for _, backend := range []string{"go", "xla:cpu"} {
		t.Run(backend, func(t *testing.T) {
			extra := []string{"GOMLX_BACKEND=" + backend, "FLOWERS_EPOCHS=40", "FLOWERS_BATCH=4", "FLOWERS_CHECKPOINT_STEPS=1"}
			if backend != "go" {
				plugin := xlaCPUPluginDir()
				if plugin == "" {
					testdata.Need(t, "needs an XLA CPU PJRT plugin (bash kernel/install.sh --xla, or source .ci/venv.sh)")
				}
				extra = append(extra, "PJRT_PLUGIN_LIBRARY_PATH="+plugin)
			}
			work := filepath.Join(t.TempDir(), "work")
			if backend == "go" {
				killMidTraining(t, jupyter, nbPath, work, extra)
			}
			out := filepath.Join(outDir(t), "student."+strings.ReplaceAll(backend, ":", "-")+".ipynb")
			nb := runNotebook(t, jupyter, nbPath, out, work, extra)
			checkStudentOutputs(t, nb, backend == "go")
		})
	}
}

// runNotebook executes path with nbconvert in the given work folder (kept across runs).
func runNotebook(t *testing.T, jupyter, path, dest, work string, extra []string) *notebook {
	t.Helper()
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name="+KernelName,
		"--ExecutePreprocessor.timeout=900", "--output-dir", filepath.Dir(dest), "--output", filepath.Base(dest), path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = notebookEnv(work, "embedded", extra...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nbconvert: %v; the failing cell:\n%s", err, lastLines(cellError(string(out)), 40))
	}
	return readNotebook(t, dest)
}

// killMidTraining starts the notebook and kills its kernel and the cell's program with SIGKILL
// once the training cell has written its first checkpoints, leaving the run mid-way.
func killMidTraining(t *testing.T, jupyter, path, work string, extra []string) {
	t.Helper()
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name="+KernelName,
		"--ExecutePreprocessor.timeout=900", "--output-dir", t.TempDir(), "--output", "killed.ipynb", path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = notebookEnv(work, "embedded", extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the kernel and the cell's program are its children
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	// The kernel runs in a session of its own (jupyter_client starts it so) and keeps the output
	// pipe open after nbconvert is killed: Wait stops waiting for it after a second.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	kill := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		killByEnv("FLOWERS_WORK=" + work) // the kernel, gopls and the cell's program
		<-exited
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		ckpts, _ := filepath.Glob(filepath.Join(work, "run", "*flowerHead*", "ckpt-*.flw"))
		if len(ckpts) > 0 {
			break
		}
		select {
		case <-exited:
			kill()
			t.Fatalf("nbconvert ended before the training cell wrote a checkpoint:\n%s", lastLines(log.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			kill()
			t.Fatalf("no checkpoint of the training cell within 10 minutes:\n%s", lastLines(log.String(), 40))
		}
	}
	kill()
	hist, _ := filepath.Glob(filepath.Join(work, "run", "*flowerHead*", "history.json"))
	if len(hist) == 1 {
		var h []map[string]any
		if b, err := os.ReadFile(hist[0]); err == nil && json.Unmarshal(b, &h) == nil && len(h) >= 40 {
			t.Fatalf("the training finished (%d epochs) before the kill: make it longer", len(h))
		}
	}
}

// checkStudentOutputs: the executed notebook shows the student's head at every step.
func checkStudentOutputs(t *testing.T, nb *notebook, resumed bool) {
	t.Helper()
	var text strings.Builder
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell %d failed: %s: %s", i, o.Ename, o.Evalue)
			}
			text.WriteString(o.text())
		}
	}
	s := text.String()
	// The head's summary: two Dense layers, no BatchNorm (2048·64+64 + 64·5+5 parameters on the
	// avg-pooled features: FLOWERS_POOLING=avg in notebookEnv).
	patterns := []struct{ what, re string }{
		{"the head's summary", `>dense \(Dense\)<.*?>dense_1 \(Dense\)<.*?131,461 \(trainable 131,461, non-trainable 0\)`},
		{"the training of the student's head", `training the flowerHead head \(131461 trainable parameters`},
		{"the training summary", `40 epochs, \d+ steps on [^:\n]+: val_accuracy`},
		{"the evaluation", `validation: accuracy \d\.\d{4}, loss \d+\.\d{4} on \d+ photos`},
		{"the gallery", `predictions, \d+ mistakes \(red\)`},
		{"the own-photo prediction", `true class: [a-z]+`},
		{"the exported executable answering", `\$ flowers-model [^\n]+\.jpg\n.*?\.jpg: [a-z]+ \d\.\d{3}`},
		{"the playground's run of the student's head", `<td[^>]*>#1</td>.*?<td[^>]*>done</td>`},
	}
	if resumed {
		patterns = append(patterns, struct{ what, re string }{"the resume after the kill", `resuming from ckpt-\d+\.flw: step \d+`})
	}
	for _, p := range patterns {
		if !regexp.MustCompile(`(?s)` + p.re).MatchString(s) {
			t.Errorf("no %s in the outputs (pattern %q)", p.what, p.re)
		}
	}
	if strings.Contains(s, "batch_normalization (BatchNormalization)") {
		t.Error("the student's head has no BatchNorm, but the summary shows one")
	}
}

// killByEnv sends SIGKILL to every process whose environment holds entry (Linux: /proc/PID/environ).
func killByEnv(entry string) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue
		}
		for _, e := range bytes.Split(env, []byte{0}) {
			if string(e) == entry {
				if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
		}
	}
}
