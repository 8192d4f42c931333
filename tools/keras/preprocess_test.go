package keras

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestPreprocessInput: flowerlib's resnet50.Preprocess (inside every Extractor) and
// keras.applications.resnet50.preprocess_input ('caffe' mode) of tf-keras and of Keras 3, on the
// same float32 pixels of the photos: identical to the last bit.
func TestPreprocessInput(t *testing.T) {
	o := runOracle(t)
	x := tensors.FromFlatDataAndDimensions(o.pixelsFloat(0, o.n()), o.n(), size, size, 3)
	out, err := graph.ExecOnce(testBackend(t), func(x *graph.Node) *graph.Node { return resnet50.Preprocess(x) }, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensors.CopyFlatData[float32](out)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pre_tfk.npy", "pre_k3.npy"} {
		shape, want := o.readNPY(t, name)
		if len(want) != len(got) {
			t.Fatalf("%s: shape %v, %d values; flowerlib %d", name, shape, len(want), len(got))
		}
		differ, maxDiff := 0, 0.0
		for i := range got {
			if got[i] != want[i] {
				differ++
				maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
			}
		}
		if differ > 0 {
			t.Errorf("%s: %d of %d values differ from flowerlib's (max %g): want identical", name, differ, len(got), maxDiff)
		} else {
			t.Logf("%s: all %d values identical to flowerlib's Preprocess", name, len(got))
		}
	}
}
