package conv_test

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/internal/testdata"
)

// samplePhotos returns n real photos (the 200-photo sample, else the embedded 50), a few from
// each class folder, in a fixed order.
func samplePhotos(t *testing.T, n int) []string {
	out := testdata.SomePhotos(t, n)
	if len(out) < n {
		t.Fatalf("only %d photos, want %d", len(out), n)
	}
	return out
}

// samplePixels returns n sample photos (samplePhotos') loaded at size×size.
func samplePixels(t *testing.T, n, size int) []float32 {
	t.Helper()
	pixels, _, failures, err := images.LoadAll(samplePhotos(t, n), size, nil)
	if err != nil || len(failures) > 0 {
		t.Fatalf("loading sample photos: %v %v", err, failures)
	}
	return pixels
}

// features runs flowerlib's frozen ResNet50 (random weights, avg pooling) in the given mode.
func features(t *testing.T, mode conv.Mode, bf16 bool, pixels []float32, n, size int) []float32 {
	t.Helper()
	prevMode, prevBF16 := conv.SetMode(mode), conv.SetBFloat16(bf16)
	defer func() { conv.SetMode(prevMode); conv.SetBFloat16(prevBF16) }()
	return extract(t, "go", pixels, n, size)
}

// extract runs flowerlib's frozen ResNet50 (random weights, avg pooling) on the backend
// named backendName in the current mode.
func extract(t *testing.T, backendName string, pixels []float32, n, size int) []float32 {
	t.Helper()
	b, err := backend.New(backendName, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := resnet50.NewBase(b, resnet50.RandomWeights(7, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.ExtractFloats(pixels, n, size, size)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// maxRelPerImage returns the largest, over images, of max|got−want| / max|want| per 2048-d row.
func maxRelPerImage(got, want []float32, n int) float64 {
	d := len(want) / n
	var worst float64
	for i := range n {
		var diff, ref float64
		for j := i * d; j < (i+1)*d; j++ {
			diff = max(diff, math.Abs(float64(got[j])-float64(want[j])))
			ref = max(ref, math.Abs(float64(want[j])))
		}
		worst = max(worst, diff/ref)
	}
	return worst
}

// TestResNet50FastMatchesNative: flowerlib's whole ResNet50 on real sample photos gives the
// same pooled features through the fast path as through graph.Convolve (the reference),
// within 1e-4 relative per image. Small images: the reference path is slow on the go backend.
func TestResNet50FastMatchesNative(t *testing.T) {
	if testing.Short() {
		t.Skip("the native (graph.Convolve) ResNet50 takes ~10 s")
	}
	const n, size = 4, 64
	pixels := samplePixels(t, n, size)
	want := features(t, conv.Native, false, pixels, n, size)
	got := features(t, conv.Fast, false, pixels, n, size)
	if len(got) != n*resnet50.FeatureChannels {
		t.Fatalf("got %d features, want %d", len(got), n*resnet50.FeatureChannels)
	}
	d := maxRelPerImage(got, want, n)
	t.Logf("%d photos at %d²: fast vs native pooled features, max relative difference %.3g", n, size, d)
	if d > 1e-4 {
		t.Fatalf("fast path differs from graph.Convolve by %.3g relative (> 1e-4)", d)
	}
}

// TestResNet50BFloat16Cost measures the accuracy cost of the bf16 option on real photos at
// 224² (fast path both ways), and checks it stays a rounding-level difference.
func TestResNet50BFloat16Cost(t *testing.T) {
	testdata.Slow(t, "two ResNet50 forwards at 224², bf16 emulated without AVX-512")
	if testing.Short() {
		t.Skip("two ResNet50 forwards at 224²")
	}
	const n, size = 4, 224
	pixels := samplePixels(t, n, size)
	f32 := features(t, conv.Fast, false, pixels, n, size)
	bf := features(t, conv.Fast, true, pixels, n, size)
	d := maxRelPerImage(bf, f32, n)
	// Cosine similarity: what a classifier head on the features sees.
	minCos := 1.0
	for i := range n {
		var dot, a, b float64
		for j := i * 2048; j < (i+1)*2048; j++ {
			dot += float64(bf[j]) * float64(f32[j])
			a += float64(bf[j]) * float64(bf[j])
			b += float64(f32[j]) * float64(f32[j])
		}
		minCos = min(minCos, dot/math.Sqrt(a*b))
	}
	t.Logf("bf16 vs float32 pooled features, %d photos at 224²: max relative difference %.3g, min cosine %.6f", n, d, minCos)
	if d == 0 || d > 0.1 || minCos < 0.999 {
		t.Fatalf("bf16 cost out of the expected range: relative %.3g, cosine %.6f", d, minCos)
	}
}
