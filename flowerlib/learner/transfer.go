package learner

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/pkg/errors"
)

// StageProbe is the linear probe of one layer's pooled output.
type StageProbe struct {
	Layer    string // e.g. "conv3_block4_out"
	Channels int    // features the probe sees (the layer's channels, globally averaged)
	Grid     int    // the layer's spatial side at the run's image size (56, 28, 14, 7 at 224²)
	// TrainAccuracy and ValAccuracy, ValLoss after the last epoch.
	TrainAccuracy, ValAccuracy, ValLoss float64
	History                             trainer.History
}

// Transfer is the transferability-by-depth experiment: one linear probe per stage.
type Transfer struct {
	Stages  []StageProbe
	Classes []string
	Weights string
	// Chance is the validation accuracy of always answering the most frequent class.
	Chance float64
	// FeatureSeconds were spent extracting the stage outputs (about 0 from the cache).
	FeatureSeconds float64
	Seconds        float64
}

// Transferability asks Yosinski et al.'s question (2014: "How transferable are features in deep
// neural networks?") of the frozen base: how much of the flower classes can be read off each
// stage's output? One pass of the base gives the globally averaged outputs of the layers
// (default resnet50.StageOutputs: conv2_block3_out, conv3_block4_out, conv4_block6_out,
// conv5_block3_out; cached), then a linear probe — softmax regression on the standardised
// features, trained with cfg's Options (epochs, batch, Adam's rate, seed) — is fit per layer on
// the training photos and scored on the validation photos. Early stages hold general features
// (edges, colours, textures), late ones the specific features ImageNet's classes needed.
//
// The probes train in cfg.RunDir/probe-<layer> (resumable like any run: running again with the
// same settings reads the finished runs). No head of the run is trained.
func Transferability(cfg Config, layers []string) (*Transfer, error) {
	start := time.Now()
	if cfg.RunDir == "" {
		return nil, errors.New("learner.Transferability: a run folder (RunDir) is required: the probes train in <RunDir>/probe-<layer>")
	}
	if len(layers) == 0 {
		layers = resnet50.StageOutputs
	}
	l, err := openData(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	featStart := time.Now()
	set, err := l.stageFeatures(layers)
	if err != nil {
		return nil, err
	}
	defer set.Close()
	si := l.Info.Split
	var train, valid []int // rows of the set
	var trainY, validY []int32
	for i := range si.Train {
		if r := set.RowOf(i); r >= 0 {
			train, trainY = append(train, r), append(trainY, int32(si.TrainCodes[i]))
		}
	}
	for i := range si.Valid {
		if r := set.RowOf(len(si.Train) + i); r >= 0 {
			valid, validY = append(valid, r), append(validY, int32(si.ValidCodes[i]))
		}
	}
	if len(train) == 0 || len(valid) == 0 {
		return nil, errors.Errorf("learner.Transferability: %d training and %d validation photos decoded: not enough to probe", len(train), len(valid))
	}
	widths := make([]int, len(layers))
	for i, name := range layers {
		widths[i] = resnet50.OutputChannels(name)
	}
	res := &Transfer{Classes: l.Info.Classes, Weights: l.Weights, Chance: majorityShare(validY, len(l.Info.Classes)),
		FeatureSeconds: time.Since(featStart).Seconds()}
	if !set.Rebuilt {
		res.FeatureSeconds = 0
	}
	grids, err := resnet50.Layers(resnet50.Options{Height: l.ImageSize, Width: l.ImageSize})
	if err != nil {
		return nil, err
	}
	x := func(rows []int) []float32 {
		out := make([]float32, 0, len(rows)*set.RowSize())
		for _, r := range rows {
			out = append(out, set.Row(r)...)
		}
		return out
	}
	opts := l.options(l.weights)
	opts.Progress, opts.Log, opts.OnStep, opts.OnEpoch = nil, nil, nil, nil // a probe epoch takes milliseconds: one line per probe
	dirs := make([]string, len(layers))
	for i, name := range layers {
		dirs[i] = filepath.Join(l.RunDir, "probe-"+name)
	}
	probes, err := probeStages(l.Backend, dirs, set.Key, x(train), trainY, x(valid), validY, widths, len(l.Info.Classes), opts)
	if err != nil {
		return nil, err
	}
	for i, p := range probes {
		p.Layer = layers[i]
		for _, g := range grids {
			if g.Name == p.Layer {
				p.Grid = g.OutputShape[0]
			}
		}
		res.Stages = append(res.Stages, p)
		logf(l.Log, "probe %-17s %4d channels: val_accuracy %.3f (train %.3f)\n", p.Layer, p.Channels, p.ValAccuracy, p.TrainAccuracy)
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// probeStages fits one linear probe per block of columns: train and valid hold rows of
// Σ widths values, block s being columns [Σ widths[:s], Σ widths[:s+1]). Probe s trains in
// dirs[s]; dataKey identifies the features (a run folder of other features is refused).
func probeStages(b compute.Backend, dirs []string, dataKey string, train []float32, trainY []int32, valid []float32, validY []int32,
	widths []int, classes int, opts trainer.Options) ([]StageProbe, error) {
	total := 0
	for _, w := range widths {
		total += w
	}
	nt, nv := len(trainY), len(validY)
	if len(dirs) != len(widths) {
		return nil, errors.Errorf("learner: %d run folders for %d probes", len(dirs), len(widths))
	}
	if len(train) != nt*total || len(valid) != nv*total {
		return nil, errors.Errorf("learner: probe data: %d and %d values for %d and %d rows of %d", len(train), len(valid), nt, nv, total)
	}
	var out []StageProbe
	lo := 0
	for s, w := range widths {
		tr, va := columns(train, nt, total, lo, w), columns(valid, nv, total, lo, w)
		standardise(tr, va, w)
		id := identity{DataKey: fmt.Sprintf("linear probe of columns %d..%d of features %s: %d classes, %d/%d examples",
			lo, lo+w, dataKey, classes, nt, nv)}
		p, err := fitProbe(b, dirs[s], id, &trainer.ArrayData{X: tr, Dims: []int{w}, Y: trainY},
			&trainer.ArrayData{X: va, Dims: []int{w}, Y: validY}, classes, opts)
		if err != nil {
			return nil, errors.WithMessagef(err, "probe of block %d (%d channels)", s, w)
		}
		p.Channels = w
		out = append(out, *p)
		lo += w
	}
	return out, nil
}

// columns copies columns [lo, lo+w) of the n rows of x (row length total).
func columns(x []float32, n, total, lo, w int) []float32 {
	out := make([]float32, 0, n*w)
	for i := range n {
		out = append(out, x[i*total+lo:i*total+lo+w]...)
	}
	return out
}

// standardise scales every column of train and valid (rows of w) by the training rows' mean
// and standard deviation (constant columns are only centred), as a linear probe expects.
func standardise(train, valid []float32, w int) {
	n := len(train) / w
	for j := range w {
		var s, ss float64
		for i := range n {
			v := float64(train[i*w+j])
			s += v
			ss += v * v
		}
		mean := s / float64(n)
		sd := math.Sqrt(math.Max(ss/float64(n)-mean*mean, 0))
		if sd < 1e-8 {
			sd = 1
		}
		for _, x := range [][]float32{train, valid} {
			for i := j; i < len(x); i += w {
				x[i] = float32((float64(x[i]) - mean) / sd)
			}
		}
	}
}

// ProbeScope is the scope of a linear probe's variables ("/probe/kernel", "/probe/bias").
const ProbeScope = "probe"

// fitProbe trains softmax regression (kernel and bias from zeros: a convex problem, one answer)
// on train and scores it on valid after every epoch.
func fitProbe(b compute.Backend, dir string, id identity, train, valid *trainer.ArrayData, classes int, opts trainer.Options) (*StageProbe, error) {
	w := train.Dims[0]
	store := model.NewStore()
	scope := store.RootScope().In(ProbeScope)
	for _, v := range []struct {
		name string
		dims []int
	}{{"kernel", []int{w, classes}}, {"bias", []int{classes}}} {
		if _, err := scope.CreateVariable(v.name, tensors.FromShape(shapes.Make(dtypes.Float32, v.dims...))); err != nil {
			return nil, err
		}
	}
	tr, err := trainer.New(trainer.Config{Backend: b, Store: store, RunDir: dir, Model: linearProbe, Identity: id,
		CheckIdentity: id.check, Options: opts})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	hist, err := tr.Fit(train, valid)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, errors.New("no epoch trained")
	}
	last := hist[len(hist)-1]
	return &StageProbe{TrainAccuracy: last.Accuracy, ValAccuracy: last.ValAccuracy, ValLoss: last.ValLoss, History: hist}, nil
}

// linearProbe is the probe's model: logits = x·kernel + bias.
func linearProbe(scope *model.Scope, x *graph.Node) *graph.Node {
	s := scope.In(ProbeScope)
	g := x.Graph()
	return graph.Add(graph.MatMul(x, s.GetVariable("kernel").NodeValue(g)), graph.ExpandAxes(s.GetVariable("bias").NodeValue(g), 0))
}

// majorityShare is the share of the most frequent label.
func majorityShare(labels []int32, classes int) float64 {
	counts := make([]int, classes)
	best := 0
	for _, y := range labels {
		if int(y) < classes {
			counts[y]++
			best = max(best, counts[y])
		}
	}
	if len(labels) == 0 {
		return math.NaN()
	}
	return float64(best) / float64(len(labels))
}
