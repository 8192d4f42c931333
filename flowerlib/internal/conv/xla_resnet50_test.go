package conv_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/internal/conv"
)

// TestResNet50FastMatchesXLA: the whole ResNet50 on real sample photos at 224², flowerlib's
// fast path on the go backend (what `go` users run) against XLA's native convolutions on
// xla:cpu (what XLA users run): pooled features within 1e-4 relative per image.
func TestResNet50FastMatchesXLA(t *testing.T) {
	if testing.Short() {
		t.Skip("two ResNet50 forwards at 224²")
	}
	if !slices.ContainsFunc(backend.Plugins(), func(p string) bool { return p == "cpu" || strings.HasPrefix(p, "cpu_v") }) {
		if os.Getenv("CI") == "true" {
			t.Fatal("no XLA CPU PJRT plugin (source .ci/venv.sh)")
		}
		t.Skip("no XLA CPU PJRT plugin (flowers setup)")
	}
	const n, size = 4, 224
	pixels := samplePixels(t, n, size)
	run := func(name string, mode conv.Mode) []float32 {
		prev := conv.SetMode(mode)
		defer conv.SetMode(prev)
		return extract(t, name, pixels, n, size)
	}
	want := run("xla:cpu", conv.Auto) // Auto on XLA = graph.Convolve
	got := run("go", conv.Auto)       // Auto on go = the fast path
	d := maxRelPerImage(got, want, n)
	t.Logf("%d photos at %d²: go fast path vs xla:cpu native, pooled features, max relative difference %.3g", n, size, d)
	if d > 1e-4 {
		t.Fatalf("go fast path differs from XLA's convolution by %.3g relative (> 1e-4)", d)
	}
}
