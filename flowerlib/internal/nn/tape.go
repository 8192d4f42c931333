package nn

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Tape records the Dense layers of a graph as it is built, for flowerlib/trainer's fused host
// step: each Dense's input, its matmul's output and its kernel, in the order they were built.
// Layers record themselves (RecordDense) only on graphs whose builder started a tape.
type Tape struct {
	Dense []TapedDense
}

// TapedDense is one Dense layer of a Tape: Y = In·Kernel.
type TapedDense struct {
	In, Y  *graph.Node
	Kernel *model.Variable
}

const tapeKey = "/flowers_nn_tape"

// StartTape starts recording the Dense layers built on g from now on.
func StartTape(g *graph.Graph) *Tape {
	t := &Tape{}
	model.SetGraphParam(g, tapeKey, t)
	return t
}

// RecordDense notes Y = In·kernel on in's graph, when a tape was started on it.
func RecordDense(in, y *graph.Node, kernel *model.Variable) {
	if t, ok := model.GetGraphParam(in.Graph(), tapeKey); ok {
		tp := t.(*Tape)
		tp.Dense = append(tp.Dense, TapedDense{In: in, Y: y, Kernel: kernel})
	}
}
