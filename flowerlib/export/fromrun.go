package export

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// FromRun describes the model of a run opened with learner.Open: the head's variables from the
// checkpoint Open chose, the base from the same checkpoint when the run was fine-tuned (it
// holds the whole base), else from the run's weights (checked to be the ones it was trained
// with). The head's layers are the ones run.json records (head.Describe: Keras' layers with the
// activation after each), the built-in head's or one written in code alike; a head with code a
// layer list cannot express is refused, naming it.
//
// It is the one place that knows how learner stores a model; the exporters read only Model.
func FromRun(m *learner.Model, log io.Writer) (*Model, error) {
	info := m.Info
	size := info.ImageSize
	if size == 0 {
		size = defaults.ImageSize.Default
	}
	out := &Model{Classes: slices.Clone(info.Classes), ImageSize: size, Pooling: resnet50.PoolingNone,
		Base: map[string]Tensor{}, Source: fmt.Sprintf("checkpoint %s", m.Checkpoint)}
	switch info.Head.Pooling {
	case "avg":
		out.Pooling = resnet50.PoolingAvg
	case "max":
		out.Pooling = resnet50.PoolingMax
	}
	ckpt, err := trainer.OpenCheckpoint(m.Checkpoint)
	if err != nil {
		return nil, err
	}
	defer ckpt.Close()
	read := func(path string) (Tensor, error) {
		data, dims, err := ckpt.Float32(path)
		return Tensor{Dims: dims, Data: data}, err
	}
	if out.Head, err = HeadLayers(info.Head, read); err != nil {
		return nil, err
	}
	if m.FineTuned {
		err = baseFromCheckpoint(out, read)
	} else {
		err = baseFromWeights(out, info.Weights, info.WeightsID, defaults.WeightsDir(info.CacheDir), log)
	}
	if err != nil {
		return nil, err
	}
	return out, out.Validate()
}

// HeadLayers turns the head's recorded layers into Keras' layer list, weights read by variable
// path: Flatten, Dense (ReLU, or softmax for the logits), BatchNormalization (with an
// Activation layer when a ReLU follows it).
func HeadLayers(h learner.HeadInfo, read func(string) (Tensor, error)) ([]Layer, error) {
	if len(h.Layers) == 0 {
		return nil, errors.Errorf("run.json records no layers of the head %q (a run of an older flowers): retrain it to export it", h.Name)
	}
	var out []Layer
	activations := 0
	for i, l := range h.Layers {
		if len(l.Unsupported) > 0 {
			return nil, errors.Errorf("the head %q has code a layer list cannot express at layer %s (%s): %s; export heads built from head.Dense, head.BatchNorm, head.Flatten and activation.Relu",
				h.Name, l.Name, l.Type, strings.Join(l.Unsupported, "; "))
		}
		var names []string
		var el Layer
		switch l.Type {
		case "Flatten":
			out = append(out, Layer{Name: "flatten", Type: Flatten})
			continue
		case "Dense":
			el = Layer{Name: l.Name, Type: Dense, Units: l.Output[len(l.Output)-1], Activation: Linear}
			if l.Activation == head.ReLU {
				el.Activation = ReLU
			}
			if i == len(h.Layers)-1 {
				el.Activation = Softmax // the logits: the exported models give probabilities
			}
			names = []string{"kernel", "bias"}
		case "BatchNormalization":
			el = Layer{Name: l.Name, Type: BatchNormalization, Epsilon: head.BNEpsilon, Momentum: head.BNMomentum}
			names = []string{"gamma", "beta", "moving_mean", "moving_variance"}
		default:
			return nil, errors.Errorf("the head %q has a %s layer (%s), which the exports do not know (Flatten, Dense, BatchNormalization)",
				h.Name, l.Type, l.Name)
		}
		for _, n := range names {
			t, err := read("/" + l.Name + "/" + n)
			if err != nil {
				return nil, err
			}
			el.Weights = append(el.Weights, Weight{Name: n, Tensor: t})
		}
		out = append(out, el)
		if l.Type == "BatchNormalization" && l.Activation == head.ReLU {
			out = append(out, Layer{Name: kerasName("activation", activations), Type: Activation, Activation: ReLU})
			activations++
		}
	}
	if last := out[len(out)-1]; last.Type != Dense {
		return nil, errors.Errorf("the head %q ends with a %s layer: the exports need its logits from a Dense layer", h.Name, last.Type)
	}
	return out, nil
}

func kerasName(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s_%d", base, i)
}

// baseFromCheckpoint reads ResNet50's weights from a fine-tuned run's checkpoint.
func baseFromCheckpoint(m *Model, read func(string) (Tensor, error)) error {
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return err
	}
	for _, l := range layers {
		for _, w := range l.Weights {
			t, err := read("/" + learner.BaseScope + "/" + l.Name + "/" + w.Name)
			if err != nil {
				return err
			}
			m.Base[l.Name+"/"+w.Name] = t
		}
	}
	return nil
}

// baseFromWeights reads ResNet50's weights from the run's weights (a file or random:SEED),
// refusing weights that are not the ones the run was trained with.
func baseFromWeights(m *Model, spec, id, cacheDir string, log io.Writer) error {
	p, err := resnet50.LoadPretrained(spec, cacheDir, false, log)
	if err != nil {
		return err
	}
	if p.ID != id {
		return errors.Errorf("the weights %q have changed since training (%s, trained with %s): the export would be wrong; restore the file",
			spec, p.ID, id)
	}
	layers, err := resnet50.Layers(m.BaseOptions())
	if err != nil {
		return err
	}
	for _, l := range layers {
		if len(l.Weights) == 0 {
			continue
		}
		fl := p.File.Layer(l.Name)
		if fl == nil || len(fl.Weights) != len(l.Weights) {
			return errors.Errorf("the weights %q have no layer %s with %d weights", spec, l.Name, len(l.Weights))
		}
		for i, w := range l.Weights {
			ft := fl.Weights[i]
			if !slices.Equal(ft.Shape, w.Shape) {
				return errors.Errorf("the weights %q: %s/%s is %v, ResNet50 needs %v", spec, l.Name, w.Name, ft.Shape, w.Shape)
			}
			m.Base[l.Name+"/"+w.Name] = Tensor{Dims: ft.Shape, Data: ft.Data}
		}
	}
	return nil
}
