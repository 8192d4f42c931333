package learner

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Model is a trained run, for evaluation and prediction: the head on the frozen base, or the
// fine-tuned base and head when the run was fine-tuned. Open loads one from a run folder;
// Learner.Model gives the one being trained.
type Model struct {
	Info       *RunInfo
	State      trainer.State // of the checkpoint loaded
	Checkpoint string        // its file
	Backend    compute.Backend
	FineTuned  bool

	store  *model.Store
	exec   *model.Exec // inputs (features, or images when FineTuned), labels → loss·n, correct, probabilities
	ex     *resnet50.Base
	base   *resnet50.Pretrained
	log    io.Writer
	shared bool      // store and extractor belong to a Learner
	headFn head.Func // the head the run trained
}

// OpenOptions are Open's: the backend ("" = the best installed), the head when the run
// trained one written in code (the built-in head is rebuilt from run.json), and where to log.
type OpenOptions struct {
	Backend string
	Head    head.Func
	Log     io.Writer
}

// Open loads the run in runDir (run.json and the newest checkpoint: of the fine-tuning phase
// when it has one, else of the head). A newest checkpoint that does not verify is an error
// naming the newest one that does (see damagedNewest). The checkpoint's class list must equal
// run.json's, and a head given must be the one the run trained (same fingerprint). Nothing is
// written in runDir; the cache folder is the user's (see cacheFor), so a finished run can be
// shared.
func Open(runDir string, opts OpenOptions) (*Model, error) {
	info, err := LoadRunInfo(runDir)
	if err != nil {
		return nil, err
	}
	info.CacheDir = cacheFor(info.CacheDir, opts.Log)
	m := &Model{Info: info, store: model.NewStore(), log: opts.Log, headFn: opts.Head}
	dirs := []string{runDir}
	if info.FineTune != "" {
		dirs = []string{filepath.Join(runDir, FineTuneDir), runDir}
	}
	for _, dir := range dirs {
		ok, err := m.load(dir)
		if err != nil {
			return nil, err
		}
		if ok {
			m.FineTuned = dir != runDir
			break
		}
	}
	if m.Checkpoint == "" {
		return nil, errors.Errorf("run %q has no checkpoint yet: train first (flowers train -run %s …)", runDir, runDir)
	}
	if m.Backend, err = backend.New(opts.Backend, opts.Log); err != nil {
		return nil, err
	}
	if err := m.checkHead(); err != nil {
		return nil, err
	}
	return m, nil
}

// OpenRun opens the run cfg trains: its run folder (Run.RunDir, or the one named after the
// settings and the head: the run whose head has the fingerprint of cfg's), with cfg's head.
func OpenRun(cfg Config) (*Model, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := OpenOptions{Backend: c.Backend, Head: cfg.Head, Log: c.Log}
	if c.RunDir != "" {
		return Open(c.RunDir, opts)
	}
	b, err := backend.New(c.Backend, nil)
	if err != nil {
		return nil, err
	}
	const mark = "\x00"
	work, err := c.WorkDir()
	if err != nil {
		return nil, err
	}
	prefix, suffix, _ := strings.Cut(c.Name(mark), mark)
	entries, _ := os.ReadDir(filepath.Join(work, "run"))
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix+c.HeadName+"-") || !strings.HasSuffix(name, suffix) {
			continue
		}
		dir := filepath.Join(work, "run", name)
		info, err := LoadRunInfo(dir)
		if err != nil {
			continue
		}
		d, err := head.Describe(b, c.headFunc(len(info.Classes)), info.Head.Input)
		if err == nil && d.Fingerprint == info.Head.Fingerprint {
			return Open(dir, opts)
		}
	}
	return nil, errors.Errorf("no run of these settings with the head %s in %s yet: train it first (learner.New and Fit, the training cell)",
		c.HeadName, filepath.Join(work, "run"))
}

// checkHead sets the head of the run: the built-in one rebuilt, or the one given, which must
// have the fingerprint the run trained.
func (m *Model) checkHead() error {
	hi := m.Info.Head
	if m.headFn == nil {
		if !hi.BuiltIn {
			return errors.Errorf("run %q trained the head %q written in code (fingerprint %s): open it from that code, "+
				"learner.Open(run, learner.OpenOptions{Head: %s}); the flowers command knows only its built-in heads",
				m.Info.RunDir, hi.Name, hi.Fingerprint, hi.Name)
		}
		m.headFn = head.Article(len(m.Info.Classes), nil, hi.Dropout)
	}
	d, err := head.Describe(m.Backend, m.headFn, hi.Input)
	if err != nil {
		return err
	}
	if hi.Fingerprint != "" && d.Fingerprint != hi.Fingerprint { // "": format 1 (legacyHead)
		return errors.Errorf("the head given is not the one run %q trained (%s, fingerprint %s; the head given has %s): "+
			"give the head the run was trained with, or train it in a new run", m.Info.RunDir, hi.Name, hi.Fingerprint, d.Fingerprint)
	}
	return nil
}

// HeadFunc is the head the model uses (the built-in one, or the one given to Open).
func (m *Model) HeadFunc() head.Func { return m.headFn }

// load reads the newest checkpoint of dir into m; false when dir has none.
func (m *Model) load(dir string) (bool, error) {
	names, err := trainer.ListCheckpoints(dir)
	if err != nil || len(names) == 0 {
		return false, err
	}
	name := names[0]
	c, err := trainer.OpenCheckpoint(name)
	if err != nil {
		return false, damagedNewest(dir, names, err)
	}
	var st trainer.State
	err = json.Unmarshal(c.State, &st)
	if err == nil {
		var id identity
		if err = json.Unmarshal(st.Identity, &id); err == nil {
			err = prepare.CompareClasses(id.Classes, m.Info.Classes)
		}
	}
	if err == nil {
		err = c.Restore(m.store, func(p string) bool { return !strings.HasPrefix(p, "/"+trainer.AdamScope+"/") })
	}
	c.Close()
	if err != nil {
		return false, errors.WithMessagef(err, "checkpoint %q vs %s", name, RunInfoFile)
	}
	m.State, m.Checkpoint = st, name
	return true, nil
}

// Classes is the class list the model predicts, in label order.
func (m *Model) Classes() []string { return m.Info.Classes }

// CheckClasses returns an error naming the differences when classes (e.g. of a dataset to
// evaluate) differ from the model's.
func (m *Model) CheckClasses(classes []string) error {
	return prepare.CompareClasses(m.Info.Classes, classes)
}

// base loads the run's base weights once, checking they are the ones it was trained with.
func (m *Model) loadBase() error {
	if m.base != nil {
		return nil
	}
	p, err := resnet50.LoadPretrained(m.Info.Weights, config.Run{Cache: m.Info.CacheDir}.WeightsDir(), false, m.log)
	if err != nil {
		return err
	}
	if p.ID != m.Info.WeightsID {
		return errors.Errorf("the weights %q have changed since training (%s, trained with %s): predictions would be wrong; retrain or restore the file",
			m.Info.Weights, p.ID, m.Info.WeightsID)
	}
	m.base = p
	return nil
}

// compile builds the evaluation graph once: the head on features, or the fine-tuned model on
// images; the head phase also needs the frozen base as an Extractor.
func (m *Model) compile() error {
	if m.exec != nil {
		return nil
	}
	pooling := m.Info.Head.Pooling
	var err error
	if m.FineTuned {
		// The checkpoint holds the whole fine-tuned base: nothing comes from the weights file.
		m.exec, err = trainer.NewEvalExec(m.Backend, m.store, fullModel(nil, "", pooling, m.headFn), nil)
		return err
	}
	if m.ex == nil {
		if err := m.loadBase(); err != nil {
			return err
		}
		if m.ex, err = resnet50.NewBase(m.Backend, m.base.File, resnet50.Options{Pooling: poolingOf(pooling)}); err != nil {
			return err
		}
	}
	m.exec, err = trainer.NewEvalExec(m.Backend, m.store, m.headFn, nil)
	return err
}

// Evaluate scores the model on the run's validation split — features from the cache (computed
// when missing), or the photos through the fine-tuned model — and returns the report:
// accuracy, loss, per-class precision/recall, confusion matrix. Photos that cannot be decoded
// are left out and named on the log.
func (m *Model) Evaluate(progress io.Writer) (*metrics.Report, error) {
	r, _, err := m.evaluate(progress)
	if err != nil {
		return nil, err
	}
	return report(r, m.Info.Classes)
}

// evaluate runs the model over the validation split (see Evaluate) and returns the result with
// the photo of each example.
func (m *Model) evaluate(progress io.Writer) (*trainer.EvalResult, []string, error) {
	if err := m.compile(); err != nil {
		return nil, nil, err
	}
	si := m.Info.Split
	all := append(append([]string{}, si.Train...), si.Valid...)
	var valid trainer.Data
	var paths []string
	if m.FineTuned {
		// The fine-tuned base changed: the photos go through the whole model, decoded in batches.
		d := &trainer.ArrayData{Dims: []int{m.Info.ImageSize, m.Info.ImageSize, 3}}
		failures, err := features.Extract(features.Pixels{}, si.Valid, features.Options{Size: m.Info.ImageSize, Progress: progress},
			func(indices []int, pix []float32) error {
				d.X = append(d.X, pix...)
				for _, i := range indices {
					d.Y = append(d.Y, int32(si.ValidCodes[i]))
					paths = append(paths, si.Valid[i])
				}
				return nil
			})
		if err != nil {
			return nil, nil, err
		}
		for _, f := range failures {
			logf(m.log, "evaluate: left out (cannot be decoded): %q: %s\n", f.Path, f.Reason)
		}
		valid = d
	} else {
		set, err := features.Build(m.ex, features.Options{CacheDir: config.Run{Cache: m.Info.CacheDir}.FeaturesDir(), Paths: all,
			Size: m.Info.ImageSize, Pooling: poolingOf(m.Info.Head.Pooling).String(), WeightsID: m.Info.WeightsID,
			Progress: progress, Log: m.log})
		if err != nil {
			return nil, nil, err
		}
		defer set.Close()
		for _, f := range set.Failures {
			if f.Index >= len(si.Train) {
				logf(m.log, "evaluate: left out (cannot be decoded): %q: %s\n", f.Path, f.Reason)
			}
		}
		lab, _ := features.NewLabeled(set, seq(len(si.Train), len(all)), toInt32(si.ValidCodes))
		for _, r := range lab.Rows {
			paths = append(paths, all[set.Indices[r]])
		}
		valid = lab
	}
	if valid.Len() == 0 {
		return nil, nil, errors.Errorf("evaluate: none of the %d validation photos of %s can be decoded", len(si.Valid), m.Info.Data)
	}
	r, err := trainer.Evaluate(m.exec, valid, 32)
	if err != nil {
		return nil, nil, err
	}
	return r, paths, nil
}

// Prediction is the model's answer for one image file.
type Prediction struct {
	Path  string          `json:"path"`
	Probs []float32       `json:"probabilities,omitempty"` // in Classes order
	Top   []metrics.Guess `json:"top,omitempty"`           // most probable first
	Err   string          `json:"error,omitempty"`         // why the file could not be used
}

// Predict classifies image files (decoded and resized as in training, no augmentation), with
// the topK most probable classes of each. A file that cannot be decoded gets its Err set; the
// others are still predicted.
func (m *Model) Predict(paths []string, topK int) ([]Prediction, error) {
	if topK < 1 {
		return nil, errors.Errorf("predict: top must be at least 1, got %d", topK)
	}
	if err := m.compile(); err != nil {
		return nil, err
	}
	out := make([]Prediction, len(paths))
	for i, p := range paths {
		out[i].Path = p
	}
	// The head phase runs the frozen base on the photos, then the head; a fine-tuned model
	// takes the photos themselves.
	var ex features.Extractor = m.ex
	dims := m.Info.Head.Input
	if m.FineTuned {
		ex, dims = features.Pixels{}, []int{m.Info.ImageSize, m.Info.ImageSize, 3}
	}
	failures, err := features.Extract(ex, paths, features.Options{Size: m.Info.ImageSize, BatchSize: 16},
		func(indices []int, x []float32) error {
			r, err := trainer.Evaluate(m.exec, &trainer.ArrayData{X: x, Dims: dims, Y: make([]int32, len(indices))}, 32)
			if err != nil {
				return err
			}
			for k, i := range indices {
				out[i].Probs = r.Probs[k]
				out[i].Top = metrics.TopK(m.Info.Classes, r.Probs[k], topK)
			}
			return nil
		})
	return withFailures(out, failures, err, func(p *Prediction) *string { return &p.Err })
}

// withFailures returns out with the Err of each result whose photo could not be used set to
// why (the failures of features.Extract), or err when the extraction itself failed.
func withFailures[T any](out []T, failures []features.Failure, err error, errOf func(*T) *string) ([]T, error) {
	if err != nil {
		return nil, err
	}
	for _, f := range failures {
		*errOf(&out[f.Index]) = f.Reason
	}
	return out, nil
}

// Close frees the model's graphs and weights (those it does not share with a Learner).
func (m *Model) Close() {
	if m.exec != nil {
		m.exec.Finalize()
	}
	if m.shared {
		return
	}
	if m.ex != nil {
		m.ex.Finalize()
	}
	m.store.Finalize()
}
