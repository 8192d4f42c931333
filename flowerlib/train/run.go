package train

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// Modes of Config.Mode.
const (
	ModeCached  = "cached"  // frozen base run once; the head trains on cached features
	ModeAugment = "augment" // images augmented on the fly through the frozen base every epoch (the seed's way)
)

// Transform augments one decoded, resized image into dst (HWC RGB float32), as
// images.BatchOptions.Transform; flowerlib/augment provides them.
type Transform = func(index int, img *images.RGB, dst []float32)

// Config is a whole training run, as `flowers train` and the notebooks describe it. Zero values
// are the seed's settings.
type Config struct {
	Data     string // dataset root: one sub-folder per class
	Weights  string // "imagenet", an .h5 file, or "random[:SEED]" (offline, NOT ImageNet)
	RunDir   string // checkpoints, history, run.json; required
	CacheDir string // feature cache; default <user cache dir>/flowers

	Head         head.Config // Kind flatten (default) | avg | max, Dropout
	Mode         string      // ModeCached (default) or ModeAugment
	Epochs       int         // default 30
	BatchSize    int         // default 32
	LearningRate float64     // default 1e-3 (Keras Adam)
	Seed         int64       // split, shuffling, initialisation; default 42
	ImageSize    int         // default 224
	ValidSplit   float64     // default 0.2

	// Augment returns the augmentation of an epoch (mode augment) and a string identifying it
	// (settings + seed + epoch), used as a cache key for AugmentCopies.
	Augment func(epoch int) (Transform, string)
	// AugmentCopies > 0 caches that many augmented copies of the training features ahead and
	// cycles through them (epoch e uses copy e mod K) instead of running the base every epoch.
	AugmentCopies int
	// FineTune unfreezes the base from this layer prefix (e.g. "conv5") and trains it with the
	// head on images, at FineTuneLR (default 1e-5), starting from the head trained so far.
	FineTune       string
	FineTuneLR     float64
	FineTuneEpochs int // default 5

	CheckpointSteps int
	EarlyStopping   int
	Monitor         string
	RestoreBest     bool

	Backend  string    // "" = best available (see flowerlib/backend)
	Progress io.Writer // progress bars (nil: none)
	Log      io.Writer // epoch lines and messages (nil: none)
	OnEpoch  func(h History)
	OnStep   func(s StepInfo)
	MaxSteps int // stop after this many steps in this call (benchmarks, tests)
}

func (c Config) defaults() Config {
	c.Head = c.Head.Defaults()
	if c.Mode == "" {
		c.Mode = ModeCached
	}
	if c.ImageSize <= 0 {
		c.ImageSize = 224
	}
	if c.Seed == 0 {
		c.Seed = 42
	}
	if c.ValidSplit == 0 {
		c.ValidSplit = 0.2
	}
	if c.Weights == "" {
		c.Weights = "imagenet"
	}
	if c.CacheDir == "" {
		c.CacheDir = DefaultCacheDir()
	}
	if c.FineTuneLR <= 0 {
		c.FineTuneLR = 1e-5
	}
	if c.FineTuneEpochs <= 0 {
		c.FineTuneEpochs = 5
	}
	return c
}

// SeedAugment returns Config.Augment for the seed's ImageDataGenerator(rotation_range=40,
// width/height_shift_range=0.4, shear_range=0.2, zoom_range=0.3, horizontal_flip=True,
// fill_mode="nearest"), seeded, without the seed's rescale=1/255 (the ResNet50 weights expect
// RGB 0..255).
func SeedAugment(seed int64) func(epoch int) (Transform, string) {
	ac := augment.SeedArticle()
	ac.Rescale = 1
	ac.Seed = seed
	return func(epoch int) (Transform, string) {
		return ac.Transform(epoch), fmt.Sprintf("augment %+v epoch %d", ac, epoch)
	}
}

// DefaultCacheDir is $FLOWERS_CACHE, else <user cache dir>/flowers.
func DefaultCacheDir() string { return download.DefaultCacheDir() }

// RunInfo is run.json: what a run directory was trained on, read back by eval and predict.
type RunInfo struct {
	Data      string      `json:"data"`
	Weights   string      `json:"weights"`
	WeightsID string      `json:"weights_id"`
	CacheDir  string      `json:"cache_dir"`
	Head      head.Config `json:"head"`
	Mode      string      `json:"mode"`
	ImageSize int         `json:"image_size"`
	Seed      int64       `json:"seed"`
	Classes   []string    `json:"classes"`
	Split     SplitInfo   `json:"split"`
	DataKey   string      `json:"data_key"`
	FineTune  string      `json:"fine_tune,omitempty"`
}

// SplitInfo is the train/validation split of a run.
type SplitInfo struct {
	Train      []string `json:"train"`
	TrainCodes []int    `json:"train_codes"`
	Valid      []string `json:"valid"`
	ValidCodes []int    `json:"valid_codes"`
}

// RunInfoFile is the name of run.json in a run directory.
const RunInfoFile = "run.json"

// LoadRunInfo reads runDir/run.json.
func LoadRunInfo(runDir string) (*RunInfo, error) {
	path := filepath.Join(runDir, RunInfoFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Wrapf(err, "reading the run description (is %q a run directory of `flowers train`?)", runDir)
	}
	var ri RunInfo
	if err := json.Unmarshal(data, &ri); err != nil {
		return nil, errors.Wrapf(err, "decoding %q", path)
	}
	return &ri, nil
}

// Result is what Run returns.
type Result struct {
	RunDir   string             `json:"run_dir"`
	Resumed  string             `json:"resumed_from,omitempty"`
	Steps    int64              `json:"steps"`
	Epochs   int                `json:"epochs"`
	History  History            `json:"history"`
	Final    EpochStats         `json:"final"`
	Eval     *metrics.Report    `json:"eval,omitempty"`
	Seconds  float64            `json:"seconds"`
	Backend  string             `json:"backend"`
	Head     head.Config        `json:"head"`
	Mode     string             `json:"mode"`
	Classes  []string           `json:"classes"`
	Stopped  string             `json:"stopped,omitempty"`
	Features map[string]float64 `json:"features_seconds,omitempty"`
	// FineTune is the history of the fine-tuning phase (Config.FineTune), in RunDir/finetune.
	FineTune History `json:"fine_tune,omitempty"`
}

// LoadWeights resolves a weights spec: "imagenet" ($FLOWERS_WEIGHTS, else downloaded into
// cacheDir/weights once, md5-checked),
// "random[:SEED]" (seeded random values in the Keras layout: NOT ImageNet weights), or a path
// to a Keras .h5 file. It returns the weights and their identity for cache keys (the file's
// SHA-256, or "random:SEED").
func LoadWeights(spec, cacheDir string, log io.Writer) (*weights.File, string, error) {
	if spec == "random" || strings.HasPrefix(spec, "random:") {
		seed := int64(1)
		if s, ok := strings.CutPrefix(spec, "random:"); ok {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, "", errors.Errorf("weights %q: the seed after random: must be an integer", spec)
			}
			seed = v
		}
		if log != nil {
			fmt.Fprintf(log, "WARNING: random ResNet50 weights (seed %d), NOT ImageNet: accuracy will be far from the seed's.\n", seed)
		}
		return resnet50.RandomWeights(seed, false), fmt.Sprintf("random:%d", seed), nil
	}
	dir := filepath.Join(cacheDir, "weights")
	path, err := weights.Resolve(spec, dir, false)
	if err != nil {
		return nil, "", err
	}
	sum, err := weights.FileSHA256(path)
	if err != nil {
		return nil, "", errors.Wrapf(err, "weights file %q", path)
	}
	w, err := weights.Load(path, dir)
	if err != nil {
		return nil, "", err
	}
	return w, "sha256:" + sum, nil
}

func poolingOf(k head.Kind) resnet50.Pooling {
	switch k {
	case head.Avg:
		return resnet50.PoolingAvg
	case head.Max:
		return resnet50.PoolingMax
	}
	return resnet50.PoolingNone
}

// dataKey hashes the split so a resume with another split is refused.
func dataKey(s SplitInfo) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Run trains a head as configured: scan the dataset, split it, extract (or reuse) the frozen
// base's features, and fit, resuming from the run directory's last checkpoint when there is
// one. After training it evaluates on the validation split.
func Run(cfg Config) (*Result, error) {
	cfg = cfg.defaults()
	start := time.Now()
	if cfg.RunDir == "" {
		return nil, errors.New("train.Run: RunDir is required")
	}
	if err := cfg.Head.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mode != ModeCached && cfg.Mode != ModeAugment {
		return nil, errors.Errorf("train.Run: mode %q: want %s or %s", cfg.Mode, ModeCached, ModeAugment)
	}
	if cfg.Mode == ModeAugment && cfg.Augment == nil {
		return nil, errors.New("train.Run: mode augment needs Config.Augment (flowerlib/augment)")
	}
	table, report, err := labels.Scan(cfg.Data, labels.Options{})
	if err != nil {
		return nil, err
	}
	if cfg.Log != nil && report != nil && len(report.Skipped) > 0 {
		fmt.Fprintln(cfg.Log, report.Summary())
	}
	split, err := prepare.Split(table, prepare.Options{ValidFraction: cfg.ValidSplit, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	if cfg.Head.Classes != len(split.Classes) {
		cfg.Head.Classes = len(split.Classes)
	}
	w, weightsID, err := LoadWeights(cfg.Weights, cfg.CacheDir, cfg.Log)
	if err != nil {
		return nil, err
	}
	si := SplitInfo{Train: prepare.Paths(split.Train), TrainCodes: split.TrainCodes,
		Valid: prepare.Paths(split.Valid), ValidCodes: split.ValidCodes}
	info := &RunInfo{Data: cfg.Data, Weights: cfg.Weights, WeightsID: weightsID, CacheDir: cfg.CacheDir,
		Head: cfg.Head, Mode: cfg.Mode, ImageSize: cfg.ImageSize, Seed: cfg.Seed, Classes: split.Classes,
		Split: si, DataKey: dataKey(si), FineTune: cfg.FineTune}
	b, err := backend.New(cfg.Backend, cfg.Log)
	if err != nil {
		return nil, err
	}
	ex, err := resnet50.NewExtractor(b, w, resnet50.Options{Pooling: poolingOf(cfg.Head.Kind)})
	if err != nil {
		return nil, err
	}
	defer ex.Finalize()
	if cfg.Head.Kind == head.Flatten {
		cfg.Head.Grid = ex.OutputShape(1, cfg.ImageSize, cfg.ImageSize)[1]
		info.Head = cfg.Head
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating run directory %q", cfg.RunDir)
	}
	if old, err := LoadRunInfo(cfg.RunDir); err == nil {
		if err := CheckClasses(old.Classes, info.Classes); err != nil {
			return nil, errors.WithMessagef(err, "run directory %q", cfg.RunDir)
		}
		if old.Head.Kind != info.Head.Kind || old.WeightsID != info.WeightsID {
			return nil, errors.Errorf("run directory %q was trained with head %s and weights %s; now head %s and weights %s: use another -run directory",
				cfg.RunDir, old.Head.Kind, old.WeightsID, info.Head.Kind, info.WeightsID)
		}
	}
	infoJSON, _ := json.MarshalIndent(info, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(cfg.RunDir, RunInfoFile), infoJSON, 0o644); err != nil {
		return nil, err
	}

	res := &Result{RunDir: cfg.RunDir, Backend: b.Name(), Head: cfg.Head, Mode: cfg.Mode, Classes: split.Classes,
		Features: map[string]float64{}}

	// Validation (and, cached mode, training) features: one cache over the whole split.
	allPaths := append(append([]string{}, si.Train...), si.Valid...)
	featStart := time.Now()
	set, err := features.Build(ex, features.Options{CacheDir: filepath.Join(cfg.CacheDir, "features"), Paths: allPaths,
		Size: cfg.ImageSize, Pooling: poolingOf(cfg.Head.Kind).String(), WeightsID: weightsID,
		BatchSize: cfg.BatchSize, Progress: cfg.Progress, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	defer set.Close()
	res.Features["base"] = time.Since(featStart).Seconds()
	trainIdx, validIdx := seq(0, len(si.Train)), seq(len(si.Train), len(allPaths))
	trainData, droppedT := features.NewLabeled(set, trainIdx, toInt32(si.TrainCodes))
	validData, droppedV := features.NewLabeled(set, validIdx, toInt32(si.ValidCodes))
	if cfg.Log != nil && droppedT+droppedV > 0 {
		fmt.Fprintf(cfg.Log, "features: %d training and %d validation images could not be decoded and are left out\n", droppedT, droppedV)
	}
	var train Data = trainData
	if cfg.Mode == ModeAugment {
		aug := &augmented{ex: ex, cfg: cfg, paths: si.Train, codes: toInt32(si.TrainCodes), weightsID: weightsID, log: cfg.Log}
		if cfg.AugmentCopies > 0 {
			if err := aug.prebuild(); err != nil {
				return nil, err
			}
			defer aug.close()
			res.Features["augmented_copies"] = time.Since(featStart).Seconds() - res.Features["base"]
		}
		train = aug
	}

	store := model.NewStore()
	if err := head.Init(store.RootScope(), cfg.Head); err != nil {
		return nil, err
	}
	hc := cfg.Head
	tr, err := New(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return head.Logits(scope, x, hc)
	}, Options{Epochs: cfg.Epochs, BatchSize: cfg.BatchSize, LearningRate: cfg.LearningRate, Seed: cfg.Seed,
		RunDir: cfg.RunDir, Classes: split.Classes, DataKey: info.DataKey, Dropout: cfg.Head.Dropout,
		CheckpointSteps: cfg.CheckpointSteps, EarlyStopping: cfg.EarlyStopping, Monitor: cfg.Monitor,
		RestoreBest: cfg.RestoreBest, Progress: cfg.Progress, Log: cfg.Log, OnEpoch: cfg.OnEpoch,
		OnStep: cfg.OnStep, MaxSteps: cfg.MaxSteps,
		Grad: func(scope *model.Scope, x, labels *graph.Node) *head.Gradients {
			return head.TrainGradients(scope, x, labels, hc)
		}})
	if err != nil {
		return nil, err
	}
	if tr.Resumed != "" && cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "resuming from %s: step %d, epoch %d/%d (+%d steps)\n", filepath.Base(tr.Resumed),
			tr.State.Step, tr.State.Epoch+1, cfg.Epochs, tr.State.StepInEpoch)
	}
	res.Resumed = tr.Resumed
	if cfg.Log != nil && !tr.State.Done {
		steps := StepsPerEpoch(train.Len(), tr.Opts.BatchSize)
		trainable, _ := cfg.Head.NumParams()
		fmt.Fprintf(cfg.Log, "training a %s head (%d trainable parameters) on %d images, validating on %d: %d epochs × %d steps, batch %d, mode %s\n",
			cfg.Head.Kind, trainable, train.Len(), validData.Len(), cfg.Epochs, steps, tr.Opts.BatchSize, cfg.Mode)
	}
	hist, err := tr.Fit(train, validData)
	if err != nil {
		return nil, err
	}
	if cfg.FineTune != "" && tr.State.Done {
		keep := func(i int) bool { return set.RowOf(i) >= 0 }
		ft, err := fineTune(b, w, tr, cfg, si, keep)
		if err != nil {
			return nil, err
		}
		res.FineTune = ft
	}
	res.History, res.Steps, res.Epochs, res.Stopped = hist, tr.State.Step, len(hist), tr.State.Stopped
	if len(hist) > 0 {
		res.Final = hist[len(hist)-1]
	}
	if tr.State.Done {
		ev, err := tr.Evaluate(validData)
		if err != nil {
			return nil, err
		}
		if res.Eval, err = ev.Report(split.Classes); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func seq(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func toInt32(x []int) []int32 {
	out := make([]int32, len(x))
	for i, v := range x {
		out[i] = int32(v)
	}
	return out
}

// augmented is the augment-mode training Data: each epoch's batches are decoded, augmented
// (Config.Augment(epoch)) and run through the frozen base on the fly, or read from one of
// AugmentCopies cached augmented copies.
type augmented struct {
	ex        *resnet50.Extractor
	cfg       Config
	paths     []string
	codes     []int32
	weightsID string
	log       io.Writer
	copies    []*features.Set
}

func (a *augmented) Len() int          { return len(a.paths) }
func (a *augmented) Label(i int) int32 { return a.codes[i] }

func (a *augmented) prebuild() error {
	for k := 0; k < a.cfg.AugmentCopies; k++ {
		tf, id := a.cfg.Augment(k)
		s, err := features.Build(a.ex, features.Options{CacheDir: filepath.Join(a.cfg.CacheDir, "features"),
			Paths: a.paths, Size: a.cfg.ImageSize, Pooling: poolingOf(a.cfg.Head.Kind).String(),
			WeightsID: a.weightsID, BatchSize: a.cfg.BatchSize, Transform: tf, TransformID: fmt.Sprintf("copy %d: %s", k, id),
			Progress: a.cfg.Progress, Log: a.log})
		if err != nil {
			return err
		}
		if len(s.Failures) > 0 {
			s.Close()
			return errors.Errorf("augmented copy %d: %d images failed to decode (first %s: %s); remove them from the dataset",
				k, len(s.Failures), s.Failures[0].Path, s.Failures[0].Reason)
		}
		a.copies = append(a.copies, s)
	}
	return nil
}

func (a *augmented) close() {
	for _, s := range a.copies {
		s.Close()
	}
}

func (a *augmented) Inputs(idx []int, epoch int) (*tensors.Tensor, error) {
	if len(a.copies) > 0 {
		return a.copies[epoch%len(a.copies)].Gather(idx), nil
	}
	size := a.cfg.ImageSize
	pix, err := loadPixels(a.paths, idx, size, a.cfg.Augment, epoch)
	if err != nil {
		return nil, err
	}
	out, err := a.ex.ExtractFloats(pix, len(idx), size, size)
	if err != nil {
		return nil, err
	}
	dims := a.ex.OutputShape(len(idx), size, size)
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	tensors.MustMutableFlatData[float32](t, func(f []float32) { copy(f, out) })
	return t, nil
}

// loadPixels decodes paths[idx] at size×size into float32 NHWC RGB 0..255, augmented with
// augment(epoch) when augment is set and epoch ≥ 0 (training).
func loadPixels(paths []string, idx []int, size int, augment func(int) (Transform, string), epoch int) ([]float32, error) {
	var tf Transform
	if augment != nil && epoch >= 0 {
		tf, _ = augment(epoch)
	}
	n := size * size * 3
	pix := make([]float32, len(idx)*n)
	for i, j := range idx {
		img, err := images.Load(paths[j], size)
		if err != nil {
			return nil, err
		}
		if tf != nil {
			tf(j, img, pix[i*n:(i+1)*n])
		} else {
			img.Float32Into(pix[i*n : (i+1)*n])
		}
	}
	return pix, nil
}

// imageData is Data of image files: inputs are the decoded images [n, size, size, 3] (for
// fine-tuning, where the base runs inside the trained graph).
type imageData struct {
	paths   []string
	codes   []int32
	size    int
	augment func(int) (Transform, string)
}

func (d *imageData) Len() int          { return len(d.paths) }
func (d *imageData) Label(i int) int32 { return d.codes[i] }
func (d *imageData) Inputs(idx []int, epoch int) (*tensors.Tensor, error) {
	pix, err := loadPixels(d.paths, idx, d.size, d.augment, epoch)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(pix, len(idx), d.size, d.size, 3), nil
}

// fineTune continues a finished head training with the base unfrozen from cfg.FineTune (e.g.
// "conv5"), on images (augmented when cfg.Augment is set), at cfg.FineTuneLR for
// cfg.FineTuneEpochs epochs, in RunDir/finetune (resumable like the first phase). The base's
// trainable layers then use batch statistics in training, as in Keras.
func fineTune(b compute.Backend, w *weights.File, headTrainer *Trainer, cfg Config, si SplitInfo, keep func(int) bool) (History, error) {
	store := model.NewStore()
	var headVars []NamedArray
	for _, a := range headTrainer.arrays() {
		if strings.HasPrefix(a.Name, "var:") {
			headVars = append(headVars, a)
		}
	}
	if err := SetVariables(store, headVars, nil); err != nil {
		return nil, err
	}
	train := &imageData{size: cfg.ImageSize, augment: cfg.Augment}
	valid := &imageData{size: cfg.ImageSize}
	for i, p := range si.Train {
		if keep(i) {
			train.paths, train.codes = append(train.paths, p), append(train.codes, int32(si.TrainCodes[i]))
		}
	}
	for i, p := range si.Valid {
		if keep(len(si.Train) + i) {
			valid.paths, valid.codes = append(valid.paths, p), append(valid.codes, int32(si.ValidCodes[i]))
		}
	}
	hc := cfg.Head
	stage := cfg.FineTune
	build := func(scope *model.Scope, x *graph.Node) *graph.Node {
		feats := resnet50.BuildGraph(scope.In("resnet50"), x).PreTrained(w).TrainableFrom(stage).
			Pooling(poolingOf(hc.Kind)).Done()
		return head.Logits(scope, feats, hc)
	}
	o := headTrainer.Opts
	o.RunDir = filepath.Join(cfg.RunDir, "finetune")
	o.Epochs, o.LearningRate, o.Grad = cfg.FineTuneEpochs, cfg.FineTuneLR, nil
	if o.Log != nil {
		fmt.Fprintf(o.Log, "fine-tuning the base from %q with the head, lr %g, %d epochs, in %s\n", stage, o.LearningRate, o.Epochs, o.RunDir)
	}
	tr, err := New(b, store, build, o)
	if err != nil {
		return nil, err
	}
	return tr.Fit(train, valid)
}
