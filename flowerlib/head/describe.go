package head

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Layer is one layer of a head as Describe finds it: a Keras-like row of its summary.
type Layer struct {
	Name         string         `json:"name"`             // its scope, Keras' name: "dense_1" ("" for layers without weights)
	Type         string         `json:"type"`             // Keras class: Dense, BatchNormalization, Flatten, …
	Output       []int          `json:"output"`           // per-example output dims
	Trainable    int            `json:"trainable_params"` // parameters trained
	NonTrainable int            `json:"non_trainable_params"`
	Config       map[string]any `json:"config,omitempty"` // Keras' arguments: units, kernel_initializer, …
	// Activation is the activation that follows the layer in inference ("relu", or "" for
	// none), as Keras' Dense(activation=…) says it; Unsupported lists other ops around the
	// layer that a layer list (Keras, ONNX, the exported executable) cannot express.
	Activation  string   `json:"activation,omitempty"`
	Unsupported []string `json:"unsupported,omitempty"`
	// In and Out are the layer's input and output in the graph it was built in (nil for
	// variables of other code: see Describe).
	In, Out *graph.Node `json:"-"`
}

// Description is a head described on the base's output of a given shape.
type Description struct {
	Input  []int   // per-example input dims
	Layers []Layer // in the order they were built
	// Fingerprint identifies the head's computation and initial values: the ops of its training
	// graph, their shapes and constants, its variables and initializers. A run folder trained
	// with one head refuses another.
	Fingerprint string
}

// Describe builds fn on features of the given per-example dims without creating any value
// (variables get their shapes only) and returns its layers and fingerprint. Variables of code
// other than this package's layers (GoMLX's layers.Dense, say) appear as one row per scope.
func Describe(b compute.Backend, fn Func, dims []int) (*Description, error) {
	store := model.NewStore()
	store.SetParam("/"+describingParam, true)
	layers, fp, err := build(b, store, fn, dims)
	if err != nil {
		return nil, err
	}
	if err := activations(b, fn, dims, layers); err != nil {
		return nil, err
	}
	return &Description{Input: dims, Layers: layers, Fingerprint: fp}, nil
}

// activations builds fn in inference mode and marks, on layers (the same layers built in
// training mode), the activation after each and what a layer list cannot express.
func activations(b compute.Backend, fn Func, dims []int, layers []Layer) error {
	store := model.NewStore()
	store.SetParam("/"+describingParam, true)
	g := graph.NewGraph(b, "head-inference")
	defer g.Finalize()
	return errors.WithMessage(exceptions.TryCatch[error](func() {
		store.SetTraining(g, false)
		x := graph.Parameter(g, "features", shapes.Make(dtypes.Float32, append([]int{1}, dims...)...))
		logits := fn(store.RootScope(), x)
		inference := graphRecord(g)
		markActivations(inference, x, logits)
		for i := range inference {
			if i < len(layers) && layers[i].Name == inference[i].Name && layers[i].Type == inference[i].Type {
				layers[i].Activation, layers[i].Unsupported = inference[i].Activation, inference[i].Unsupported
			}
		}
	}), "head (inference)")
}

// Classes is the number of logits the head gives.
func (d *Description) Classes() int {
	if len(d.Layers) == 0 {
		return 0
	}
	return d.Layers[len(d.Layers)-1].Output[len(d.Layers[len(d.Layers)-1].Output)-1]
}

// Params returns the trainable and non-trainable parameter counts, as Keras' summary counts
// them (BatchNorm's moving statistics are non-trainable).
func (d *Description) Params() (trainable, nonTrainable int) {
	for _, l := range d.Layers {
		trainable += l.Trainable
		nonTrainable += l.NonTrainable
	}
	return
}

// Summary is the head's table as Keras' model.summary() prints it: layer (type), output shape,
// parameters, then the totals.
func (d *Description) Summary() string {
	var b strings.Builder
	line := strings.Repeat("_", 72) + "\n"
	fmt.Fprintf(&b, "%s%-34s %-22s %12s\n%s", line, "Layer (type)", "Output Shape", "Param #", strings.Repeat("=", 72)+"\n")
	counts := map[string]int{}
	for _, l := range d.Layers {
		name := l.Name
		if name == "" { // layers without weights: Keras names them by their type
			base := strings.ToLower(l.Type)
			if l.Type == "GlobalAveragePooling2D" {
				base = "global_average_pooling2d"
			} else if l.Type == "GlobalMaxPooling2D" {
				base = "global_max_pooling2d"
			}
			name = base
			if n := counts[base]; n > 0 {
				name = fmt.Sprintf("%s_%d", base, n)
			}
			counts[base]++
		}
		out := "(None"
		for _, d := range l.Output {
			out += fmt.Sprintf(", %d", d)
		}
		fmt.Fprintf(&b, "%-34s %-22s %12d\n", fmt.Sprintf("%s (%s)", name, l.Type), out+")", l.Trainable+l.NonTrainable)
	}
	tr, nt := d.Params()
	fmt.Fprintf(&b, "%sTotal params: %d\nTrainable params: %d\nNon-trainable params: %d\n%s",
		strings.Repeat("=", 72)+"\n", tr+nt, tr, nt, line)
	return b.String()
}

// otherVariables returns a row per scope of the variables g uses that no layer of this package
// made (GoMLX layers, hand-made variables), with their parameter counts.
func otherVariables(store *model.Store, g *graph.Graph, known []Layer) []Layer {
	mine := map[string]bool{}
	for _, l := range known {
		if l.Name != "" {
			mine["/"+l.Name] = true
		}
	}
	byScope := map[string]*Layer{}
	var order []string
	for v := range store.IterVariables() {
		if !v.InUseByGraph(g) || mine[v.Scope()] || strings.HasPrefix(v.Path(), "/#") {
			continue
		}
		l := byScope[v.Scope()]
		if l == nil {
			l = &Layer{Name: strings.TrimPrefix(v.Scope(), "/"), Type: "(variables)"}
			byScope[v.Scope()] = l
			order = append(order, v.Scope())
		}
		if v.Trainable {
			l.Trainable += v.Shape().Size()
		} else {
			l.NonTrainable += v.Shape().Size()
		}
		l.Output = v.Shape().Dimensions
	}
	sort.Strings(order)
	out := make([]Layer, 0, len(order))
	for _, s := range order {
		out = append(out, *byScope[s])
	}
	return out
}

// fingerprint hashes the head's graph up to logits: each node's op, shape, inputs and (small)
// constants, the variables by path and shape, and the layers' initializers.
func fingerprint(g *graph.Graph, logits *graph.Node, layers []Layer) string {
	h := sha256.New()
	for _, n := range g.Nodes() {
		if n.Id() > logits.Id() {
			break
		}
		fmt.Fprintf(h, "%d %s %s [", n.Id(), n.Type(), n.Shape())
		for _, in := range n.Inputs() {
			fmt.Fprintf(h, "%d ", in.Id())
		}
		fmt.Fprint(h, "]")
		if n.Type() == graph.NodeTypeParameter {
			fmt.Fprint(h, n.GetParameterName())
		}
		if c := n.ConstantValue(); c != nil && c.Shape().Size() <= 1024 {
			_ = c.ConstBytes(func(b []byte) { h.Write(b) })
		}
		h.Write([]byte{'\n'})
	}
	for _, l := range layers {
		fmt.Fprintf(h, "%s %s %v\n", l.Name, l.Type, l.Config)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
