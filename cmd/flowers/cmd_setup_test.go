package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupOffline runs `flowers setup` (this test binary re-executed as the command) with
// GitHub unreachable: it must fail with the installer's error, say that the go backend keeps
// working and how to get the plugin offline, and the automatic backend must stay go.
func TestSetupOffline(t *testing.T) {
	if os.Getenv("FLOWERS_SETUP_CHILD") == "1" {
		if err := runSetup([]string{"-dir", os.Getenv("FLOWERS_TEST_LIBDIR")}); err != nil {
			os.Stdout.WriteString("flowers setup: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	home, lib := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetupOffline$")
	cmd.Env = append(os.Environ(), "FLOWERS_SETUP_CHILD=1", "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"FLOWERS_TEST_LIBDIR="+lib, "PJRT_PLUGIN_LIBRARY_PATH="+filepath.Join(lib, "go-xla"), "GOMLX_BACKEND=",
		"HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("flowers setup succeeded without network:\n%s", out)
	}
	for _, want := range []string{"flowers setup: go-xla's installer could not install the XLA CPU plugin", `pure-Go backend "go"`, "api.github.com"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSetupCheck(t *testing.T) {
	out, err := captureStdout(t, func() error { return runSetup([]string{"-check"}) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "flowerlib's automatic backend: ") {
		t.Fatalf("flowers setup -check printed %q", out)
	}
	if _, err := captureStdout(t, func() error { return runSetup([]string{"extra"}) }); err == nil {
		t.Error("flowers setup extra: no error")
	}
}
