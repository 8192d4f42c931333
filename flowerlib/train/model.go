package train

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Model is a trained run loaded for evaluation and prediction: the frozen base (for new
// images) and the head with the weights of the run's newest complete checkpoint.
type Model struct {
	Info       *RunInfo
	State      State  // of the checkpoint loaded
	Checkpoint string // its file
	Backend    compute.Backend

	store     *model.Store
	exec      *model.Exec // features, labels → summed loss, correct, probabilities
	ex        *resnet50.Extractor
	weightsID string
	log       io.Writer
}

// Open loads the run in runDir (run.json and its newest valid checkpoint) on the given backend
// ("" = best available). The checkpoint's class list must equal run.json's.
func Open(runDir, backendName string, log io.Writer) (*Model, error) {
	info, err := LoadRunInfo(runDir)
	if err != nil {
		return nil, err
	}
	names, err := ListCheckpoints(runDir)
	if err != nil {
		return nil, err
	}
	m := &Model{Info: info, store: model.NewStore(), log: log}
	var arrays []NamedArray
	var errs []string
	for _, name := range names {
		if arrays, err = ReadCheckpointFile(name, &m.State); err == nil {
			m.Checkpoint = name
			break
		}
		errs = append(errs, err.Error())
	}
	if m.Checkpoint == "" {
		if len(errs) > 0 {
			return nil, errors.Errorf("run %q: no usable checkpoint: %s", runDir, strings.Join(errs, "; "))
		}
		return nil, errors.Errorf("run %q has no checkpoint yet: train first (flowers train -run %s …)", runDir, runDir)
	}
	if err := CheckClasses(m.State.Classes, info.Classes); err != nil {
		return nil, errors.WithMessagef(err, "checkpoint %q vs %s", m.Checkpoint, RunInfoFile)
	}
	var vars []NamedArray
	for _, a := range arrays {
		if strings.HasPrefix(a.Name, "var:") {
			vars = append(vars, a)
		}
	}
	if err := SetVariables(m.store, vars, nil); err != nil {
		return nil, errors.WithMessagef(err, "loading %q", m.Checkpoint)
	}
	if m.Backend, err = backend.New(backendName, log); err != nil {
		return nil, err
	}
	hc := info.Head
	m.exec, err = model.NewExec(m.Backend, m.store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		x, labels := inputs[0], inputs[1]
		m.store.SetTraining(x.Graph(), false)
		logits := head.Logits(scope, x, hc)
		n := float64(x.Shape().Dimensions[0])
		return []*graph.Node{graph.MulScalar(head.Loss(logits, labels), n), head.Correct(logits, labels), head.Probabilities(logits)}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Classes is the class list the model predicts, in label order.
func (m *Model) Classes() []string { return m.Info.Classes }

// CheckClasses returns an error naming the differences when classes (e.g. of a dataset to
// evaluate or the classes a user expects) differ from the model's.
func (m *Model) CheckClasses(classes []string) error { return CheckClasses(m.Info.Classes, classes) }

// extractor loads the run's base weights once.
func (m *Model) extractor() (*resnet50.Extractor, error) {
	if m.ex != nil {
		return m.ex, nil
	}
	w, id, err := LoadWeights(m.Info.Weights, m.Info.CacheDir, m.log)
	if err != nil {
		return nil, err
	}
	if id != m.Info.WeightsID {
		return nil, errors.Errorf("the weights %q have changed since training (%s, trained with %s): predictions would be wrong; retrain or restore the file",
			m.Info.Weights, id, m.Info.WeightsID)
	}
	m.weightsID = id
	m.ex, err = resnet50.NewExtractor(m.Backend, w, resnet50.Options{Pooling: poolingOf(m.Info.Head.Kind)})
	return m.ex, err
}

// Evaluate scores the model on the run's validation split (features from the cache, computed
// when missing) and returns the report: accuracy, loss, per-class precision/recall, confusion.
func (m *Model) Evaluate(progress io.Writer) (*metrics.Report, error) {
	ex, err := m.extractor()
	if err != nil {
		return nil, err
	}
	si := m.Info.Split
	all := append(append([]string{}, si.Train...), si.Valid...)
	set, err := features.Build(ex, features.Options{CacheDir: filepath.Join(m.Info.CacheDir, "features"), Paths: all,
		Size: m.Info.ImageSize, Pooling: poolingOf(m.Info.Head.Kind).String(), WeightsID: m.weightsID,
		Progress: progress, Log: m.log})
	if err != nil {
		return nil, err
	}
	defer set.Close()
	valid, dropped := features.NewLabeled(set, seq(len(si.Train), len(all)), toInt32(si.ValidCodes))
	if dropped > 0 && m.log != nil {
		fmt.Fprintf(m.log, "evaluate: %d validation images could not be decoded and are left out\n", dropped)
	}
	r, err := evaluate(m.exec, valid, 32)
	if err != nil {
		return nil, err
	}
	return r.Report(m.Info.Classes)
}

// Prediction is the model's answer for one image file.
type Prediction struct {
	Path  string          `json:"path"`
	Probs []float32       `json:"probabilities,omitempty"` // in Classes order
	Top   []metrics.Guess `json:"top,omitempty"`           // most probable first
	Err   string          `json:"error,omitempty"`         // why the file could not be used
}

// PredictFiles classifies image files (decoded and resized as in training, no augmentation).
// A file that cannot be decoded gets its Err set; the others are still predicted.
func (m *Model) PredictFiles(paths []string, topK int) ([]Prediction, error) {
	ex, err := m.extractor()
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(paths))
	for i, p := range paths {
		out[i].Path = p
	}
	it := images.NewBatches(paths, images.BatchOptions{Size: m.Info.ImageSize, BatchSize: 16})
	defer it.Close()
	for b := range it.All() {
		feats, err := ex.ExtractFloats(b.Data, b.N, b.Size, b.Size)
		if err != nil {
			return nil, err
		}
		probs, err := m.PredictFeatures(feats, b.N)
		if err != nil {
			return nil, err
		}
		for k, i := range b.Indices {
			out[i].Probs = probs[k]
			out[i].Top = metrics.TopK(m.Info.Classes, probs[k], topK)
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	for _, f := range it.Failures() {
		out[f.Index].Err = f.Reason
	}
	return out, nil
}

// PredictFeatures returns the class probabilities [n][classes] of n examples of base features
// (flat, n × the head's input size).
func (m *Model) PredictFeatures(feats []float32, n int) ([][]float32, error) {
	d := &ArrayData{X: feats, Dims: m.Info.Head.Defaults().InputDims(), Y: make([]int32, n)}
	if len(feats) != n*m.Info.Head.Defaults().InputSize() {
		return nil, errors.Errorf("predict: %d feature values for %d examples of %v", len(feats), n, d.Dims)
	}
	var probs [][]float32
	err := exceptions.TryCatch[error](func() {
		r, err := evaluate(m.exec, d, 32)
		if err != nil {
			panic(err)
		}
		probs = r.Probs
	})
	return probs, err
}

// Close frees the model's graphs and weights.
func (m *Model) Close() {
	if m.ex != nil {
		m.ex.Finalize()
	}
	m.exec.Finalize()
	m.store.Finalize()
}
