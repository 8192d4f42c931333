// Package notebooks_test runs the notebooks the way a user does: it installs the kernel
// (kernel/install.sh) into a temporary Jupyter data folder and executes each notebook once per
// backend, in headless Chromium, with small settings, asserting everything on that execution
// (browser_test.go): the walkthrough and the experiments in JupyterLab 4 on the go backend, the
// walkthrough in classic Notebook on xla:cpu with the embedded photos; the playground's widgets
// are driven there. What each notebook must show is in expect_test.go. The playground run
// headless by nbconvert, with no setting, must see that no browser is there
// (playground_test.go); jupyter_kernel_test checks the kernel's protocol.
//
// Missing prerequisites (Jupyter, the kernel's build, Chromium) skip these tests with a
// message, except with CI=true, where they fail. The browser tests are slow: they run in the
// full suite (internal/testdata.Slow). -short skips all but TestNotebooksAreClean.
package notebooks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"
)

// KernelName is the kernelspec the notebooks ask for.
const KernelName = "flowers-gonb"

var (
	repoRoot = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Dir(filepath.Dir(file))
	}()
	notebooksDir = filepath.Join(repoRoot, "notebooks")

	kernelOnce sync.Once
	kernelErr  error
	dataDir    string // temporary $JUPYTER_DATA_DIR with the kernelspec
	jupyter    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dataDir != "" {
		os.RemoveAll(dataDir)
	}
	os.Exit(code)
}

// outDir returns where tests leave files for a person to look at: $FLOWERS_TEST_OUT when
// set, else a folder under the test's temporary directory (removed afterwards).
func outDir(t *testing.T) string {
	if d := os.Getenv("FLOWERS_TEST_OUT"); d != "" {
		d, _ = filepath.Abs(d)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// requireKernel installs the kernel once (kernel/install.sh --backend go, for classic
// Notebook's jupyter, into a temporary JUPYTER_DATA_DIR; the tools go to the script's default
// bin folder, where a second install is a no-op) and returns the jupyter command.
func requireKernel(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: notebook tests need Jupyter, the GoNB kernel and minutes of compilation")
	}
	jupyter = os.Getenv("JUPYTER")
	if jupyter == "" {
		jupyter = "/usr/bin/jupyter"
	}
	if _, err := os.Stat(jupyter); err != nil {
		testdata.Need(t, "needs Jupyter at %s: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel "+
			"(or bash kernel/install.sh --apt), or set $JUPYTER", jupyter)
	}
	kernelOnce.Do(func() {
		dataDir, kernelErr = os.MkdirTemp("", "flowers-jupyter-")
		if kernelErr == nil {
			kernelErr = installKernel(jupyter, dataDir, KernelName, "go")
		}
	})
	if kernelErr != nil {
		testdata.Need(t, "cannot install the notebook kernel: %v", kernelErr)
	}
	return jupyter
}

// installKernel runs kernel/install.sh for the jupyter command into the data folder: the
// kernel name, GOMLX_BACKEND=backend.
func installKernel(jupyter, data, name, backend string) error {
	cmd := exec.Command("bash", filepath.Join(repoRoot, "kernel", "install.sh"), "--name", name, "--backend", backend)
	cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+data, "JUPYTER="+jupyter)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("JUPYTER=%s kernel/install.sh --name %s --backend %s: %v\n%s", jupyter, name, backend, err, out.String())
	}
	fmt.Fprintf(os.Stderr, "kernel %s (%s) installed for %s in %.0fs\n", name, backend, jupyter, time.Since(start).Seconds())
	return nil
}

// notebookEnv is the environment of a notebook run: Jupyter finds our kernelspec, cells see
// small CI settings (extra overrides them) and write under work, not in the repository, and
// nothing is written in the user's HOME. Data "sample" runs on the 200 photos of ../shared;
// "embedded" as on a machine that has never seen ../shared (Data "auto", offline: the 50
// photos embedded in flowerlib).
func notebookEnv(work, data string, extra ...string) []string {
	home := filepath.Join(work, "home")
	_ = os.MkdirAll(home, 0o755)
	env := append(os.Environ(),
		// Jupyter, IPython, GoNB and Chromium write under HOME: a temporary one. Go keeps its
		// caches (a cold build cache would compile GoMLX again in every test).
		"HOME="+home, "JUPYTER_CONFIG_DIR="+filepath.Join(home, ".jupyter"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(home, "runtime"), "IPYTHONDIR="+filepath.Join(home, ".ipython"),
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"GOCACHE="+goEnv("GOCACHE"), "GOMODCACHE="+goEnv("GOMODCACHE"), "GOPATH="+goEnv("GOPATH"),
		"JUPYTER_DATA_DIR="+dataDir,
		"FLOWERS_WORK="+work,
		"FLOWERS_CACHE="+filepath.Join(work, "cache"),
		"FLOWERS_EPOCHS=2",
		"FLOWERS_PER_CLASS=4",
		"FLOWERS_POOLING=avg",
		"FLOWERS_SIZE=96",
		"FLOWERS_OFFLINE=1", // Weights "auto" → random without a network probe
		"PYTHONWARNINGS=ignore",
		"PYTHONDONTWRITEBYTECODE=1",
		"FLOWERS_HEADLESS=", // what the notebook decides by itself
	)
	switch data {
	case "sample":
		env = append(env, "FLOWERS_DATA=sample", "FLOWERS_SAMPLE_DIR="+testdata.SampleDir())
	case "embedded":
		env = append(env, "FLOWERS_DATA=", "FLOWERS_SAMPLE_DIR="+filepath.Join(work, "no-such-sample")) // "auto", offline: the embedded photos
	default:
		panic("notebookEnv: data " + data)
	}
	return append(env, extra...)
}

// smallSettings is the execution notebookEnv's settings give, on data and backend.
func smallSettings(data, backend, playground string) execution {
	return execution{Epochs: 2, PerClass: 4, Data: data, Backend: backend, Playground: playground}
}

// goEnv is `go env NAME` of the test's environment.
func goEnv(name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		panic(fmt.Sprintf("go env %s: %v", name, err))
	}
	return strings.TrimSpace(string(out))
}

// notebookFiles lists the notebooks (every .ipynb in notebooks/).
func notebookFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(notebooksDir, "*.ipynb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no notebooks in %s (%v)", notebooksDir, err)
	}
	return files
}

// notebook is the part of the .ipynb format the tests read.
type notebook struct {
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
	Cells []cell `json:"cells"`
}

type cell struct {
	CellType       string   `json:"cell_type"`
	Source         any      `json:"source"` // string or []string
	Outputs        []output `json:"outputs"`
	ExecutionCount *int     `json:"execution_count"`
	Metadata       struct {
		// Execution is what nbclient (nbconvert) records of the cell's run.
		Execution struct {
			Start string `json:"iopub.execute_input"`
			End   string `json:"shell.execute_reply"`
		} `json:"execution"`
	} `json:"metadata"`
}

type output struct {
	OutputType string         `json:"output_type"`
	Name       string         `json:"name"`
	Text       any            `json:"text"`
	Data       map[string]any `json:"data"`
	Ename      string         `json:"ename"`
	Evalue     string         `json:"evalue"`
}

func joinText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, s := range v {
			b.WriteString(fmt.Sprint(s))
		}
		return b.String()
	}
	return ""
}

func (c cell) source() string { return joinText(c.Source) }

func (o output) text() string {
	if o.Text != nil {
		return joinText(o.Text)
	}
	var b strings.Builder
	for _, k := range []string{"text/html", "text/markdown", "image/svg+xml", "text/plain"} {
		b.WriteString(joinText(o.Data[k]))
	}
	return b.String()
}

func readNotebook(t *testing.T, path string) *notebook {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &nb
}

// TestNotebooksAreClean checks the committed notebooks without running them: no outputs
// (they are produced by running), our kernelspec, a first cell pinning this module and the
// GoMLX versions of go.mod, and no dot-imports (they break later GoNB cells).
func TestNotebooksAreClean(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	pinRe := regexp.MustCompile(`-require=(\S+)@(\S+)`)
	for _, path := range notebookFiles(t) {
		nb := readNotebook(t, path)
		name := filepath.Base(path)
		if nb.Metadata.Kernelspec.Name != KernelName {
			t.Errorf("%s: kernelspec %q, want %q", name, nb.Metadata.Kernelspec.Name, KernelName)
		}
		var first *cell
		for i, c := range nb.Cells {
			if c.CellType != "code" {
				continue
			}
			if first == nil {
				first = &nb.Cells[i]
			}
			if len(c.Outputs) > 0 || c.ExecutionCount != nil {
				t.Errorf("%s: cell %d has outputs: clear them before committing (Kernel → Restart & Clear Output)", name, i)
			}
			if regexp.MustCompile(`(?m)^\s*\.\s+"`).MatchString(c.source()) {
				t.Errorf("%s: cell %d has a dot-import: use named imports", name, i)
			}
		}
		if first == nil || !strings.HasPrefix(first.source(), "!*go mod edit -require=github.com/flowerlib/flowers@v0.0.0 -replace=github.com/flowerlib/flowers=${GONB_DIR}/..") {
			t.Errorf("%s: the first code cell must pin this module: !*go mod edit -require=github.com/flowerlib/flowers@v0.0.0 -replace=github.com/flowerlib/flowers=${GONB_DIR}/..", name)
			continue
		}
		for _, m := range pinRe.FindAllStringSubmatch(first.source(), -1) {
			if m[1] == "github.com/flowerlib/flowers" {
				continue
			}
			if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(m[1]) + `\s+` + regexp.QuoteMeta(m[2]) + `\b`).Match(gomod) {
				t.Errorf("%s: pins %s@%s, which is not go.mod's version", name, m[1], m[2])
			}
		}
	}
}

// executeNotebook runs path headless with nbconvert (the kernel kernel) on the small settings
// and data (extra env overrides them), writes the executed copy to dest and returns it; it fails
// the test with the failing cell when a cell fails.
func executeNotebook(t *testing.T, jupyter, kernel, data, path, dest string, extra ...string) *notebook {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(dest), ".ipynb")
	work := filepath.Join(t.TempDir(), "work")
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name="+kernel, "--ExecutePreprocessor.timeout=600",
		"--output-dir", filepath.Dir(dest), "--output", filepath.Base(dest), path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = notebookEnv(work, data, extra...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s: nbconvert took %.0fs", name, time.Since(start).Seconds())
	logPath := filepath.Join(filepath.Dir(dest), name+".nbconvert.log")
	_ = os.WriteFile(logPath, log.Bytes(), 0o644)
	if err != nil {
		t.Fatalf("nbconvert failed (%v); the failing cell:\n%s\n(full log: %s)", err, lastLines(cellError(log.String()), 40), logPath)
	}
	return readNotebook(t, dest)
}

// cellError extracts nbclient's CellExecutionError report from an nbconvert log.
func cellError(log string) string {
	if i := strings.Index(log, "CellExecutionError"); i >= 0 {
		return log[i:]
	}
	return log
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// checkOutputs asserts what an executed notebook must show: no error output, every code cell
// ran, every figure as SVG and PNG, no <svg> inside HTML, and the notebook's expectation
// (expect_test.go). It returns the text of all outputs.
func checkOutputs(t *testing.T, name string, nb *notebook, want expectation) string {
	t.Helper()
	var all strings.Builder
	figures := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if c.ExecutionCount == nil {
			t.Errorf("%s: cell %d did not run", name, i)
		}
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("%s: cell %d failed: %s: %s", name, i, o.Ename, o.Evalue)
			}
			all.WriteString(o.text())
			all.WriteString("\n")
		}
		// A cell that displays something must have a display output.
		src := c.source()
		if strings.Contains(src, ".Show(") || strings.Contains(src, "nb.HTML(") {
			if !slices.ContainsFunc(c.Outputs, func(o output) bool { return o.OutputType == "display_data" }) {
				t.Errorf("%s: cell %d displays a picture but has no display output:\n%s", name, i, src)
			}
		}
		// Every figure carries a PNG (what an untrusted view shows) beside its SVG, and no
		// chart hides in HTML (the sanitizer of an untrusted view strips inline <svg>).
		for _, o := range c.Outputs {
			if svg := joinText(o.Data["image/svg+xml"]); svg != "" {
				figures++
				png, _ := o.Data["image/png"].(string)
				if len(png) < 1000 || joinText(o.Data["text/plain"]) == "" {
					t.Errorf("%s: cell %d has an SVG figure without its PNG (%d base64 bytes) or text", name, i, len(png))
				}
			}
			if strings.Contains(joinText(o.Data["text/html"]), "<svg") {
				t.Errorf("%s: cell %d has an <svg> inside text/html: it disappears in an untrusted view", name, i)
			}
		}
	}
	if figures != want.Figures {
		t.Errorf("%s: %d figures (SVG+PNG outputs), want %d", name, figures, want.Figures)
	}
	text := all.String()
	for _, p := range want.Patterns {
		if !regexp.MustCompile(`(?s)` + p.re).MatchString(text) {
			t.Errorf("%s: no %s in the outputs (pattern %q)", name, p.what, p.re)
		}
	}
	return text
}

// TestKernelProtocol runs jupyter_kernel_test (kernel_test.py) against the installed kernel.
func TestKernelProtocol(t *testing.T) {
	testdata.Slow(t, "jupyter_kernel_test compiles and runs a dozen cells")
	requireKernel(t)
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jupyter_kernel_test").Run(); err != nil {
		testdata.Need(t, "%s cannot import jupyter_kernel_test: sudo apt-get install python3-jupyter-kernel-test", python)
	}
	cmd := exec.Command(python, "-m", "unittest", "-v", "kernel_test")
	cmd.Dir = notebooksDir
	cmd.Env = append(notebookEnv(filepath.Join(t.TempDir(), "work"), "embedded"), "FLOWERS_REPO="+repoRoot, "FLOWERS_KERNEL_NAME="+KernelName)
	out, err := cmd.CombinedOutput()
	// unittest reports on stderr; keep its verdict lines, not GoNB's log.
	var verdict []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " ... ") || strings.HasPrefix(l, "Ran ") || strings.HasPrefix(l, "OK") ||
			strings.HasPrefix(l, "FAILED") || strings.HasPrefix(l, "FAIL:") || strings.HasPrefix(l, "ERROR:") || strings.HasPrefix(l, "AssertionError") {
			verdict = append(verdict, l)
		}
	}
	t.Log("\n" + strings.Join(verdict, "\n"))
	if err != nil {
		t.Fatalf("jupyter_kernel_test failed: %v\n%s", err, lastLines(string(out), 80))
	}
	if !strings.Contains(string(out), "\nOK") {
		t.Fatalf("jupyter_kernel_test did not report OK:\n%s", lastLines(string(out), 40))
	}
}
