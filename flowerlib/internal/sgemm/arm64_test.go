package sgemm

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/internal/testdata"
)

// TestNEONUnderQEMU runs this package's tests built for ARM64 under qemu-aarch64 (user-mode
// emulation of an ARMv8 CPU), so that the NEON kernel is checked on machines without one.
// It checks results, not speed.
func TestNEONUnderQEMU(t *testing.T) {
	if runtime.GOARCH == "arm64" {
		t.Skip("on ARM64 the NEON kernel is tested natively (TestApply)")
	}
	testdata.Slow(t, "cross-compiles the package's tests for ARM64 and runs them under qemu-aarch64")
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		testdata.Need(t, "qemu-aarch64 not found: apt-get install qemu-user (it runs the ARM64 NEON kernel's tests)")
	}
	bin := filepath.Join(t.TempDir(), "sgemm_arm64.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c for arm64: %v\n%s", err, out)
	}
	out, err := exec.Command(qemu, bin, "-test.v", "-test.run", "^TestApply").CombinedOutput()
	if err != nil {
		t.Fatalf("the ARM64 tests failed under %s: %v\n%s", qemu, err, out)
	}
	for _, want := range []string{"--- PASS: TestApply/neon/", "--- PASS: TestApply/go/"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in the ARM64 run:\n%s", want, out)
		}
	}
}
