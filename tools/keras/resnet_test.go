package keras

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

// resnetTolerance is the parity criterion with Keras' ResNet50: per photo, max|flowerlib − Keras|
// / max|Keras| over the photo's output (7×7×2048 map, 2048 pooled features or 1000 probabilities).
const resnetTolerance = 1e-5

// TestKerasLoadsFlowerlibWeights: tf-keras' keras.applications.ResNet50 loads the .h5 files
// flowerlib writes (load_weights, Keras' by-order rule) and its outputs on the photos equal
// flowerlib's with the same files within resnetTolerance: pooling none (the 7×7×2048 map) on all
// photos; avg, max and the top (probabilities) on the first 32 (see subset). Keras 3 loads
// flowerlib's Keras 3 .weights.h5 and its .h5 into the same weights bit for bit.
func TestKerasLoadsFlowerlibWeights(t *testing.T) {
	o := runOracle(t)
	for _, c := range []struct {
		name string
		file string
		opts resnet50.Options
		n    int
	}{
		{"none", "fl_notop.h5", resnet50.Options{}, o.n()},
		{"avg", "fl_notop.h5", resnet50.Options{Pooling: resnet50.PoolingAvg}, o.subset()},
		{"max", "fl_notop.h5", resnet50.Options{Pooling: resnet50.PoolingMax}, o.subset()},
		{"top", "fl_top.h5", resnet50.Options{IncludeTop: true}, o.subset()},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := weights.ReadH5(o.file(c.file))
			if err != nil {
				t.Fatal(err)
			}
			got := o.extract(t, w, c.opts, c.n)
			_, want := o.readNPY(t, "out_fl_"+c.name+".npy")
			worst, row := relDiff(t, c.name, got, want, c.n)
			t.Logf("pooling %s: worst photo %s differs by %.2g relative (limit %g)", c.name, o.paths[row], worst, resnetTolerance)
			if worst > resnetTolerance {
				t.Errorf("pooling %s: photo %s differs from Keras by %.3g relative > %g", c.name, o.paths[row], worst, resnetTolerance)
			}
		})
	}
	for _, name := range []string{"fl_top.weights.h5", "fl_top.h5"} {
		var r struct {
			Tensors        int      `json:"tensors"`
			TfKerasTensors int      `json:"tf_keras_tensors"`
			MaxAbsDiff     *float64 `json:"max_abs_diff"`
		}
		o.result(t, "keras3_loads_"+name, &r)
		if r.Tensors != 320 || r.TfKerasTensors != 320 || r.MaxAbsDiff == nil || *r.MaxAbsDiff != 0 {
			t.Errorf("Keras 3 loading flowerlib's %s: %+v (want 320 tensors equal to tf-keras', max_abs_diff 0)", name, r)
		} else {
			t.Logf("Keras 3 loads flowerlib's %s: %d tensors, equal to tf-keras' bit for bit", name, r.Tensors)
		}
	}
}

// hashes returns sha256 of each weight's float32 little-endian bytes, by ResNet50 layer name.
func hashes(w *weights.File) map[string][]string {
	out := map[string][]string{}
	for _, l := range w.Layers {
		for _, tn := range l.Weights {
			b := make([]byte, 4*len(tn.Data))
			for i, v := range tn.Data {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			s := sha256.Sum256(b)
			out[l.Name] = append(out[l.Name], hex.EncodeToString(s[:]))
		}
	}
	return out
}

// TestFlowerlibReadsKerasWeights: Keras writes its own random ResNet50 (tf-keras save_weights to
// a legacy .h5, Keras 3 to .weights.h5, with and without the top) and flowerlib reads every file
// into exactly the tensors Keras holds (by SHA-256 of each weight), with the top and, for the
// with-top files, without it too; on the first 32 photos, flowerlib's outputs with tf-keras'
// with-top file (probabilities) and Keras 3's no-top file (avg features) equal Keras' own.
func TestFlowerlibReadsKerasWeights(t *testing.T) {
	o := runOracle(t)
	files := map[string]bool{"tfk_top.h5": true, "tfk_notop.h5": false, "k3_top.weights.h5": true, "k3_notop.weights.h5": false}
	for _, name := range []string{"tfk_top.h5", "tfk_notop.h5", "k3_top.weights.h5", "k3_notop.weights.h5"} {
		hasTop := files[name]
		w, err := weights.ReadH5(o.file(name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(o.file("hashes_" + name + ".json"))
		if err != nil {
			t.Fatal(err)
		}
		var want map[string][]string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for _, top := range []bool{true, false} {
			if top && !hasTop {
				continue
			}
			mapped, rep, err := resnet50.MapWeights(w, top)
			if err != nil {
				t.Fatalf("%s, top=%v: %v", name, top, err)
			}
			got := hashes(mapped)
			n := 0
			for layer, hs := range got {
				if len(hs) == 0 {
					continue
				}
				n++
				if !slices.Equal(hs, want[layer]) {
					t.Errorf("%s, top=%v: layer %s holds other values than Keras' (%d tensors vs %d)", name, top, layer, len(hs), len(want[layer]))
				}
			}
			wantLayers := 106
			if top {
				wantLayers = 107
			}
			if n != wantLayers || rep.Layers != wantLayers {
				t.Errorf("%s, top=%v: %d layers with weights mapped (report %d), want %d", name, top, n, rep.Layers, wantLayers)
			}
			t.Logf("%s (%s), top=%v: %d layers equal to Keras'; notes %q", name, w.Format, top, n, rep.Notes())
		}
	}
	for _, c := range []struct {
		file, out string
		opts      resnet50.Options
	}{
		{"tfk_top.h5", "out_tfk_top.npy", resnet50.Options{IncludeTop: true}},
		{"k3_notop.weights.h5", "out_k3_avg.npy", resnet50.Options{Pooling: resnet50.PoolingAvg}},
	} {
		w, err := weights.ReadH5(o.file(c.file))
		if err != nil {
			t.Fatal(err)
		}
		got := o.extract(t, w, c.opts, o.subset())
		_, want := o.readNPY(t, c.out)
		worst, row := relDiff(t, c.file, got, want, o.subset())
		t.Logf("%s: worst photo %s differs by %.2g relative (limit %g)", c.file, o.paths[row], worst, resnetTolerance)
		if worst > resnetTolerance {
			t.Errorf("%s: photo %s differs from Keras by %.3g relative > %g", c.file, o.paths[row], worst, resnetTolerance)
		}
	}
}
