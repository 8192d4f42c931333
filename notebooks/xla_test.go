package notebooks_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// XLAKernelName is the kernelspec TestNotebookOnXLACPU registers with GOMLX_BACKEND=xla:cpu.
const XLAKernelName = "flowers-gonb-xla"

// xlaCPUPluginDir returns the folder of an XLA CPU PJRT plugin that go-xla will find: one on
// $PJRT_PLUGIN_LIBRARY_PATH (.ci/venv.sh), else go-xla's default folders (flowers setup).
func xlaCPUPluginDir() string {
	dirs := strings.Split(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), ":")
	if os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
		home, _ := os.UserHomeDir()
		dirs = []string{filepath.Join(home, ".local", "lib", "go-xla"), "/usr/local/lib/go-xla"}
	}
	for _, d := range dirs {
		if m, _ := filepath.Glob(filepath.Join(d, "pjrt_c_api_cpu*_plugin.so")); d != "" && len(m) > 0 {
			return d
		}
	}
	return ""
}

// TestNotebookOnXLACPU registers the kernel for the XLA CPU backend
// (`kernel/install.sh --backend xla:cpu`) and executes the walkthrough headless on it, with the
// same small settings and the same output checks as TestNotebooksExecute; the training cell
// must report that it ran on XLA.
func TestNotebookOnXLACPU(t *testing.T) {
	jupyter := requireKernel(t)
	if sampleDir() == "" {
		skipOrFail(t, "the sample photos are not in ../shared/data/flower_photos_small (nor $FLOWERS_SAMPLE_DIR)")
	}
	if xlaCPUPluginDir() == "" {
		skipOrFail(t, "no XLA CPU PJRT plugin (bash kernel/install.sh --xla, or source .ci/venv.sh)")
	}
	install := exec.Command("bash", filepath.Join(repoRoot, "kernel", "install.sh"), "--name", XLAKernelName, "--backend", "xla:cpu")
	install.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+dataDir, "JUPYTER="+jupyter)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("kernel/install.sh --backend xla:cpu: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "kernels", XLAKernelName, "kernel.json"))
	if err != nil || !strings.Contains(string(raw), `"GOMLX_BACKEND": "xla:cpu"`) {
		t.Fatalf("kernel.json of %s does not set GOMLX_BACKEND=xla:cpu (%v):\n%s", XLAKernelName, err, raw)
	}

	out := outDir(t)
	work := filepath.Join(t.TempDir(), "work")
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name="+XLAKernelName, "--ExecutePreprocessor.timeout=600",
		"--output-dir", out, "--output", "flowers.xla.executed.ipynb", filepath.Join(notebooksDir, "flowers.ipynb"))
	cmd.Dir = notebooksDir
	cmd.Env = notebookEnv(work, "FLOWERS_HEADLESS=1", "PJRT_PLUGIN_LIBRARY_PATH="+xlaCPUPluginDir())
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err = cmd.Run()
	t.Logf("flowers.ipynb on xla:cpu: nbconvert took %.0fs", time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("nbconvert failed (%v); the failing cell:\n%s", err, lastLines(cellError(log.String()), 40))
	}
	executed := readNotebook(t, filepath.Join(out, "flowers.xla.executed.ipynb"))
	checkOutputs(t, "flowers", executed)
	var text strings.Builder
	for _, c := range executed.Cells {
		for _, o := range c.Outputs {
			text.WriteString(o.text())
		}
	}
	// The training cell prints "N epochs, M steps in Ts on BACKEND: ..."; XLA's backends name
	// themselves after the PJRT plugin.
	m := regexp.MustCompile(`\d+ epochs, \d+ steps in \d+s on ([^:]+):`).FindStringSubmatch(text.String())
	if m == nil {
		t.Fatalf("the training cell's summary line is missing")
	}
	if strings.HasPrefix(m[1], "Go") || !strings.Contains(strings.ToLower(m[1]), "xla") {
		t.Fatalf("the notebook trained on %q, not on XLA", m[1])
	}
	t.Logf("trained on %s", m[1])
}
