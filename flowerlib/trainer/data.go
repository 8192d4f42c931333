package trainer

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train/loss"
)

// SparseCrossEntropy is Keras' categorical cross-entropy of the softmax, averaged over the
// batch, from the logits and int32 class indices [batch] (GoMLX's
// loss.SparseCategoricalCrossEntropyLogits, which wants labels [batch, 1]).
func SparseCrossEntropy(logits, labels *graph.Node) *graph.Node {
	return loss.SparseCategoricalCrossEntropyLogits([]*graph.Node{graph.InsertAxes(labels, -1)}, []*graph.Node{logits})
}

// Correct returns the number of examples whose arg-max equals the label, as a float32 scalar.
func Correct(logits, labels *graph.Node) *graph.Node {
	pred := graph.ArgMax(logits, -1, dtypes.Int32)
	hit := graph.Equal(pred, graph.ConvertDType(labels, dtypes.Int32))
	return graph.ReduceAllSum(graph.ConvertDType(hit, dtypes.Float32))
}

// ArrayData is in-memory Data: X holds Len() rows of Dims each, Y the labels.
type ArrayData struct {
	X    []float32
	Dims []int
	Y    []int32
}

func (a *ArrayData) Len() int          { return len(a.Y) }
func (a *ArrayData) Label(i int) int32 { return a.Y[i] }

// Inputs copies rows idx into a new tensor [len(idx), Dims...].
func (a *ArrayData) Inputs(idx []int, _ int) (*tensors.Tensor, error) {
	row := 1
	for _, d := range a.Dims {
		row *= d
	}
	t := tensors.FromShape(shapes.Make(dtypes.Float32, append([]int{len(idx)}, a.Dims...)...))
	tensors.MustMutableFlatData[float32](t, func(f []float32) {
		for i, j := range idx {
			copy(f[i*row:(i+1)*row], a.X[j*row:(j+1)*row])
		}
	})
	return t, nil
}
