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
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/sample"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestHeadGraphIsHeadLogits: the exported head's graph (from the layer list) computes what
// flowerlib/head computes in inference, on the same variables, for the pooled and the Flatten
// heads with dropout: the two definitions cannot drift apart unnoticed.
func TestHeadGraphIsHeadLogits(t *testing.T) {
	b, err := backend.New("go", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, hc := range []head.Config{{Kind: head.Avg, Classes: 3, Hidden: []int{16, 8}, Dropout: 0.3}, {Kind: head.Flatten, Classes: 4, Hidden: []int{8}, Grid: 2}} {
		store := model.NewStore()
		if err := head.Init(store.RootScope(), hc); err != nil {
			t.Fatal(err)
		}
		// Non-trivial BatchNorm statistics, so that the inference path is exercised.
		r := rand.New(rand.NewPCG(1, 2))
		var layers []export.Layer
		if hc.Kind == head.Flatten {
			layers = append(layers, export.Layer{Name: "flatten", Type: export.Flatten})
		}
		for i, l := range hc.Layers() {
			el := export.Layer{Name: l.Name, Type: export.Dense, Units: l.Out, Activation: export.ReLU}
			if l.BN {
				el = export.Layer{Name: l.Name, Type: export.BatchNormalization, Epsilon: head.BNEpsilon}
				for _, n := range []string{"moving_mean", "moving_variance"} {
					v := store.RootScope().In("%s", l.Name).GetVariable(n)
					vals := make([]float32, l.Out)
					for k := range vals {
						vals[k] = float32(0.5 + r.Float64())
					}
					v.SetValue(tensors.FromFlatDataAndDimensions(vals, l.Out))
				}
			} else if i == len(hc.Layers())-1 {
				el.Activation = export.Softmax
			}
			layers = append(layers, el)
		}
		dims := append([]int{5}, hc.InputDims()...)
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
			return graph.Softmax(head.Logits(scope, f, hc), -1)
		}, in)
		got := model.MustExecOnce(b, store, func(scope *model.Scope, f *graph.Node) *graph.Node {
			return HeadGraph(scope, f, layers)
		}, in)
		g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
		for i := range w {
			if math.Abs(float64(g[i]-w[i])) > 1e-6 {
				t.Fatalf("%s head: probability %d is %g, head.Logits gives %g", hc.Kind, i, g[i], w[i])
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
