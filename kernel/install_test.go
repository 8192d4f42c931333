// Package kernel_test checks kernel/install.sh: its prerequisite messages and the
// kernelspec it writes (the notebook tests then use that kernel for real).
package kernel_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var (
	kernelDir = func() string {
		_, file, _, _ := runtime.Caller(0)
		return filepath.Dir(file)
	}()
	script    = filepath.Join(kernelDir, "install.sh")
	labScript = filepath.Join(kernelDir, "lab.sh")
)

func TestMissingJupyterSaysWhatToInstall(t *testing.T) {
	cmd := exec.Command("bash", script, "--check")
	cmd.Env = append(os.Environ(), "JUPYTER=/nonexistent/jupyter")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("install.sh --check succeeded without Jupyter:\n%s", out)
	}
	for _, want := range []string{
		"MISSING: $JUPYTER=/nonexistent/jupyter is not a program: point it at a jupyter command, or unset it (JupyterLab 4 is then found, or made: bash kernel/install.sh --apt).",
		"prerequisites missing",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestNoPythonForJupyterLab: with no JupyterLab 4 on PATH and no Python to make one, --check
// says what to install, and the two ways around it.
func TestNoPythonForJupyterLab(t *testing.T) {
	cmd := exec.Command("bash", script, "--check")
	cmd.Env = append(withoutLab(t), "JUPYTER=", "FLOWERS_JUPYTERLAB_DIR="+filepath.Join(t.TempDir(), "lab"),
		"FLOWERS_LAB_PYTHON=/nonexistent/python3")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("install.sh --check succeeded without Python:\n%s", out)
	}
	for _, want := range []string{
		"MISSING: Python ≥ 3.11 for flowers' own JupyterLab 4 environment; /nonexistent/python3 is not there.",
		"sudo apt-get install -y python3 python3-venv (or bash kernel/install.sh --apt)",
		"or use classic Notebook: --notebook",
		"prerequisites missing",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestJupyterLabFolderNotOurs: a folder at the environment's place that install.sh did not
// make is never removed or overwritten.
func TestJupyterLabFolderNotOurs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "my-notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(withoutLab(t), "JUPYTER=", "FLOWERS_JUPYTERLAB_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("install.sh succeeded over a folder it did not make:\n%s", out)
	}
	want := "MISSING: JupyterLab 4. " + dir + " exists but was not made by kernel/install.sh: move it away or set FLOWERS_JUPYTERLAB_DIR to another folder."
	if !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if data, err := os.ReadFile(mine); err != nil || string(data) != "mine" {
		t.Errorf("%s was touched: %q, %v", mine, data, err)
	}
}

// withoutLab is the environment with a PATH on which no JupyterLab 4 is found (Go and the
// system's programs only), so that install.sh turns to its own environment.
func withoutLab(t *testing.T) []string {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	path := filepath.Dir(goBin) + ":/usr/bin:/bin"
	for _, j := range []string{"/usr/bin/jupyter"} {
		if out, err := exec.Command(j, "lab", "--version").Output(); err == nil && strings.HasPrefix(string(out), "4.") {
			t.Skipf("%s has JupyterLab %s: install.sh uses it", j, out)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+path)
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--name", "bad name"}} {
		out, err := exec.Command("bash", append([]string{script}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "kernel/install.sh: ") {
			t.Errorf("install.sh %q: err %v, output %q", args, err, out)
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"no-such.ipynb"}} {
		out, err := exec.Command("bash", append([]string{labScript}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "kernel/lab.sh: ") {
			t.Errorf("lab.sh %q: err %v, output %q", args, err, out)
		}
	}
	out, _ := exec.Command("bash", labScript, "no-such.ipynb").CombinedOutput()
	if !strings.Contains(string(out), "flowers.ipynb transfer_experiments.ipynb") {
		t.Errorf("lab.sh with an unknown notebook does not list the notebooks: %s", out)
	}
}

// TestKernelspec installs the kernelspec into a temporary JUPYTER_DATA_DIR when the pinned
// tools are already built in the default bin folder (building them takes minutes: the
// notebook tests and .ci/run do that), and checks kernel.json.
func TestKernelspec(t *testing.T) {
	bin := requireTools(t)
	data := t.TempDir()
	cmd := exec.Command("bash", script, "--name", "flowers-test", "--backend", "go")
	cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+data, "JUPYTER="+jupyter(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	} else if strings.Contains(string(out), "building ") {
		t.Errorf("a second install rebuilt a tool:\n%s", out)
	} else if want := "open the walkthrough with: JUPYTER=" + jupyter(t) + " bash kernel/lab.sh"; !strings.Contains(string(out), want) {
		t.Errorf("install.sh does not say how to open the walkthrough (%q):\n%s", want, out)
	}
	raw, err := os.ReadFile(filepath.Join(data, "kernels", "flowers-test", "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Argv        []string          `json:"argv"`
		DisplayName string            `json:"display_name"`
		Language    string            `json:"language"`
		Env         map[string]string `json:"env"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("kernel.json is not JSON: %v\n%s", err, raw)
	}
	if len(spec.Argv) != 3 || spec.Argv[0] != filepath.Join(bin, "gonb") || spec.Argv[1] != "--kernel" || spec.Argv[2] != "{connection_file}" {
		t.Errorf("argv %q", spec.Argv)
	}
	if spec.Language != "go" || spec.DisplayName != "Go (GoNB, flowers-test)" {
		t.Errorf("language %q, display name %q", spec.Language, spec.DisplayName)
	}
	if spec.Env["GOEXPERIMENT"] != "simd" || spec.Env["GOMLX_BACKEND"] != "go" {
		t.Errorf("env %v", spec.Env)
	}
	if p := spec.Env["PATH"]; !strings.HasPrefix(p, bin+":") || !strings.Contains(p, "/usr/bin") {
		t.Errorf("PATH %q must start with %s and keep the system folders", p, bin)
	}
}

// jupyter is the jupyter command the kernelspec tests register with ($JUPYTER, else Debian's):
// never the default, which would make JupyterLab's environment in the user's HOME.
func jupyter(t *testing.T) string {
	if j := os.Getenv("JUPYTER"); j != "" {
		return j
	}
	return "/usr/bin/jupyter"
}

// requireTools skips unless Jupyter and the pinned tools are there (building them takes
// minutes: the notebook tests and .ci/run do that) and returns their folder.
func requireTools(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/jupyter"); err != nil && os.Getenv("JUPYTER") == "" {
		t.Skip("no Jupyter: see TestMissingJupyterSaysWhatToInstall")
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Skip("no go command")
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin")
	if gobin, _ := exec.Command("go", "env", "GOBIN").Output(); strings.TrimSpace(string(gobin)) != "" {
		bin = strings.TrimSpace(string(gobin))
	}
	for _, tool := range []string{"gonb", "goimports", "gopls"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Skipf("%s not built yet in %s (bash kernel/install.sh builds it)", tool, bin)
		}
	}
	return bin
}

// TestXLAOffline runs `install.sh --xla` with GitHub unreachable (a proxy on a closed port, so
// it fails the same way on a machine with internet): the kernel is still installed, go-xla's
// installer error is shown, and one line says the notebooks run on the go backend and how to
// get the plugin.
func TestXLAOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cmd/flowers")
	}
	requireTools(t)
	data, lib := t.TempDir(), t.TempDir()
	cmd := exec.Command("bash", script, "--name", "flowers-test", "--xla")
	cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+data, "JUPYTER="+jupyter(t), "FLOWERS_XLA_LIBDIR="+lib,
		"PJRT_PLUGIN_LIBRARY_PATH="+filepath.Join(lib, "go-xla"), "GOMLX_BACKEND=",
		"HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh --xla failed although only the plugin download did: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "kernels", "flowers-test", "kernel.json")); err != nil {
		t.Errorf("no kernelspec after install.sh --xla: %v", err)
	}
	var hint []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "NOT installed") {
			hint = append(hint, l)
		}
	}
	for _, want := range []string{"go-xla's installer could not install the XLA CPU plugin into " + filepath.Join(lib, "go-xla"), "api.github.com"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(hint) != 1 || !strings.Contains(hint[0], "pure-Go backend") || !strings.Contains(hint[0], "install.sh --xla") {
		t.Errorf("want one line saying the go backend runs and how to retry, got %q in:\n%s", hint, out)
	}
}
