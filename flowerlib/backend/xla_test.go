package backend

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests below that depend on where go-xla searches for plugins run in a child process:
// go-xla reads $PJRT_PLUGIN_LIBRARY_PATH once, at start-up.
const helperEnv = "FLOWERS_BACKEND_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "auto":
		// Prints what the automatic choice does in this environment.
		b, err := New("", os.Stdout)
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(1)
		}
		if err := runSmallGraph(b); err != nil {
			os.Stdout.WriteString("graph error: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("chose " + Choose("") + "\n")
	case "install":
		dir, err := InstallXLA(os.Getenv("FLOWERS_TEST_LIBDIR"), os.Stdout)
		if err != nil {
			os.Stdout.WriteString("install error: " + err.Error() + "\n")
		}
		os.Stdout.WriteString("dir " + dir + "\n")
		os.Stdout.WriteString("chose " + Choose("") + "\n")
	}
	os.Exit(0)
}

// helper runs this test binary as a child with the given helper mode and extra environment.
func helper(t *testing.T, mode string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode, EnvVar + "="}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, out.String())
	}
	return out.String()
}

// cpuPlugin returns an XLA CPU PJRT plugin of this machine (the one .ci/venv.sh installs), or
// skips (fails with CI=true).
func cpuPlugin(t *testing.T) string {
	t.Helper()
	for _, dir := range strings.Split(os.Getenv("PJRT_PLUGIN_LIBRARY_PATH"), ":") {
		if m, _ := filepath.Glob(filepath.Join(dir, "pjrt_c_api_cpu*_plugin.so")); dir != "" && len(m) > 0 {
			return m[0]
		}
	}
	msg := "no XLA CPU plugin in $PJRT_PLUGIN_LIBRARY_PATH (source .ci/venv.sh, or flowers setup)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func TestAutoWithoutPluginsIsGoWithOneHintLine(t *testing.T) {
	out := helper(t, "auto", "PJRT_PLUGIN_LIBRARY_PATH="+t.TempDir())
	if !strings.Contains(out, "chose go\n") {
		t.Fatalf("without plugins the automatic choice is not go:\n%s", out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, "setup") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "GoMLX backend: go (") || !strings.HasSuffix(lines[0], SetupHint) {
		t.Fatalf("want exactly one line naming the backend and the setup command, got:\n%s", out)
	}
}

// TestAutoPicksInstalledCPUPlugin exposes the CPU plugin under the versioned name go-xla's
// installer gives it: the automatic choice must find it, start xla:cpu and run a graph.
func TestAutoPicksInstalledCPUPlugin(t *testing.T) {
	plugin := cpuPlugin(t)
	dir := t.TempDir()
	if err := os.Symlink(plugin, filepath.Join(dir, "pjrt_c_api_cpu_v0.114.0_plugin.so")); err != nil {
		t.Fatal(err)
	}
	out := helper(t, "auto", "PJRT_PLUGIN_LIBRARY_PATH="+dir)
	if !strings.Contains(out, "GoMLX backend: xla:cpu (") || !strings.Contains(out, "chose xla:cpu\n") || strings.Contains(out, "setup") {
		t.Fatalf("want xla:cpu picked and no setup hint, got:\n%s", out)
	}
}

// TestInstallXLAOffline runs go-xla's real installer with GitHub unreachable (a proxy on a
// closed port, so the test is the same on a machine with internet): a clear error naming the
// folder, the fallback and the offline way; no lock file left; the automatic choice stays go.
func TestInstallXLAOffline(t *testing.T) {
	home, lib := t.TempDir(), t.TempDir()
	out := helper(t, "install", "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"FLOWERS_TEST_LIBDIR="+lib, "PJRT_PLUGIN_LIBRARY_PATH="+filepath.Join(lib, "go-xla"),
		"HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	for _, want := range []string{
		"install error: ",
		"could not install the XLA CPU plugin into " + filepath.Join(lib, "go-xla"),
		`flowerlib keeps using the pure-Go backend "go"`,
		"export PJRT_PLUGIN_LIBRARY_PATH=",
		"chose go\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if locks, _ := filepath.Glob(filepath.Join(lib, "go-xla", "*.lock")); len(locks) > 0 {
		t.Errorf("a failed install left %v", locks)
	}
}

// TestCheckPluginRunsAGraph is what InstallXLA does after downloading: start the plugin by path.
func TestCheckPluginRunsAGraph(t *testing.T) {
	plugin := cpuPlugin(t)
	if err := checkPlugin(plugin); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(bad, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkPlugin(bad); err == nil || !strings.Contains(err.Error(), "does not work with go-xla") {
		t.Fatalf("a broken plugin file: want a clear error, got %v", err)
	}
}

func TestXLACPURuns(t *testing.T) {
	cpuPlugin(t)
	var out bytes.Buffer
	b, err := New("xla:cpu", &out)
	if err != nil {
		t.Fatal(err)
	}
	if IsGo(b) || !strings.Contains(out.String(), "GoMLX backend: xla:cpu") {
		t.Fatalf("xla:cpu: IsGo %v, reported %q", IsGo(b), out.String())
	}
	if err := runSmallGraph(b); err != nil {
		t.Fatal(err)
	}
}
