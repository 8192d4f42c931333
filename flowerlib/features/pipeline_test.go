package features

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// pipelinePhotos writes n generated PNGs (size×size, distinct colours) and, at position bad,
// a .png file that is not an image; it returns their paths in order.
func pipelinePhotos(t *testing.T, n, bad, size int) []string {
	dir := t.TempDir()
	var paths []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("img%02d.png", i))
		if i == bad {
			if err := os.WriteFile(p, []byte("not a picture"), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			writePNG(t, p, color.RGBA{uint8(20 * i), uint8(255 - 20*i), uint8(7 * i), 255}, size)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestExtractPipelineSameAsSequential: reading batches ahead (prefetchDepth 1, 2) gives the
// same rows, in the same order, with the same failures as reading each when the base asks (0).
func TestExtractPipelineSameAsSequential(t *testing.T) {
	ex, err := resnet50.NewBase(backend.MustNew("go", nil), resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	paths := pipelinePhotos(t, 8, 4, 40)
	run := func(depth int) (idx []int, rows []float32, fails []Failure) {
		saved := prefetchDepth
		prefetchDepth = depth
		defer func() { prefetchDepth = saved }()
		fails, err := Extract(ex, paths, Options{Size: 32, BatchSize: 3}, func(indices []int, feats []float32) error {
			idx, rows = append(idx, indices...), append(rows, feats...)
			return nil
		})
		if err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
		return idx, rows, fails
	}
	idx0, rows0, fails0 := run(0)
	if want := []int{0, 1, 2, 3, 5, 6, 7}; !slices.Equal(idx0, want) || len(rows0) != 7*2048 || len(fails0) != 1 || fails0[0].Index != 4 {
		t.Fatalf("sequential: indices %v (want %v), %d values, failures %+v", idx0, want, len(rows0), fails0)
	}
	for _, depth := range []int{1, 2} {
		idx, rows, fails := run(depth)
		if !slices.Equal(idx, idx0) || !slices.Equal(rows, rows0) || !slices.Equal(fails, fails0) {
			t.Errorf("depth %d: indices %v, failures %+v, rows equal %v; sequential: %v, %+v", depth, idx, fails, slices.Equal(rows, rows0), idx0, fails0)
		}
	}
}

// TestPrefetchReadsAhead: while the caller holds batch 1 (images 0–7), the pipeline decodes
// all of batch 2 (images 8–15); without it, images.Batches stops about 2×workers images ahead
// (its bounded queue), short of image 15.
func TestPrefetchReadsAhead(t *testing.T) {
	paths := pipelinePhotos(t, 24, -1, 16)
	for _, depth := range []int{0, 1} {
		var decoded [24]atomic.Bool
		it := images.NewBatches(paths, images.BatchOptions{Size: 16, BatchSize: 8, Workers: 2,
			Transform: func(i int, img *images.RGB, dst []float32) { img.Float32Into(dst); decoded[i].Store(true) }})
		next, stop := prefetchBatches(it, depth)
		if b := next(); b == nil || b.N != 8 {
			t.Fatalf("depth %d: first batch %+v", depth, b)
		}
		deadline := time.Now().Add(10 * time.Second)
		if depth == 0 {
			deadline = time.Now().Add(300 * time.Millisecond)
		}
		for !decoded[15].Load() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := decoded[15].Load(); got != (depth > 0) {
			t.Errorf("depth %d: image 15 decoded while batch 1 is held: %v, want %v", depth, got, depth > 0)
		}
		stop()
		it.Close()
	}
}

// TestExtractStopsOnError: an error from fn ends Extract with that error, the read-ahead
// goroutine stopped.
func TestExtractStopsOnError(t *testing.T) {
	ex, err := resnet50.NewBase(backend.MustNew("go", nil), resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	paths := pipelinePhotos(t, 12, -1, 24)
	boom := errors.New("disk full")
	calls := 0
	_, err = Extract(ex, paths, Options{Size: 32, BatchSize: 2}, func([]int, []float32) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("Extract = %v after %d calls, want %v after 1", err, calls, boom)
	}
}
