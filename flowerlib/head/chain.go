package head

import (
	"github.com/gomlx/gomlx/core/graph"
)

// The ops between a head's layers, as Keras' model sees them (for exporting a head as Keras,
// ONNX or a layer list): in inference, between one recorded layer's output and the next one's
// input there is nothing (dropout is inactive), a ReLU (activation.Relu: max(x, 0)), or code
// a layer list cannot express.

// ReLU is Layer.Activation for activation.Relu after a layer.
const ReLU = "relu"

// markActivations sets each layer's Activation (the ReLU that follows it) or Unsupported (the
// other ops between it and the next layer: their types), from an inference graph of the
// head: layers are the ones built there, features its input and logits its output.
func markActivations(layers []Layer, features, logits *graph.Node) {
	prev := features
	for i := range layers {
		l := &layers[i]
		if l.In == nil || l.Out == nil {
			continue
		}
		if ops := between(l.In, prev); len(ops) > 0 {
			if i > 0 && len(ops) == 1 && ops[0] == ReLU {
				layers[i-1].Activation = ReLU
			} else {
				target := "the head's input"
				if i > 0 {
					target = layers[i-1].Type + " " + layers[i-1].Name
				}
				l.Unsupported = append(l.Unsupported, "before it, after "+target+": "+joinOps(ops))
			}
		}
		prev = l.Out
	}
	if len(layers) == 0 || prev == nil {
		return
	}
	if ops := between(logits, prev); len(ops) > 0 {
		last := &layers[len(layers)-1]
		last.Unsupported = append(last.Unsupported, "after it, before the logits: "+joinOps(ops))
	}
}

// between returns the ops on the way from `from` back to `to` (a single chain), naming a
// ReLU as ReLU and others by their type; nil when from is to.
func between(from, to *graph.Node) []string {
	var ops []string
	for n := from; n != to; {
		if isReLU(n) {
			ops = append(ops, ReLU)
			n = reluInput(n)
			continue
		}
		ins := nonConstant(n.Inputs())
		ops = append(ops, n.Type().String())
		if len(ins) != 1 {
			return ops // a join or a leaf: not a chain to `to`
		}
		n = ins[0]
	}
	return ops
}

// isReLU: max(x, broadcast 0), as activation.Relu builds it.
func isReLU(n *graph.Node) bool {
	if n.Type() != graph.NodeTypeMax || len(n.Inputs()) != 2 {
		return false
	}
	return isZero(n.Inputs()[1]) || isZero(n.Inputs()[0])
}

func reluInput(n *graph.Node) *graph.Node {
	if isZero(n.Inputs()[1]) {
		return n.Inputs()[0]
	}
	return n.Inputs()[1]
}

// isZero: a constant 0, possibly broadcast.
func isZero(n *graph.Node) bool {
	for n.Type() == graph.NodeTypeBroadcastInDim || n.Type() == graph.NodeTypeReshape {
		n = n.Inputs()[0]
	}
	c := n.ConstantValue()
	if c == nil || c.Shape().Size() != 1 {
		return false
	}
	zero := true
	_ = c.ConstBytes(func(b []byte) {
		for _, x := range b {
			zero = zero && x == 0
		}
	})
	return zero
}

func nonConstant(ns []*graph.Node) []*graph.Node {
	var out []*graph.Node
	for _, n := range ns {
		if !n.IsConstantExpression() {
			out = append(out, n)
		}
	}
	return out
}

func joinOps(ops []string) string {
	s := ""
	for i, o := range ops {
		if i > 0 {
			s += ", "
		}
		s += o
	}
	return s
}
