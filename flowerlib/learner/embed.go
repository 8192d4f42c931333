package learner

import (
	"math"
	"time"

	"github.com/flowerlib/flowers/flowerlib/embedding"
	"github.com/pkg/errors"
)

// Embedding methods (EmbedOptions.Method).
const (
	EmbedPCA  = "pca"
	EmbedTSNE = "tsne"
)

// DefaultMaxPoints bounds the photos of an embedding map: PCA works on the n×n Gram matrix and
// exact t-SNE costs O(n²) per iteration, both seconds at 1000 photos.
const DefaultMaxPoints = 1000

// EmbedOptions configure Embed; zero values take the defaults.
type EmbedOptions struct {
	Method string // EmbedPCA (default) or EmbedTSNE
	// TSNE are t-SNE's settings (scikit-learn's defaults).
	TSNE embedding.TSNEOptions
	// MaxPoints: at most this many photos (default DefaultMaxPoints), taken evenly over the
	// training and the validation photos.
	MaxPoints int
}

// Embedding is a 2-D map of the frozen base's pooled features (2048 values per photo), one
// point per photo: do photos of a class land together before any training? With ImageNet
// weights they largely do on flower photos, which is why a small labelled set is enough.
type Embedding struct {
	Method    string
	Weights   string // the weights spec, as in Config.Weights ("imagenet", "random:42", a file)
	WeightsID string
	Classes   []string
	Paths     []string  // the photos drawn
	Labels    []int     // class of each
	Valid     []bool    // the photo is in the validation split
	Points    []float64 // n × 2, row-major
	// Explained is, for PCA, the share of the features' variance along each axis.
	Explained []float64
	// NeighbourAccuracy is the validation accuracy of the nearest training photo's class in
	// the full 2048-d features (Euclidean): how well the classes separate with no training at
	// all. MapNeighbourAccuracy is the same in the 2-D map. Chance is about 1/len(Classes).
	NeighbourAccuracy, MapNeighbourAccuracy float64
	// Seconds of the whole call; FeatureSeconds of it spent extracting features (about 0 when
	// they came from the cache).
	Seconds, FeatureSeconds float64
}

// Embed maps the frozen features of cfg's photos to 2-D. The features are those the run's
// avg head trains on (global average of conv5_block3_out, from the same cache: extracted once
// per dataset, weights and image size), so the map shows exactly what the head starts from.
// cfg.RunDir is not used (nothing is trained or written but the features cache); the head
// settings are ignored.
func Embed(cfg Config, opts EmbedOptions) (*Embedding, error) {
	start := time.Now()
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Pooling = "avg"
	l, err := openData(cfg)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.loadBase(); err != nil {
		return nil, err
	}
	if err := l.extractFeatures(); err != nil {
		return nil, err
	}
	e := &Embedding{Method: opts.Method, Weights: l.Weights, WeightsID: l.Info.WeightsID, Classes: l.Info.Classes,
		FeatureSeconds: l.FeatureSeconds["base"]}
	all := l.embedPhotos(opts.MaxPoints)
	n, d := len(all), l.set.RowSize()
	if n < 3 {
		return nil, errors.Errorf("learner.Embed: %d photos decoded: a map needs at least 3", n)
	}
	x := make([]float32, 0, n*d)
	for _, p := range all {
		x = append(x, l.set.Row(p.row)...)
		e.Paths, e.Labels, e.Valid = append(e.Paths, p.path), append(e.Labels, p.label), append(e.Valid, p.valid)
	}
	switch opts.Method {
	case EmbedPCA:
		e.Points, e.Explained, err = embedding.PCA(x, n, d, 2)
	case EmbedTSNE:
		e.Points, err = embedding.TSNE(x, n, d, opts.TSNE)
	}
	if err != nil {
		return nil, err
	}
	e.NeighbourAccuracy = neighbourAccuracy(x, d, e.Labels, e.Valid)
	pts := make([]float32, len(e.Points))
	for i, v := range e.Points {
		pts[i] = float32(v)
	}
	e.MapNeighbourAccuracy = neighbourAccuracy(pts, 2, e.Labels, e.Valid)
	e.Seconds = time.Since(start).Seconds()
	logf(l.Log, "embedding (%s) of %d photos, %s weights: nearest-neighbour accuracy %.2f in the features, %.2f in the map (chance ≈ %.2f), %.1fs\n",
		e.Method, n, e.Weights, e.NeighbourAccuracy, e.MapNeighbourAccuracy, 1/float64(len(e.Classes)), e.Seconds)
	return e, nil
}

// withDefaults returns opts with its zero fields set to the defaults, or an error naming what
// Embed cannot map.
func (opts EmbedOptions) withDefaults() (EmbedOptions, error) {
	if opts.Method == "" {
		opts.Method = EmbedPCA
	}
	if opts.Method != EmbedPCA && opts.Method != EmbedTSNE {
		return opts, errors.Errorf("learner.Embed: method %q: want %q or %q", opts.Method, EmbedPCA, EmbedTSNE)
	}
	if opts.MaxPoints == 0 {
		opts.MaxPoints = DefaultMaxPoints
	}
	if opts.MaxPoints < 3 {
		return opts, errors.Errorf("learner.Embed: MaxPoints %d: a map needs at least 3 photos", opts.MaxPoints)
	}
	return opts, nil
}

// embedPhoto is a photo of an embedding map: its row in the features, class and split.
type embedPhoto struct {
	row, label int
	path       string
	valid      bool
}

// embedPhotos returns every photo of l's split that decoded, training ones first, evenly
// thinned to maxPoints.
func (l *Learner) embedPhotos(maxPoints int) []embedPhoto {
	si := l.Info.Split
	var all []embedPhoto
	for i, p := range append(append([]string{}, si.Train...), si.Valid...) {
		if r := l.set.RowOf(i); r >= 0 {
			code, valid := 0, i >= len(si.Train)
			if valid {
				code = si.ValidCodes[i-len(si.Train)]
			} else {
				code = si.TrainCodes[i]
			}
			all = append(all, embedPhoto{row: r, label: code, path: p, valid: valid})
		}
	}
	if len(all) > maxPoints {
		thin := make([]embedPhoto, maxPoints)
		for k := range thin {
			thin[k] = all[k*len(all)/maxPoints]
		}
		all = thin
	}
	return all
}

// neighbourAccuracy is the share of the valid rows of x (n × d) whose nearest non-valid row
// (Euclidean) has their label: a 1-nearest-neighbour classifier fitted on the training photos.
// NaN when either part is empty.
func neighbourAccuracy(x []float32, d int, labels []int, valid []bool) float64 {
	var right, total int
	for i := range labels {
		if !valid[i] {
			continue
		}
		best, bestD := -1, math.Inf(1)
		xi := x[i*d : (i+1)*d]
		for j := range labels {
			if valid[j] {
				continue
			}
			xj := x[j*d : (j+1)*d]
			var s float64
			for k := range xi {
				v := float64(xi[k] - xj[k])
				s += v * v
			}
			if s < bestD {
				best, bestD = j, s
			}
		}
		if best < 0 {
			return math.NaN()
		}
		total++
		if labels[best] == labels[i] {
			right++
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return float64(right) / float64(total)
}
