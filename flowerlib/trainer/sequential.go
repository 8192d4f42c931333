package trainer

import (
	"sort"

	"github.com/flowerlib/flowers/flowerlib/internal/nn"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// sequentialGradients is the host step's fast path for models that are a chain of Dense layers
// with anything between them (BatchNorm, activations, dropout): the article's head and any head
// written like it. It returns the loss's gradients with each Dense kernel's as two factors
// (Gradients.Outer: the layer's input and its output's gradient, which the host step fuses
// with the Adam update, never storing the gradient), or nil when the model is not such a chain
// (a skip connection, a kernel used twice, a variable between two segments): then autodiff.
//
// It equals autodiff of the loss. Backward, one segment (a Dense's matmul output → the next
// Dense's input, or the logits) at a time: autodiff of the segment's vector-Jacobian product
// ⟨next input, dx⟩ gives dy and the gradients of the segment's variables; the matmul's
// dx = dy·Wᵀ is an einsum laid out so that the go backend never transposes a kernel. GoMLX's
// generic matmul gradient transposes and writes the full gradient, which for the flatten head's
// 205M-weight kernel costs several times the matmuls themselves.
func sequentialGradients(x, loss *graph.Node, tape *nn.Tape, trainable []*model.Variable) *Gradients {
	dense := tape.Dense
	if len(dense) == 0 {
		return nil
	}
	g := x.Graph()
	kernels := map[*graph.Node]bool{}
	for _, d := range dense {
		kernels[d.Kernel.NodeValue(g)] = true
	}
	varOf := map[*graph.Node]*model.Variable{}
	for _, v := range trainable {
		varOf[v.NodeValue(g)] = v
	}
	// The chain's nodes that a segment must not reach except through its own Dense output.
	chain := map[*graph.Node]bool{x: true}
	for _, d := range dense {
		chain[d.In], chain[d.Y] = true, true
	}
	// segments[k+1] holds the variables of segment k: k = -1 before the first Dense.
	segments := make([][]*model.Variable, len(dense)+1)
	owner := map[*model.Variable]int{}
	for k := -1; k < len(dense); k++ {
		top, stop := loss, x
		if k+1 < len(dense) {
			top = dense[k+1].In
		}
		if k >= 0 {
			stop = dense[k].Y
		}
		reached, ok := ancestors(top, stop, chain, kernels)
		if !ok {
			return nil
		}
		for n := range reached {
			v := varOf[n]
			if v == nil || kernels[n] {
				continue
			}
			if _, dup := owner[v]; dup {
				return nil // a variable used in two segments
			}
			owner[v] = k
			segments[k+1] = append(segments[k+1], v)
		}
	}
	for _, v := range trainable {
		if _, ok := owner[v]; !ok && !kernels[v.NodeValue(g)] {
			return nil // used, but not on the chain (e.g. by the loss alone)
		}
	}
	return chainGradients(loss, dense, segments)
}

// ancestors returns the nodes top depends on, walking back from top and stopping at stop,
// and false when top reaches the chain (or a kernel) other than through stop, or does not
// reach stop at all.
func ancestors(top, stop *graph.Node, chain, kernels map[*graph.Node]bool) (map[*graph.Node]bool, bool) {
	seen := map[*graph.Node]bool{}
	found := false
	var walk func(n *graph.Node) bool
	walk = func(n *graph.Node) bool {
		if seen[n] {
			return true
		}
		seen[n] = true
		if n == stop {
			found = true
			return true
		}
		if n != top && chain[n] || kernels[n] {
			return false
		}
		for _, in := range n.Inputs() {
			if !walk(in) {
				return false
			}
		}
		return true
	}
	if !walk(top) || !found {
		return nil, false
	}
	return seen, true
}

// chainGradients computes the gradients segment by segment, last first (see
// sequentialGradients).
func chainGradients(loss *graph.Node, dense []nn.TapedDense, segments [][]*model.Variable) *Gradients {
	g := loss.Graph()
	byVar := map[*model.Variable]*graph.Node{}
	outer := map[*model.Variable][2]*graph.Node{}
	target := loss
	for k := len(dense) - 1; k >= -1; k-- {
		vars := segments[k+1]
		nodes := make([]*graph.Node, 0, len(vars)+1)
		if k >= 0 {
			nodes = append(nodes, dense[k].Y)
		}
		for _, v := range vars {
			nodes = append(nodes, v.NodeValue(g))
		}
		if len(nodes) == 0 {
			break
		}
		gs := graph.Gradient(target, nodes...)
		var dy *graph.Node
		if k >= 0 {
			dy, gs = gs[0], gs[1:]
		}
		for i, v := range vars {
			byVar[v] = gs[i]
		}
		if k < 0 {
			break
		}
		d := dense[k]
		outer[d.Kernel] = [2]*graph.Node{d.In, dy}
		if k > 0 || len(segments[0]) > 0 {
			dx := graph.Einsum("bh,dh->bd", dy, d.Kernel.NodeValue(g))
			target = graph.ReduceAllSum(graph.Mul(d.In, graph.StopGradient(dx)))
		}
	}
	r := &Gradients{Outer: map[int][2]*graph.Node{}}
	for v := range outer {
		byVar[v] = nil
	}
	for v := range byVar {
		r.Vars = append(r.Vars, v)
	}
	sort.Slice(r.Vars, func(i, j int) bool { return r.Vars[i].Path() < r.Vars[j].Path() })
	for i, v := range r.Vars {
		r.Grads = append(r.Grads, byVar[v])
		if ab, ok := outer[v]; ok {
			r.Outer[i] = ab
		}
	}
	return r
}
