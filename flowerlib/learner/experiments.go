package learner

// The teaching experiments of notebooks/transfer_experiments.ipynb, one file each, on the same
// Config as a run:
//
//	Learner.FindLR        the learning-rate range test on the cached features (lrfind.go)
//	Model.CAM             where the model looks: CAM / Grad-CAM over the last feature map (cam.go)
//	Embed                 a 2-D map (PCA, t-SNE) of the frozen features, one point per photo (embed.go)
//	Transferability       a linear probe on each stage's pooled output (transfer.go)
//	Compare               from scratch vs frozen features vs fine-tuned, same budget (compare.go)
//	Model.Interpret       most-confused pairs and top losses (interpretation.go)

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/pkg/errors"
)

// noRunDir stands in for Config.RunDir in experiments that write no run (Embed): Validate
// wants one, and nothing is ever created there.
const noRunDir = "(no run folder)"

// openData runs New's first steps — configure, scan and split — without claiming a run
// folder: the experiments that train no head of a run start from it.
func openData(cfg Config) (*Learner, error) {
	if cfg.RunDir == "" {
		cfg.RunDir = noRunDir
	}
	l := &Learner{FeatureSeconds: map[string]float64{}}
	if err := l.configure(cfg); err != nil {
		return nil, err
	}
	if err := l.scanAndSplit(); err != nil {
		return nil, err
	}
	return l, nil
}

// stageFeatures loads the base and returns the pooled outputs of the named layers for every
// photo of the split (train then validation), [n, Σ channels] from one pass, cached like the
// run's features under their own key. The caller closes the set.
func (l *Learner) stageFeatures(layers []string) (*features.Set, error) {
	var err error
	if l.base, err = resnet50.LoadPretrained(l.Weights, l.WeightsDir(), false, l.Log); err != nil {
		return nil, err
	}
	l.Info.WeightsID = l.base.ID
	if l.Backend, err = backend.New(l.Config.Backend, l.Log); err != nil {
		return nil, err
	}
	if l.ex, err = resnet50.NewBase(l.Backend, l.base.File, resnet50.Options{Pooling: resnet50.PoolingAvg, Outputs: layers}); err != nil {
		return nil, err
	}
	si := l.Info.Split
	all := append(append([]string{}, si.Train...), si.Valid...)
	set, err := features.Build(l.ex, features.Options{CacheDir: l.FeaturesDir(), Paths: all,
		Size: l.ImageSize, Pooling: stagesPooling(layers), WeightsID: l.base.ID, BatchSize: l.BatchSize,
		Progress: l.Progress, Log: l.Log})
	if err != nil {
		return nil, err
	}
	if set.N == 0 {
		set.Close()
		return nil, errors.Errorf("none of the %d photos of %s can be decoded", len(all), l.Data)
	}
	for _, f := range set.Failures {
		logf(l.Log, "left out (cannot be decoded): %q: %s\n", f.Path, f.Reason)
	}
	return set, nil
}

// stagesPooling names pooled layer outputs in feature-cache keys and file names: "stages-avg"
// for the four stages, else a short hash of the layer list (each list its own cache).
func stagesPooling(layers []string) string {
	if slices.Equal(layers, resnet50.StageOutputs) {
		return "stages-avg"
	}
	sum := sha256.Sum256([]byte(strings.Join(layers, ",")))
	return fmt.Sprintf("layers-avg-%x", sum[:4])
}
