//go:build amd64 && goexperiment.simd

package trainer

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestAdamPathFromCPUInfo checks that the host Adam takes the widest path the CPU has, read
// independently of Go's detection from /proc/cpuinfo: on an AVX2 machine without AVX-512
// (these build machines, most laptops) the 8-lane path, not the portable one.
func TestAdamPathFromCPUInfo(t *testing.T) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo (%v): the CPU's flags cannot be read independently", err)
	}
	var flags []string
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = strings.Fields(v)
			break
		}
	}
	if strings.Contains(os.Getenv("GODEBUG"), "cpu.") {
		t.Skipf("GODEBUG=%s changes Go's CPU detection: /proc/cpuinfo does not say what it hides", os.Getenv("GODEBUG"))
	}
	want := PathScalar
	switch {
	case slices.Contains(flags, "avx512f"):
		want = PathAVX512
	case slices.Contains(flags, "avx2") && slices.Contains(flags, "fma"):
		want = PathAVX2
	}
	if got := AdamVectorPath(); got != want {
		t.Errorf("AdamVectorPath() = %s, want %s (CPU flags: avx512f %v, avx2 %v, fma %v)", got, want,
			slices.Contains(flags, "avx512f"), slices.Contains(flags, "avx2"), slices.Contains(flags, "fma"))
	}
	t.Logf("host Adam path here: %s", want)
}
