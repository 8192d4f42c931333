package kernel_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"
)

// lock is the CI's lock, which also pins flowers' own JupyterLab environment.
var lock = filepath.Join(kernelDir, "..", ".ci", "requirements-test.txt")

// labEnv returns a complete JupyterLab environment made by install.sh: the one at
// $FLOWERS_JUPYTERLAB_DIR or at the default place (~/.local/share/flowers/jupyterlab) when
// complete — .ci/run makes it, and so does a user's main command — else (slow: pip downloads
// JupyterLab) a new one in a temporary folder, made by install.sh as a user's first run does.
func labEnv(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("FLOWERS_JUPYTERLAB_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".local", "share", "flowers", "jupyterlab")
	}
	if _, err := os.Stat(filepath.Join(dir, ".flowers-complete")); err == nil {
		return dir
	}
	testdata.Slow(t, "makes JupyterLab's environment with pip, from PyPI")
	requireTools(t)
	dir = filepath.Join(t.TempDir(), "jupyterlab")
	cmd := exec.Command("bash", script)
	cmd.Env = append(withoutLab(t), "JUPYTER=", "FLOWERS_JUPYTERLAB_DIR="+dir, "JUPYTER_DATA_DIR="+t.TempDir())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh making JupyterLab's environment: %v\n%s", err, out)
	}
	t.Logf("install.sh made %s in %.0fs", dir, time.Since(start).Seconds())
	return dir
}

// startLab runs kernel/lab.sh with the environment on a free port (stopped when the test ends)
// and returns the address of the walkthrough it prints, and a function returning its output.
func startLab(t *testing.T, env []string) (url string, logText func() string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	lab := exec.Command("bash", labScript, "--", "--no-browser", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
	lab.Env = env
	lab.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := lab.StderrPipe()
	lab.Stdout = lab.Stderr
	if err := lab.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-lab.Process.Pid, syscall.SIGTERM)
		_ = lab.Wait()
	})
	addr, exited := make(chan string, 1), make(chan struct{})
	var (
		mu  sync.Mutex
		log strings.Builder
	)
	logText = func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if a, ok := strings.CutPrefix(sc.Text(), "kernel/lab.sh: the walkthrough is at "); ok {
				addr <- a
			}
		}
		close(exited) // the server's output ended: it stopped
	}()
	select {
	case url = <-addr:
	case <-exited:
		t.Fatalf("lab.sh stopped before printing the walkthrough's address:\n%s", logText())
	case <-time.After(90 * time.Second):
		t.Fatalf("lab.sh printed no address of the walkthrough within 90s:\n%s", logText())
	}
	return url, logText
}

// goEnv returns NAME=`go env NAME`.
func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return name + "=" + strings.TrimSpace(string(out))
}

// pins returns the lock's name==version lines, by lower-case name.
func pins(t *testing.T, text string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if name, version, ok := strings.Cut(l, "=="); ok && !strings.HasPrefix(l, "#") {
			out[strings.ToLower(name)] = version
		}
	}
	return out
}

// TestJupyterLabEnvironment checks flowers' own JupyterLab environment: JupyterLab at the lock's
// version, every package at the lock's version, and a second install.sh reuses it (no pip) and
// registers the kernel with it.
func TestJupyterLabEnvironment(t *testing.T) {
	dir := labEnv(t)
	lockData, err := os.ReadFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	want := pins(t, string(lockData))
	out, err := exec.Command(filepath.Join(dir, "bin", "jupyter"), "lab", "--version").Output()
	if v := strings.TrimSpace(string(out)); err != nil || v != want["jupyterlab"] {
		t.Errorf("%s/bin/jupyter lab --version = %q (%v), want the lock's %s", dir, v, err, want["jupyterlab"])
	}
	frozen, err := exec.Command(filepath.Join(dir, "bin", "python"), "-m", "pip", "freeze", "--disable-pip-version-check").Output()
	if err != nil {
		t.Fatalf("pip freeze: %v", err)
	}
	got := pins(t, string(frozen))
	for name, v := range got {
		if want[name] != v {
			t.Errorf("%s==%s in %s: the lock has %q", name, v, dir, want[name])
		}
	}
	if len(got) < 50 {
		t.Errorf("only %d packages in %s: %v", len(got), dir, got)
	}

	requireTools(t)
	data := t.TempDir()
	cmd := exec.Command("bash", script)
	cmd.Env = append(withoutLab(t), "JUPYTER=", "FLOWERS_JUPYTERLAB_DIR="+dir, "JUPYTER_DATA_DIR="+data)
	start := time.Now()
	second, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh again: %v\n%s", err, second)
	}
	for _, want := range []string{"JupyterLab " + want["jupyterlab"] + ": " + dir + " (flowers' own environment, reused)",
		"Jupyter: " + filepath.Join(dir, "bin", "jupyter"), "open the walkthrough with: bash kernel/lab.sh"} {
		if !strings.Contains(string(second), want) {
			t.Errorf("the second install.sh does not say %q:\n%s", want, second)
		}
	}
	t.Logf("second install.sh: %.1fs", time.Since(start).Seconds())
	list := exec.Command(filepath.Join(dir, "bin", "jupyter"), "kernelspec", "list")
	list.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+data)
	if out, err := list.CombinedOutput(); err != nil || !regexp.MustCompile(`(?m)^\s*flowers-gonb\s`).Match(out) {
		t.Errorf("JupyterLab does not list the kernel flowers-gonb (%v):\n%s", err, out)
	}
}

// TestLabOpensWalkthrough runs kernel/lab.sh (the README's second half of the main command) on
// flowers' JupyterLab environment, with the kernel registered, and checks what it serves: the
// notebooks folder, the walkthrough at the address it prints, the kernel the notebooks ask for.
func TestLabOpensWalkthrough(t *testing.T) {
	dir := labEnv(t)
	requireTools(t)
	home := t.TempDir()
	data := filepath.Join(home, "data")
	// A HOME of its own (nothing written in the user's); Go keeps its folders.
	env := append(withoutLab(t), goEnv(t, "GOPATH"), goEnv(t, "GOCACHE"), goEnv(t, "GOMODCACHE"),
		"JUPYTER=", "FLOWERS_JUPYTERLAB_DIR="+dir, "JUPYTER_DATA_DIR="+data, "HOME="+home,
		"JUPYTER_RUNTIME_DIR="+filepath.Join(home, "runtime"), "JUPYTER_CONFIG_DIR="+filepath.Join(home, "config"),
		"IPYTHONDIR="+filepath.Join(home, "ipython"), "JUPYTERLAB_WORKSPACES_DIR="+filepath.Join(home, "workspaces"))
	install := exec.Command("bash", script)
	install.Env = env
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	url, logText := startLab(t, env)
	m := regexp.MustCompile(`^(http://[^/]+/)lab/tree/flowers\.ipynb\?token=(\w+)$`).FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("the walkthrough's address %q is not http://HOST/lab/tree/flowers.ipynb?token=…", url)
	}
	get := func(path string, v any) {
		t.Helper()
		req, _ := http.NewRequest("GET", m[1]+path, nil)
		req.Header.Set("Authorization", "token "+m[2])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var nb struct {
		Type    string `json:"type"`
		Content struct {
			Metadata struct {
				Kernelspec struct{ Name string } `json:"kernelspec"`
			} `json:"metadata"`
		} `json:"content"`
	}
	get("api/contents/flowers.ipynb", &nb)
	if nb.Type != "notebook" || nb.Content.Metadata.Kernelspec.Name != "flowers-gonb" {
		t.Errorf("api/contents/flowers.ipynb: type %q, kernel %q", nb.Type, nb.Content.Metadata.Kernelspec.Name)
	}
	var specs struct {
		Kernelspecs map[string]json.RawMessage `json:"kernelspecs"`
	}
	get("api/kernelspecs", &specs)
	if _, ok := specs.Kernelspecs["flowers-gonb"]; !ok {
		t.Errorf("the server does not offer the kernel flowers-gonb: %v", specs.Kernelspecs)
	}
	if !strings.Contains(logText(), "kernel/lab.sh: JupyterLab ") {
		t.Errorf("lab.sh does not say which JupyterLab it opens:\n%s", logText())
	}
}

// TestLabNeedsTheKernel: lab.sh refuses to open the walkthrough where the kernel the notebooks
// ask for is not registered, and says what to run.
func TestLabNeedsTheKernel(t *testing.T) {
	if _, err := os.Stat("/usr/bin/jupyter"); err != nil {
		testdata.Need(t, "needs Debian's jupyter (bash kernel/install.sh --apt)")
	}
	home := t.TempDir()
	cmd := exec.Command("bash", labScript, "--notebook")
	cmd.Env = append(os.Environ(), "HOME="+home, "JUPYTER=", "JUPYTER_DATA_DIR="+filepath.Join(home, "data"),
		"JUPYTER_PATH=", "XDG_DATA_HOME="+filepath.Join(home, "share"))
	out, err := cmd.CombinedOutput()
	want := "kernel/lab.sh: the kernel flowers-gonb is not registered with /usr/bin/jupyter: run bash kernel/install.sh --notebook first"
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("lab.sh --notebook without the kernel: %v, output:\n%s\nwant %q", err, out, want)
	}
}
