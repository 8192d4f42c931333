package learner

import (
	"slices"
	"time"

	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// frozenCacheLimit is the most memory, in bytes, the frozen layers' outputs for the training
// and validation photos may take for fine-tuning to compute them once; above it (the 3670
// flower photos at 224² from "conv5" on take 2.9 GB) fine-tuning runs on the photos. A
// variable for the tests.
var frozenCacheLimit int64 = 2 << 30

// fineTuneCut returns the frozen layer whose output fine-tuning from stage computes once for
// every photo and trains from (resnet50.CutBefore), or "" — with a log line saying why — when
// the photos must go through the whole model every epoch: they are augmented, the trainable
// layers need more than one frozen output, or the outputs would not fit in frozenCacheLimit.
func (l *Learner) fineTuneCut(stage string) string {
	why := func(format string, args ...any) string {
		logf(l.Log, "fine-tuning: the photos go through the whole base every epoch: "+format+"\n", args...)
		return ""
	}
	if l.Augmentation != nil {
		return why("they are augmented")
	}
	cut, err := resnet50.CutBefore(stage)
	if err != nil {
		return why("%v", err)
	}
	if cut == resnet50.InputLayerName {
		return why("no layer before %q is frozen", stage)
	}
	si := l.Info.Split
	train, _ := l.keptPaths(si.Train, si.TrainCodes, 0)
	valid, _ := l.keptPaths(si.Valid, si.ValidCodes, len(si.Train))
	n := len(train) + len(valid)
	if size := int64(n) * int64(rowSize(cut, l.ImageSize)) * 4; size > frozenCacheLimit {
		return why("%q's output for %d photos at %d² would take %.2f GiB, over the %.2f GiB limit",
			cut, n, l.ImageSize, float64(size)/(1<<30), float64(frozenCacheLimit)/(1<<30))
	}
	return cut
}

// rowSize is the number of values of a layer's output for one image size×size.
func rowSize(layer string, size int) int {
	layers, err := resnet50.Layers(resnet50.Options{Height: size, Width: size})
	if err != nil {
		return 0
	}
	k := slices.IndexFunc(layers, func(ly resnet50.Layer) bool { return ly.Name == layer })
	if k < 0 {
		return 0
	}
	n := 1
	for _, d := range layers[k].OutputShape {
		n *= d
	}
	return n
}

// frozenFeatures runs the frozen layers up to cut once over the training and validation photos
// that decoded (keptPaths), and returns their outputs in memory, float32, as fine-tuning's data.
func (l *Learner) frozenFeatures(cut string) (fineTuneData, error) {
	start := time.Now()
	ex, err := resnet50.NewBase(l.Backend, l.base.File, resnet50.Options{StopAt: cut})
	if err != nil {
		return fineTuneData{}, errors.WithMessagef(err, "learner.FineTune: preparing the frozen layers up to %q", cut)
	}
	defer ex.Finalize()
	si := l.Info.Split
	train, err := l.extractFrozen(ex, si.Train, si.TrainCodes, 0)
	if err != nil {
		return fineTuneData{}, err
	}
	valid, err := l.extractFrozen(ex, si.Valid, si.ValidCodes, len(si.Train))
	if err != nil {
		return fineTuneData{}, err
	}
	secs := time.Since(start).Seconds()
	l.FeatureSeconds["finetune_frozen"] = secs
	mb := float64(4*(len(train.X)+len(valid.X))) / (1 << 20)
	logf(l.Log, "fine-tuning: the frozen layers up to %q ran once over %d+%d photos (%v each, %.0f MiB in memory) in %.1fs\n",
		cut, train.Len(), valid.Len(), train.Dims, mb, secs)
	return fineTuneData{cut: cut, train: train, valid: valid}, nil
}

// extractFrozen runs ex over the photos of a split part that decoded (offset as in keptPaths);
// a photo that decoded before and fails now is an error, as on the photos path.
func (l *Learner) extractFrozen(ex *resnet50.Base, paths []string, codes []int, offset int) (*trainer.ArrayData, error) {
	ps, cs := l.keptPaths(paths, codes, offset)
	dims := ex.OutputShape(1, l.ImageSize, l.ImageSize)[1:]
	row := 1
	for _, n := range dims {
		row *= n
	}
	d := &trainer.ArrayData{Dims: dims, Y: cs, X: make([]float32, len(ps)*row)}
	opts := features.Options{Size: l.ImageSize, BatchSize: l.BatchSize, Progress: l.Progress}
	failures, err := features.Extract(ex, ps, opts, func(indices []int, feats []float32) error {
		for k, i := range indices {
			copy(d.X[i*row:(i+1)*row], feats[k*row:(k+1)*row])
		}
		return nil
	})
	if err != nil {
		return nil, errors.WithMessage(err, "learner.FineTune: running the frozen layers")
	}
	if len(failures) > 0 {
		f := failures[0]
		return nil, errors.Errorf("%q decoded when the run started but not now (%s): did the dataset change while training?", f.Path, f.Reason)
	}
	return d, nil
}
