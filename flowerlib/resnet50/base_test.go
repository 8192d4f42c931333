package resnet50

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// keras.applications.resnet50.preprocess_input: RGB→BGR, minus [103.939, 116.779, 123.68].
func TestPreprocess(t *testing.T) {
	x := []float32{10, 20, 30, 255, 0, 128} // two RGB pixels
	out := graph.MustExecOnce(goBackend(t), Preprocess, tensors.FromFlatDataAndDimensions(x, 1, 1, 2, 3))
	got := tensors.MustCopyFlatData[float32](out)
	want := []float64{30 - 103.939, 20 - 116.779, 10 - 123.68, 128 - 103.939, 0 - 116.779, 255 - 123.68}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-5 {
			t.Errorf("value %d: got %g, want %g", i, got[i], want[i])
		}
	}
}

func TestExtractorShapesAndWarning(t *testing.T) {
	var log strings.Builder
	ex, err := NewBase(goBackend(t), testWeights, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	ex.Log = &log
	x := randomImages(5, 2, 40, 64)
	out, err := ex.Extract(tensors.FromFlatDataAndDimensions(x, 2, 40, 64, 3))
	if err != nil {
		t.Fatal(err)
	}
	want := ex.OutputShape(2, 40, 64)
	if got := out.Shape().Dimensions; !slices.Equal(got, want) || !slices.Equal(want, []int{2, 2, 2, 2048}) {
		t.Errorf("output %v, OutputShape %v, want [2 2 2 2048]", got, want)
	}
	if log.Len() != 0 {
		t.Errorf("warned on 0..255 input: %s", log.String())
	}
	// Rescaled by 1/255 as in the seed: one warning, however many batches.
	for i := range x {
		x[i] /= 255
	}
	for range 2 {
		if _, err := ex.ExtractFloats(x, 2, 40, 64); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(log.String(), "WARNING"); n != 1 || !strings.Contains(log.String(), "expect RGB 0..255") {
		t.Errorf("want one warning about 0..1 input, got %d:\n%s", n, log.String())
	}
	if !LooksUnitRange(x) || LooksUnitRange([]float32{0, 3}) {
		t.Error("LooksUnitRange")
	}
	// Bad input: clear errors, no panic.
	if _, err := ex.ExtractFloats(x[:10], 2, 40, 64); err == nil || !strings.Contains(err.Error(), "is not 2 images of 40×64×3") {
		t.Errorf("short input: %v", err)
	}
	if _, err := ex.Extract(tensors.FromFlatDataAndDimensions(make([]float32, 16*16*3), 1, 16, 16, 3)); err == nil || !strings.Contains(err.Error(), "at least 32×32") {
		t.Errorf("16×16 input: %v", err)
	}
	if _, err := NewBase(goBackend(t), RandomWeights(1, false), Options{IncludeTop: true}); err == nil || !strings.Contains(err.Error(), "predictions/kernel") {
		t.Errorf("top with no-top weights: %v", err)
	}
}

// BenchmarkForward measures the frozen base (avg pooling) at 224², batch 32, on the go
// backend: GOEXPERIMENT=simd go test -run XXX -bench Forward -benchtime 1x ./flowerlib/resnet50/
func BenchmarkForward(b *testing.B) {
	const batch, size = 32, DefaultSize
	ex, err := NewBase(goBackend(b), RandomWeights(1, false), Options{Pooling: PoolingAvg})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Finalize()
	x := tensors.FromFlatDataAndDimensions(randomImages(1, batch, size, size), batch, size, size, 3)
	warm, err := ex.Extract(x) // compiles
	if err != nil {
		b.Fatal(err)
	}
	warm.MustFinalizeAll()
	b.ResetTimer()
	for b.Loop() {
		out, err := ex.Extract(x)
		if err != nil {
			b.Fatal(err)
		}
		out.MustFinalizeAll()
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "images/s")
}

// TestStageOutputs: one pass returns the pooled outputs of the four stages, concatenated, and
// the last slice equals the plain pooled model's output.
func TestStageOutputs(t *testing.T) {
	b := goBackend(t)
	w := RandomWeights(5, false)
	pix := make([]float32, 2*64*64*3)
	for i := range pix {
		pix[i] = float32(i % 251)
	}
	stages, err := NewBase(b, w, Options{Pooling: PoolingAvg, Outputs: StageOutputs})
	if err != nil {
		t.Fatal(err)
	}
	defer stages.Finalize()
	got, err := stages.ExtractFloats(pix, 2, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	if s := stages.OutputShape(2, 64, 64); len(s) != 2 || s[1] != 256+512+1024+2048 || len(got) != 2*s[1] {
		t.Fatalf("shape %v for %d values", s, len(got))
	}
	plain, err := NewBase(b, w, Options{Pooling: PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Finalize()
	last, err := plain.ExtractFloats(pix, 2, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		for k := range 2048 {
			if a, b := got[i*3840+1792+k], last[i*2048+k]; math.Abs(float64(a-b)) > 1e-5*math.Max(1, math.Abs(float64(b))) {
				t.Fatalf("example %d channel %d: stage output %g, model output %g", i, k, a, b)
			}
		}
	}
	if _, err := NewBase(b, w, Options{Pooling: PoolingAvg, Outputs: []string{"conv9_out"}}); err == nil {
		t.Error("an unknown layer was accepted")
	}
	if _, err := NewBase(b, w, Options{Outputs: StageOutputs}); err == nil {
		t.Error("stage outputs without pooling were accepted")
	}
}
