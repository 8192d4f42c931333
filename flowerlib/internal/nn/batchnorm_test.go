package nn

import (
	"math"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

const epsilon = 1.001e-5

// Keras' training-mode BatchNormalization on a small tensor, against a direct computation.
func TestBatchNormTraining(t *testing.T) {
	b := backend.MustNew("go", nil)
	store := model.NewStore()
	x := []float32{1, 2, 3, 4, 5, 7, -1, 0, 2, 2, 8, 1} // [2, 1, 3, 2]: channels 0 and 1
	exec := model.MustNewExec(b, store, func(scope *model.Scope, y *Node) *Node {
		mv := scope.VariableWithValue("moving_mean", []float32{0.5, -1})
		vv := scope.VariableWithValue("moving_variance", []float32{2, 0.5})
		gv := scope.VariableWithValue("gamma", []float32{1.5, 0.5})
		bv := scope.VariableWithValue("beta", []float32{0.1, -0.2})
		bn := BatchNorm{Gamma: gv, Beta: bv, MovingMean: mv, MovingVariance: vv, Epsilon: epsilon, Momentum: 0.99}
		out, _ := bn.Apply(y, true)
		return out
	})
	out := tensors.MustCopyFlatData[float32](exec.MustCall1(tensors.FromFlatDataAndDimensions(x, 2, 1, 3, 2)))
	gamma, beta := []float64{1.5, 0.5}, []float64{0.1, -0.2}
	oldMean, oldVar := []float64{0.5, -1}, []float64{2, 0.5}
	for c := range 2 {
		var mean, variance float64
		for i := c; i < len(x); i += 2 {
			mean += float64(x[i]) / 6
		}
		for i := c; i < len(x); i += 2 {
			variance += (float64(x[i]) - mean) * (float64(x[i]) - mean) / 6
		}
		for i := c; i < len(x); i += 2 {
			want := gamma[c]*(float64(x[i])-mean)/math.Sqrt(variance+epsilon) + beta[c]
			if math.Abs(float64(out[i])-want) > 1e-5 {
				t.Errorf("channel %d value %d: got %g, want %g", c, i/2, out[i], want)
			}
		}
		gotMean := tensors.MustCopyFlatData[float32](store.GetVariable("/moving_mean").MustValue())[c]
		gotVar := tensors.MustCopyFlatData[float32](store.GetVariable("/moving_variance").MustValue())[c]
		if want := 0.99*oldMean[c] + 0.01*mean; math.Abs(float64(gotMean)-want) > 1e-6 {
			t.Errorf("moving_mean[%d] = %g, want %g", c, gotMean, want)
		}
		if want := 0.99*oldVar[c] + 0.01*variance; math.Abs(float64(gotVar)-want) > 1e-6 {
			t.Errorf("moving_variance[%d] = %g, want %g", c, gotVar, want)
		}
	}
}
