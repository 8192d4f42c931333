package learner

import (
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pkg/errors"
)

// FineTuneDir is the run folder's sub-folder of the fine-tuning phase (same layout).
const FineTuneDir = "finetune"

// BaseScope is the scope of the base's variables in a fine-tuned model's Store.
const BaseScope = "resnet50"

// fullModel is the base (trainable from stage on; "" frozen) with the head, on images: the
// model fine-tuning trains and a fine-tuned run predicts with. base fills the base's
// variables that the Store does not have yet (nil: all must be there).
func fullModel(base *resnet50.Pretrained, stage, pooling string, fn head.Func) trainer.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		b := resnet50.BuildGraph(scope.In(BaseScope), x).PreTrained(base.Weights()).Pooling(poolingOf(pooling))
		if stage != "" {
			b = b.TrainableFrom(stage)
		} else {
			b = b.Trainable(false)
		}
		return fn(scope, b.Done())
	}
}

// modelFrom is fullModel from the output of the frozen layer cut on (resnet50.CutBefore(stage)),
// for images size×size: the same variables, minus those of the layers up to cut.
func modelFrom(base *resnet50.Pretrained, cut string, size int, stage, pooling string, fn head.Func) trainer.ModelFn {
	return func(scope *model.Scope, x *graph.Node) *graph.Node {
		b := resnet50.BuildGraph(scope.In(BaseScope), x).From(cut, size, size).PreTrained(base.Weights()).
			Pooling(poolingOf(pooling)).TrainableFrom(stage)
		return fn(scope, b.Done())
	}
}

// FineTune continues from the trained head with the base unfrozen from the layer prefix stage
// on (e.g. "conv5", the last stage, or "conv4_block6"), training both on the photos (augmented
// when the run augments: Run.Augment > 0) at Config.FineTuneLR for Config.FineTuneEpochs, in
// RunDir/finetune (resumable like Fit). The base's trainable BatchNorm layers use batch
// statistics in training, as in Keras. Afterwards Evaluate and Predict use the fine-tuned model.
//
// Without augmentation the frozen layers before stage give each photo the same output every
// epoch: when one layer's output alone feeds the trainable ones (resnet50.CutBefore) and it
// fits in memory, it is computed once for the training and validation photos and only the
// layers from stage on run each epoch (see frozenFeatures). The Store ends up the same either
// way: the whole model's, which Evaluate, Predict and Open use.
func (l *Learner) FineTune(stage string) (trainer.History, error) {
	if stage == "" {
		return nil, errors.New("learner.FineTune: name the first layer to train, e.g. \"conv5\"")
	}
	if _, err := resnet50.Layers(resnet50.Options{TrainableFrom: stage}); err != nil {
		return nil, err
	}
	if l.Trainer.State.Epoch == 0 {
		return nil, errors.New("learner.FineTune: the head is untrained: Fit first (a random head's gradients would wreck the pre-trained base)")
	}
	if l.FineTuner != nil && l.fineTuneTo != stage {
		l.FineTuner.Close()
		l.FineTuner, l.fineTune = nil, fineTuneData{}
	}
	if l.FineTuner == nil {
		if err := l.newFineTuner(stage); err != nil {
			return nil, err
		}
	}
	if l.fineTune.train == nil {
		if l.FineTuner.Finished() {
			return l.FineTuner.State.History, nil // nothing to compute the inputs for
		}
		var err error
		if l.fineTune, err = l.fineTuneInputs(l.fineTune.cut); err != nil {
			return nil, err
		}
	}
	return l.FineTuner.Fit(l.fineTune.train, l.fineTune.valid)
}

// fineTuneData is what the fine-tuning trainer trains on: the photos, or the output of the
// frozen layers before the cut layer (cut != "").
type fineTuneData struct {
	cut          string
	train, valid trainer.Data
}

// newFineTuner prepares the trainer of fine-tuning from stage on, in a new Store holding the
// trained head (and the base, or a checkpoint's values), on the photos or from the cut layer
// on (fineTuneCut); FineTune computes the inputs when it needs them.
func (l *Learner) newFineTuner(stage string) error {
	data := fineTuneData{cut: l.fineTuneCut(stage)}
	store := model.NewStore()
	if err := copyVariables(store, l.Trainer.Store, func(v *model.Variable) bool {
		return isModelVariable(v.Path())
	}); err != nil {
		return err
	}
	modelFn := fullModel(l.base, stage, l.Pooling, l.headFn)
	if data.cut != "" {
		// The From model creates only the variables after the cut: the Store gets the others
		// too, so that it is the whole model's (checkpoints, Evaluate, Predict).
		opts := resnet50.Options{TrainableFrom: stage, Pooling: poolingOf(l.Pooling)}
		if err := resnet50.LoadMissing(store.RootScope().In(BaseScope), l.base.File, opts); err != nil {
			return errors.WithMessage(err, "learner.FineTune: loading the frozen base")
		}
		modelFn = modelFrom(l.base, data.cut, l.ImageSize, stage, l.Pooling, l.headFn)
	}
	opts := l.options(l.weights)
	opts.Epochs, opts.LearningRate = l.FineTuneEpochs, l.FineTuneLR
	if l.LRMult > 1 {
		var err error
		if opts.LRGroups, err = fineTuneGroups(stage, l.FineTuneLR/l.LRMult, l.FineTuneLR); err != nil {
			return err
		}
	}
	id := identity{Classes: l.Info.Classes, DataKey: l.Info.DataKey, Stage: stage}
	dir := filepath.Join(l.RunDir, FineTuneDir)
	logf(l.Log, "fine-tuning the base from %q with the head, lr %g, %d epochs, in %s; BatchNorm: the unfrozen layers' in training mode (batch statistics), the frozen ones' in inference mode (their moving statistics)\n",
		stage, opts.LearningRate, opts.Epochs, dir)
	for _, g := range opts.LRGroups {
		logf(l.Log, "  discriminative rate: %v at %.3g (×%.3g)\n", g.Prefixes, opts.LearningRate*g.Scale, g.Scale)
	}
	tr, err := trainer.New(trainer.Config{Backend: l.Backend, Store: store, RunDir: dir,
		Model: modelFn, Loss: l.Loss, Optimizer: l.Optimizer, Identity: id, CheckIdentity: id.check, Options: opts})
	if err != nil {
		return err
	}
	l.FineTuner, l.fineTuneTo, l.fineTune = tr, stage, data
	if l.model != nil {
		l.model.Close()
		l.model = nil
	}
	if l.Info.FineTune != stage {
		l.Info.FineTune = stage
		return l.Info.save(l.RunDir)
	}
	return nil
}

// fineTuneInputs returns the photos fine-tuning trains and validates on or, with a cut layer,
// their output of the frozen layers up to it (frozenFeatures).
func (l *Learner) fineTuneInputs(cut string) (fineTuneData, error) {
	if cut != "" {
		return l.frozenFeatures(cut)
	}
	si := l.Info.Split
	train := &photos{size: l.ImageSize, aug: l.Augmentation, ex: features.Pixels{}}
	train.paths, train.codes = l.keptPaths(si.Train, si.TrainCodes, 0)
	valid := &photos{size: l.ImageSize, ex: features.Pixels{}}
	valid.paths, valid.codes = l.keptPaths(si.Valid, si.ValidCodes, len(si.Train))
	return fineTuneData{train: train, valid: valid}, nil
}

// isModelVariable tells a model's variables (the head's, the base's) from a trainer's state:
// the optimizer's moments and learning rate, the random state.
func isModelVariable(path string) bool {
	return !strings.HasPrefix(path, "/"+trainer.AdamScope+"/") && !strings.HasPrefix(path, "/"+optimizer.Scope+"/") &&
		!strings.HasPrefix(path, "/#")
}

// copyVariables copies into dst the variables of src that keep selects (with their values
// and trainability).
func copyVariables(dst, src *model.Store, keep func(v *model.Variable) bool) error {
	for v := range src.IterVariables() {
		if !keep(v) || !v.HasValue() {
			continue
		}
		val, err := v.MustValue().LocalClone()
		if err != nil {
			return errors.WithMessagef(err, "copying %s", v.Path())
		}
		nv, err := dst.CreateVariable(v.Path(), val)
		if err != nil {
			return err
		}
		nv.SetTrainable(v.Trainable)
	}
	return nil
}

// fineTuneGroups are fastai's discriminative rates for fine-tuning from stage: one layer group
// per ResNet50 stage from stage's on (the first holding stage's own layers), then the head,
// at rates spread geometrically from lo to hi (trainer.SliceGroups).
func fineTuneGroups(stage string, lo, hi float64) (trainer.Groups, error) {
	first := strings.SplitN(stage, "_", 2)[0] // "conv4_block6" → "conv4"
	var body [][]string
	for _, s := range []string{"conv1", "conv2", "conv3", "conv4", "conv5"} {
		if len(body) == 0 && s != first {
			continue
		}
		prefix := "/" + BaseScope + "/" + s + "_"
		if s == first && stage != first {
			prefix = "/" + BaseScope + "/" + stage
		}
		body = append(body, []string{prefix})
	}
	if len(body) == 0 {
		return nil, errors.Errorf("learner.FineTune: %q is not in a ResNet50 stage (conv1 … conv5)", stage)
	}
	return trainer.SliceGroups(lo, hi, body...)
}
