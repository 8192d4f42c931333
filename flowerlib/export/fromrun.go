package export

import (
	"fmt"
	"io"
	"slices"

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
// with). The head's layers are those of head.Config.Layers, with the activations, the Flatten
// and the Dropout layers head.Logits puts between them, under Keras' default names.
//
// It is the one place that knows how learner stores a model; the exporters read only Model.
func FromRun(m *learner.Model, log io.Writer) (*Model, error) {
	info := m.Info
	hc := info.Head.Defaults()
	size := info.ImageSize
	if size == 0 {
		size = defaults.ImageSize
	}
	out := &Model{Classes: slices.Clone(info.Classes), ImageSize: size, Pooling: resnet50.PoolingNone,
		Base: map[string]Tensor{}, Source: fmt.Sprintf("checkpoint %s", m.Checkpoint)}
	switch hc.Kind {
	case head.Avg:
		out.Pooling = resnet50.PoolingAvg
	case head.Max:
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
	if hc.Kind == head.Flatten {
		out.Head = append(out.Head, Layer{Name: "flatten", Type: Flatten})
	}
	layers := hc.Layers()
	dense := 0
	for i, l := range layers {
		names := []string{"kernel", "bias"}
		el := Layer{Name: l.Name, Type: Dense, Units: l.Out, Activation: ReLU}
		if l.BN {
			names = []string{"gamma", "beta", "moving_mean", "moving_variance"}
			el = Layer{Name: l.Name, Type: BatchNormalization, Epsilon: head.BNEpsilon, Momentum: head.BNMomentum}
		} else if i == len(layers)-1 {
			el.Activation = Softmax
		}
		for _, n := range names {
			t, err := read("/" + l.Name + "/" + n)
			if err != nil {
				return nil, err
			}
			el.Weights = append(el.Weights, Weight{Name: n, Tensor: t})
		}
		out.Head = append(out.Head, el)
		if !l.BN && i < len(layers)-1 {
			if hc.Dropout > 0 {
				out.Head = append(out.Head, Layer{Name: kerasName("dropout", dense), Type: Dropout, Rate: hc.Dropout})
			}
			dense++
		}
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
