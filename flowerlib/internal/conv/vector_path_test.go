//go:build amd64 && goexperiment.simd

package conv

import (
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestMatMulKernelFromCPUInfo checks which MatMul kernel the fast path's products run on here,
// by catching compute's kernel in the goroutine stacks while a convolution-sized MatMul
// runs, against the CPU's flags read from /proc/cpuinfo: AVX-512 machines the 16-lane kernel,
// AVX2 machines (these build machines) the 8-lane one, never the portable one.
func TestMatMulKernelFromCPUInfo(t *testing.T) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo (%v)", err)
	}
	if strings.Contains(os.Getenv("GODEBUG"), "cpu.") || os.Getenv("GOMLX_SIMD_AVX512") != "" || os.Getenv("GOMLX_SIMD_AVX2") != "" {
		t.Skip("GODEBUG cpu.* or GOMLX_SIMD_* set: the kernel is not the CPU's widest")
	}
	flags := strings.Fields(regexp.MustCompile(`(?m)^flags\s*:(.*)$`).FindStringSubmatch(string(data))[1])
	want := "nosimd"
	switch {
	case slices.Contains(flags, "avx512f"):
		want = "avx512"
	case slices.Contains(flags, "avx2"):
		want = "avx2"
	}
	exec := graph.MustNewExec(backend.MustNew("go", nil), func(a, b *graph.Node) *graph.Node { return graph.MatMul(a, b) })
	x := tensors.FromFlatDataAndDimensions(make([]float32, 3136*576), 3136, 576) // a 3×3 conv's patches at 56²
	k := tensors.FromFlatDataAndDimensions(make([]float32, 576*64), 576, 64)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				exec.MustExec(x, k)[0].FinalizeAll()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	kernel := regexp.MustCompile(`dot/matmul\.(avx512|avx2|nosimd|noSIMD)[A-Za-z0-9]*`)
	buf := make([]byte, 1<<20)
	seen := map[string]int{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && len(seen) == 0; time.Sleep(time.Millisecond) {
		for _, m := range kernel.FindAllStringSubmatch(string(buf[:runtime.Stack(buf, true)]), -1) {
			seen[strings.ToLower(m[1])]++
		}
	}
	if len(seen) == 0 {
		t.Fatal("no MatMul kernel seen in 20 s of goroutine stacks")
	}
	if seen[want] == 0 || len(seen) != 1 {
		t.Errorf("MatMul kernels seen %v, want only %s (CPU flags: avx512f %v, avx2 %v)", seen, want,
			slices.Contains(flags, "avx512f"), slices.Contains(flags, "avx2"))
	}
	t.Logf("MatMul kernel here: %v", seen)
}
