package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/export/exporttest"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestHeadGraphIsHeadLogits: the exported head's graph (from the layer list that
// export.HeadLayers makes of head.Describe's record) computes what the head function computes
// in inference, on the same variables, for the pooled and the Flatten heads with dropout: the
// two definitions cannot drift apart unnoticed.
func TestHeadGraphIsHeadLogits(t *testing.T) {
	b, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fn   head.Func
		dims []int
	}{{head.Article(3, []int{16, 8}, 0.3), []int{2048}}, {head.Article(4, []int{8}, 0), []int{2, 2, 2048}}} {
		store := model.NewStore()
		recorded, err := head.Init(b, store, c.fn, c.dims)
		if err != nil {
			t.Fatal(err)
		}
		d, err := head.Describe(b, c.fn, c.dims)
		if err != nil {
			t.Fatal(err)
		}
		// Non-trivial BatchNorm statistics, so that the inference path is exercised.
		r := rand.New(rand.NewPCG(1, 2))
		for _, l := range recorded {
			if l.Type != "BatchNormalization" {
				continue
			}
			for _, n := range []string{"moving_mean", "moving_variance"} {
				v := store.RootScope().In("%s", l.Name).GetVariable(n)
				width := v.Shape().Dimensions[0]
				vals := make([]float32, width)
				for k := range vals {
					vals[k] = float32(0.5 + r.Float64())
				}
				v.SetValue(tensors.FromFlatDataAndDimensions(vals, width))
			}
		}
		read := func(path string) (export.Tensor, error) {
			v := store.GetVariable(path)
			data, err := tensors.CopyFlatData[float32](v.MustValue())
			return export.Tensor{Dims: v.Shape().Dimensions, Data: data}, err
		}
		layers, err := export.HeadLayers(learner.HeadInfo{Name: "article", Layers: d.Layers}, read)
		if err != nil {
			t.Fatal(err)
		}
		dims := append([]int{5}, c.dims...)
		n := 1
		for _, d := range dims {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		in := tensors.FromFlatDataAndDimensions(x, dims...)
		want := model.MustExecOnce(b, store, func(scope *model.Scope, f *graph.Node) *graph.Node {
			return graph.Softmax(c.fn(scope, f), -1)
		}, in)
		got := model.MustExecOnce(b, store, func(scope *model.Scope, f *graph.Node) *graph.Node {
			return HeadGraph(scope, f, layers)
		}, in)
		g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
		for i := range w {
			if math.Abs(float64(g[i]-w[i])) > 1e-6 {
				t.Fatalf("head on %v: probability %d is %g, the head function gives %g", c.dims, i, g[i], w[i])
			}
		}
	}
}

// samplePhotos returns the bytes of n of flowerlib/sample's embedded photos.
func samplePhotos(t *testing.T, n int) [][]byte {
	dir, err := sample.Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", "*.jpg"))
	if len(paths) < n {
		t.Fatalf("%d embedded photos, want %d", len(paths), n)
	}
	var out [][]byte
	for _, p := range paths[:n] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestServerBatches sends concurrent requests to a server that batches up to 4 photos: every
// answer equals the model run on that photo alone, and fewer model runs than requests happened.
func TestServerBatches(t *testing.T) {
	b, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := exporttest.Model(3, 32, resnet50.PoolingAvg, 16)
	p, err := NewPredictor(b, m)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	photos := samplePhotos(t, 10)
	s := NewServer(p, ServeOptions{MaxBatch: 4})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go s.Run(ctx, os.Stderr)
	var wg sync.WaitGroup
	answers := make([][]float64, len(photos))
	for i, ph := range photos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/predict?top=3", "image/jpeg", bytes.NewReader(ph))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var r Result
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
				t.Errorf("photo %d: %d %v", i, resp.StatusCode, err)
				return
			}
			probs := make([]float64, len(m.Classes))
			for _, g := range r.Top {
				for k, c := range m.Classes {
					if c == g.Class {
						probs[k] = g.Probability
					}
				}
			}
			answers[i] = probs
		}()
	}
	wg.Wait()
	informative := 0
	for i, ph := range photos {
		img, _, err := images.Decode(ph, "photo")
		if err != nil {
			t.Fatal(err)
		}
		alone, err := p.ExtractFloats(images.Resize(img, 32, 32).Float32(), 1, 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		for k := range alone {
			if math.Abs(float64(alone[k])-answers[i][k]) > 1e-5 {
				t.Errorf("photo %d, class %d: served %g, alone %g", i, k, answers[i][k], alone[k])
			}
		}
		if alone[0] > 0.01 && alone[0] < 0.99 {
			informative++
		}
	}
	if informative == 0 {
		t.Error("every probability is 0 or 1: the test model is too saturated to compare")
	}
	if nb := s.batches.Load(); nb >= int64(len(photos)) {
		t.Errorf("%d model runs for %d concurrent requests: no batching", nb, len(photos))
	} else {
		t.Logf("%d concurrent requests answered in %d model runs", len(photos), nb)
	}
}
