// Package notebooks_test runs the notebooks the way a user does: it installs the kernel
// (kernel/install.sh) into a temporary Jupyter data folder, executes every notebook headless
// with nbconvert on small settings, runs jupyter_kernel_test against the kernel, and opens the
// walkthrough in headless Chromium on the classic Notebook server (browser_test.go).
//
// Missing prerequisites (Jupyter, the kernel's build, Chromium) skip these tests with a
// message, except with CI=true, where they fail. -short skips them too.
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

// skipOrFail skips the test, or fails it when CI=true (CI must run everything).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing prerequisite is a failure)", msg)
	}
	t.Skip(msg)
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

// requireKernel installs the kernel once (kernel/install.sh, into a temporary
// JUPYTER_DATA_DIR; the tools go to the script's default bin folder, where a second install is
// a no-op) and returns the jupyter command.
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
		skipOrFail(t, "Jupyter not found at %s: sudo apt-get install jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel "+
			"(or bash kernel/install.sh --apt), or set $JUPYTER", jupyter)
	}
	kernelOnce.Do(func() {
		dataDir, kernelErr = os.MkdirTemp("", "flowers-jupyter-")
		if kernelErr != nil {
			return
		}
		cmd := exec.Command("bash", filepath.Join(repoRoot, "kernel", "install.sh"), "--name", KernelName, "--backend", "go") // xla_test.go covers xla:cpu
		cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+dataDir, "JUPYTER="+jupyter)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			kernelErr = fmt.Errorf("kernel/install.sh: %v\n%s", err, out.String())
			return
		}
		fmt.Fprintf(os.Stderr, "kernel installed in %.0fs:\n%s", time.Since(start).Seconds(), out.String())
	})
	if kernelErr != nil {
		skipOrFail(t, "cannot install the notebook kernel: %v", kernelErr)
	}
	return jupyter
}

// notebookEnv is the environment of a headless run: Jupyter finds our kernelspec, cells see
// small CI settings (extra overrides them) and write under work, not in the repository.
func notebookEnv(work string, extra ...string) []string {
	home := filepath.Join(work, "home")
	_ = os.MkdirAll(home, 0o755)
	env := append(os.Environ(),
		// Jupyter, IPython and GoNB write under HOME: a temporary one. Go keeps its caches
		// (a cold build cache would compile GoMLX again in every test).
		"HOME="+home, "JUPYTER_CONFIG_DIR="+filepath.Join(home, ".jupyter"),
		"JUPYTER_RUNTIME_DIR="+filepath.Join(home, "runtime"), "IPYTHONDIR="+filepath.Join(home, ".ipython"),
		"GOCACHE="+goEnv("GOCACHE"), "GOMODCACHE="+goEnv("GOMODCACHE"), "GOPATH="+goEnv("GOPATH"),
		"JUPYTER_DATA_DIR="+dataDir,
		"FLOWERS_WORK="+work,
		"FLOWERS_CACHE="+filepath.Join(work, "cache"),
		"FLOWERS_EPOCHS=3",
		"FLOWERS_PER_CLASS=6",
		"FLOWERS_HEAD=avg",
		"FLOWERS_IMAGE_SIZE=96",
		"FLOWERS_NB_DATA=sample", // the tests' data: the 200 real photos beside the repository
		"FLOWERS_OFFLINE=1",      // Weights "auto" → random without a network probe
		"PYTHONWARNINGS=ignore",
	)
	if dir := sampleDir(); dir != "" {
		env = append(env, "FLOWERS_SAMPLE_DIR="+dir)
	}
	return append(env, extra...)
}

// goEnv is `go env NAME` of the test's environment.
func goEnv(name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		panic(fmt.Sprintf("go env %s: %v", name, err))
	}
	return strings.TrimSpace(string(out))
}

// sampleDir is flowerlib/internal/testdata.SampleDir (internal: not importable from here):
// $FLOWERS_SAMPLE_DIR, else ../shared/data/flower_photos_small beside the repository. The
// browser test's cells compile flowerlib from a linked tree, so they are told explicitly.
func sampleDir() string {
	if d := os.Getenv("FLOWERS_SAMPLE_DIR"); d != "" {
		return d
	}
	d := filepath.Join(repoRoot, "..", "shared", "data", "flower_photos_small")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	return ""
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

// TestNotebooksExecute runs every notebook headless with small settings and checks that no
// cell failed and that the pictures are there.
func TestNotebooksExecute(t *testing.T) {
	jupyter := requireKernel(t)
	if sampleDir() == "" {
		skipOrFail(t, "the sample photos are not in ../shared/data/flower_photos_small (nor $FLOWERS_SAMPLE_DIR): the notebooks run on them by default")
	}
	out := outDir(t)
	for _, path := range notebookFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".ipynb")
		t.Run(name, func(t *testing.T) {
			executed := executeNotebook(t, jupyter, path, filepath.Join(out, name+".executed.ipynb"))
			checkOutputs(t, name, executed)
		})
	}
}

// TestNotebookWithoutSharedSample runs the walkthrough as on a machine that has never seen
// ../shared: the default Data "auto", offline, falls back to the photos embedded in flowerlib.
func TestNotebookWithoutSharedSample(t *testing.T) {
	jupyter := requireKernel(t)
	path := filepath.Join(notebooksDir, BrowserNotebook)
	executed := executeNotebook(t, jupyter, path, filepath.Join(outDir(t), "flowers.embedded.executed.ipynb"),
		"FLOWERS_SAMPLE_DIR="+filepath.Join(t.TempDir(), "no-such-sample"), "FLOWERS_NB_DATA=")
	checkOutputs(t, "flowers", executed)
	var text strings.Builder
	for _, c := range executed.Cells {
		for _, o := range c.Outputs {
			text.WriteString(o.text())
		}
	}
	for _, want := range []string{"auto → Data: the 50 embedded photos; Weights: random", "/data-sample-", "images per class (30 in all)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the embedded-sample run lacks %q", want)
		}
	}
}

// executeNotebook runs path headless with nbconvert on the small CI settings (extra env
// overrides them), writes the executed copy to dest and returns it; it fails the test with
// the failing cell when a cell fails.
func executeNotebook(t *testing.T, jupyter, path, dest string, extra ...string) *notebook {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(dest), ".ipynb")
	work := filepath.Join(t.TempDir(), "work")
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name="+KernelName, "--ExecutePreprocessor.timeout=600",
		"--output-dir", filepath.Dir(dest), "--output", filepath.Base(dest), path)
	cmd.Dir = notebooksDir
	// No browser shows an nbconvert run: the playground trains once instead of waiting for its widgets.
	cmd.Env = notebookEnv(work, append([]string{"FLOWERS_HEADLESS=1"}, extra...)...)
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
// ran, and the walkthrough's pictures and tables.
func checkOutputs(t *testing.T, name string, nb *notebook) {
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
	if name != "flowers" {
		checkNotebookOutputs(t, name, all.String(), figures)
		return
	}
	// class counts, sample grid, augmentation, curves, confusion matrix, gallery, own photo,
	// the playground's accuracy and loss
	if figures != 9 {
		t.Errorf("%s: %d figures (SVG+PNG outputs), want 9", name, figures)
	}
	text := all.String()
	for _, want := range []struct{ what, pattern string }{
		{"labels head table", `<table class="flowers-table".*?\.jpg</td>`},
		{"class-count chart", `class="flowers-bar-chart"`},
		{"6 photos per class", `<text x="[^"]+" y="[^"]+" text-anchor="middle" class="value">6</text>`},
		{"sample grid with JPEG photos", `class="flowers-image-grid".*?href="data:image/jpeg;base64,`},
		{"augmentation preview", `augmentation preview`},
		{"one-hot table", `\[0 0 1 0 0\]`},
		{"ResNet50 totals", `Total params: 23,587,712`},
		{"head summary", `dense_2 \(Dense\)`},
		{"loss and accuracy curves", `class="flowers-line-chart".*?>val_loss<.*?class="flowers-line-chart".*?>val_accuracy<`},
		{"training lines", `Epoch 3/3 - `},
		{"confusion matrix", `class="flowers-confusion-matrix"`},
		{"prediction gallery", `predictions, \d+ mistakes \(red\)`},
		{"own-photo prediction", `class="flowers-bar-chart".*?>prediction<`},
		{"the banner of random weights", `class="banner"[^>]*>random ResNet50 weights`},
		{"the compile step of the first cell", `each cell starts in seconds`},
		{"the playground, headless", `widgets need a browser \(\$FLOWERS_HEADLESS=1\): trained once with the settings(&#39;|') values \(lr 1e-3 · 3 ep · b32 · avg\)`},
		{"the playground's curves", `class="flowers-playground-accuracy".*?data-name="#1 lr 1e-3 · 3 ep · b32 · avg".*?class="flowers-playground-loss"`},
		{"the playground's table", `<td[^>]*>#1</td>.*?<td[^>]*>done</td>`},
	} {
		if !regexp.MustCompile(`(?s)` + want.pattern).MatchString(text) {
			t.Errorf("%s: no %s in the outputs (pattern %q)", name, want.what, want.pattern)
		}
	}
}

// TestKernelProtocol runs jupyter_kernel_test (kernel_test.py) against the installed kernel.
func TestKernelProtocol(t *testing.T) {
	requireKernel(t)
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jupyter_kernel_test").Run(); err != nil {
		skipOrFail(t, "%s cannot import jupyter_kernel_test: sudo apt-get install python3-jupyter-kernel-test", python)
	}
	cmd := exec.Command(python, "-m", "unittest", "-v", "kernel_test")
	cmd.Dir = notebooksDir
	cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+dataDir, "FLOWERS_REPO="+repoRoot, "FLOWERS_KERNEL_NAME="+KernelName,
		"PYTHONDONTWRITEBYTECODE=1")
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
