package resnet50

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Base runs the frozen ResNet50 over batches of images: the transfer-learning feature
// extractor. The graph is compiled once per input shape and reused across batches.
// It is not safe for concurrent use.
type Base struct {
	backend compute.Backend
	store   *model.Store
	exec    *model.Exec
	opts    Options
	warn    sync.Once
	host    *hostNet // CPU backends' path (see useHost); nil runs exec
	// Log receives the one-time warning about 0..1 input; nil means os.Stderr.
	Log io.Writer
}

// NewBase loads w into a new Store and prepares the model described by opts, frozen
// (Frozen and TrainableFrom are overridden: BatchNorm uses its moving statistics). It fails, naming each tensor, when w does not match (see CheckWeights).
func NewBase(b compute.Backend, w *weights.File, opts Options) (*Base, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.Frozen, opts.TrainableFrom = true, ""
	e := &Base{backend: b, store: model.NewStore(), opts: opts}
	if err := checkOutputNames(opts); err != nil {
		return nil, err
	}
	onHost, err := useHost(b, opts)
	if err != nil {
		return nil, err
	}
	if onHost {
		// The host path keeps its own (folded, packed) copy of the weights; no graph.
		if e.host, err = newHostNet(w, opts); err != nil {
			return nil, err
		}
		return e, nil
	}
	// Variables are loaded now, so the graph function does not keep w (~94 MB) alive.
	if err := LoadIntoScope(e.store.RootScope().At(ExtractorScope), w, opts.IncludeTop); err != nil {
		return nil, err
	}
	e.exec, err = model.NewExec(b, e.store, func(scope *model.Scope, images *graph.Node) *graph.Node {
		b := BuildGraph(scope.In(ExtractorScope), images).With(opts)
		if opts.StopAt != "" {
			return b.DoneAt(opts.StopAt)[0]
		}
		if len(opts.Outputs) == 0 {
			return b.Done()
		}
		outs := b.DoneAt(slices.Clone(opts.Outputs)...)
		for i, o := range outs {
			if opts.Pooling == PoolingMax {
				outs[i] = graph.ReduceMax(o, 1, 2)
			} else {
				outs[i] = graph.ReduceMean(o, 1, 2)
			}
		}
		return graph.Concatenate(outs, 1)
	})
	if err != nil {
		return nil, errors.WithMessage(err, "resnet50.NewBase")
	}
	return e, nil
}

// OutputShape returns the shape of Extract's output for n images of the given size:
// [n, ceil(h/32), ceil(w/32), 2048] ([n, 7, 7, 2048] at 224²), [n, 2048] pooled, or
// [n, 1000] probabilities with the top, or StopAt's layer's output [n, h', w', c].
func (e *Base) OutputShape(n, height, width int) []int {
	if len(e.opts.Outputs) > 0 {
		c := 0
		for _, o := range e.opts.Outputs {
			c += OutputChannels(o)
		}
		return []int{n, c}
	}
	switch {
	case e.opts.StopAt != "":
		return append([]int{n}, layerShape(e.opts.StopAt, height, width)...)
	case e.opts.IncludeTop:
		return []int{n, NumClasses}
	case e.opts.Pooling != PoolingNone:
		return []int{n, FeatureChannels}
	}
	layers, err := Layers(Options{Height: height, Width: width})
	if err != nil {
		return nil
	}
	return append([]int{n}, layers[len(layers)-1].OutputShape...)
}

// Extract returns the features of batch, float32 [n, height, width, 3] RGB in 0..255 (not
// preprocessed: Preprocess runs inside). Input that looks like 0..1 (max ≤ 1 over the batch)
// gets a one-time warning on Log. The result is float32, see OutputShape.
func (e *Base) Extract(batch *tensors.Tensor) (*tensors.Tensor, error) {
	s := batch.Shape()
	if s.DType != dtypes.Float32 || s.Rank() != 4 || s.Dimensions[3] != 3 {
		return nil, errors.Errorf("resnet50.Base: batch must be float32 [n, height, width, 3] RGB 0..255, got %s", s)
	}
	if s.Dimensions[1] < MinSize || s.Dimensions[2] < MinSize {
		return nil, errors.Errorf("resnet50.Base: images must be at least %d×%d, got %s", MinSize, MinSize, s)
	}
	var maxValue float32
	err := batch.ConstFlatData(func(flat any) { maxValue = maxOf(flat.([]float32)) })
	if err != nil {
		return nil, errors.WithMessage(err, "resnet50.Base: reading the batch")
	}
	e.warnUnitRange(maxValue)
	var out *tensors.Tensor
	if e.host != nil {
		err = batch.ConstFlatData(func(flat any) {
			d := s.Dimensions
			feats := e.host.forward(flat.([]float32), d[0], d[1], d[2])
			out = tensors.FromFlatDataAndDimensions(feats, e.OutputShape(d[0], d[1], d[2])...)
		})
		return out, errors.WithMessage(err, "resnet50.Base")
	}
	err = exceptions.TryCatch[error](func() { out = e.exec.MustCall1(batch) })
	if err != nil {
		return nil, errors.WithMessage(err, "resnet50.Base")
	}
	return out, nil
}

// ExtractFloats is Extract on a flat float32 slice [n, height, width, 3] (RGB 0..255); it
// returns the features as a flat slice (see OutputShape).
func (e *Base) ExtractFloats(pixels []float32, n, height, width int) ([]float32, error) {
	if len(pixels) != n*height*width*3 {
		return nil, errors.Errorf("resnet50.Base: %d values is not %d images of %d×%d×3", len(pixels), n, height, width)
	}
	// One copy, straight into a backend buffer (shared memory on the go backend).
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(pixels))), 4*len(pixels))
	in, err := tensors.FromRaw(e.backend, 0, shapes.Make(dtypes.Float32, n, height, width, 3), raw)
	if err != nil {
		return nil, errors.WithMessage(err, "resnet50.Base")
	}
	defer in.MustFinalizeAll()
	out, err := e.Extract(in)
	if err != nil {
		return nil, err
	}
	defer out.MustFinalizeAll()
	return tensors.CopyFlatData[float32](out)
}

// warnUnitRange warns once when the batch looks like it was rescaled to 0..1.
func (e *Base) warnUnitRange(maxValue float32) {
	if maxValue > 1 {
		return
	}
	e.warn.Do(func() {
		w := e.Log
		if w == nil {
			w = os.Stderr
		}
		fmt.Fprintf(w, "resnet50: WARNING: input values are all ≤ 1 (max %g): it looks rescaled to 0..1, "+
			"as the article does with rescale=1/255. These ImageNet weights expect RGB 0..255 "+
			"(preprocess_input 'caffe' mode); drop the 1/255 rescaling.\n", maxValue)
	})
}

// LooksUnitRange reports whether pixel values look rescaled to 0..1 (all ≤ 1) rather than 0..255.
func LooksUnitRange(pixels []float32) bool { return maxOf(pixels) <= 1 }

func maxOf(x []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	return m
}

// ExtractorScope is the scope of the Base's variables in its Store.
const ExtractorScope = "resnet50"

// Store returns the Store holding the model's variables (under scope "/resnet50"); it is
// empty when the base runs on the host (CPU backends, see RunsOnHost).
func (e *Base) Store() *model.Store { return e.store }

// Finalize frees the compiled graphs and the weights.
func (e *Base) Finalize() {
	if e.host != nil {
		e.host.release()
	}
	if e.exec != nil {
		e.exec.Finalize()
	}
	e.store.Finalize()
}

// OutputChannels returns the channels of a layer's output (0 for an unknown name).
func OutputChannels(layer string) int {
	layers, _ := Layers(Options{})
	for _, l := range layers {
		if l.Name == layer {
			return l.OutputShape[len(l.OutputShape)-1]
		}
	}
	return 0
}

// layerShape returns the output shape (no batch axis) of a layer for images height×width
// (nil for an unknown name or size).
func layerShape(name string, height, width int) []int {
	layers, err := Layers(Options{Height: height, Width: width})
	if err != nil {
		return nil
	}
	for _, l := range layers {
		if l.Name == name {
			return l.OutputShape
		}
	}
	return nil
}

func checkOutputNames(opts Options) error {
	if opts.StopAt != "" {
		layers, _ := Layers(Options{})
		k := slices.IndexFunc(layers, func(l Layer) bool { return l.Name == opts.StopAt })
		if k < 0 || layers[k].Type == "Conv2D" {
			return errors.Errorf("resnet50: no layer output %q for StopAt (see resnet50.Layers; convolutions are computed with their BatchNormalization: name the _bn layer)", opts.StopAt)
		}
	}
	for _, o := range opts.Outputs {
		if OutputChannels(o) == 0 {
			return errors.Errorf("resnet50: no layer %q for Outputs (see resnet50.Layers; the stages end at %v)", o, StageOutputs)
		}
	}
	return nil
}
