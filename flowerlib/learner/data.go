package learner

import (
	"fmt"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pkg/errors"
)

// photos is trainer.Data of image files through ex (the frozen base, or features.Pixels for a
// model that takes images): each batch is decoded in parallel, resized, augmented with the
// epoch's draws when aug is set (training epochs only; each photo's draws depend on (seed,
// epoch, its index here), not on the batch it falls in), then run through ex.
type photos struct {
	paths []string
	codes []int32
	size  int
	aug   *augment.Config
	ex    features.Extractor
}

func (d *photos) Len() int          { return len(d.paths) }
func (d *photos) Label(i int) int32 { return d.codes[i] }

func (d *photos) Inputs(idx []int, epoch int) (*tensors.Tensor, error) {
	paths := make([]string, len(idx))
	for k, i := range idx {
		paths[k] = d.paths[i]
	}
	opts := features.Options{Size: d.size, BatchSize: len(idx)}
	if d.aug != nil && epoch >= 0 {
		opts.Transform = d.aug.TransformSubset(epoch, idx)
	}
	dims := d.ex.OutputShape(len(idx), d.size, d.size)
	t := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	row := t.Shape().Size() / len(idx)
	var err error
	tensors.MustMutableFlatData[float32](t, func(flat []float32) {
		var failures []features.Failure
		failures, err = features.Extract(d.ex, paths, opts, func(indices []int, feats []float32) error {
			copy(flat[indices[0]*row:], feats)
			return nil
		})
		if err == nil && len(failures) > 0 {
			f := failures[0]
			err = errors.Errorf("%q decoded when the run started but not now (%s): did the dataset change while training?", f.Path, f.Reason)
		}
	})
	if err != nil {
		t.FinalizeAll()
		return nil, err
	}
	return t, nil
}

// augmentID identifies an augmentation of an epoch in cache keys.
func augmentID(a *augment.Config, epoch int) string {
	return fmt.Sprintf("augment %+v epoch %d", *a, epoch)
}

// augmentedCopies extracts Run.AugmentCopies augmented copies of the training features
// (cached like the plain ones) and returns the Data that cycles through them: epoch e reads
// copy e mod K.
func (l *Learner) augmentedCopies(p *photos) (trainer.Data, error) {
	for k := 0; k < l.AugmentCopies; k++ {
		s, err := features.Build(l.ex, features.Options{CacheDir: l.FeaturesDir(),
			Paths: p.paths, Size: l.ImageSize, Pooling: poolingOf(l.Pooling).String(), WeightsID: l.Info.WeightsID,
			BatchSize: l.BatchSize, Transform: l.Augmentation.Transform(k), TransformID: fmt.Sprintf("copy %d: %s", k, augmentID(l.Augmentation, k)),
			Progress: l.Progress, Log: l.Log})
		if err != nil {
			return nil, err
		}
		l.copies = append(l.copies, s)
		if len(s.Failures) > 0 {
			f := s.Failures[0]
			return nil, errors.Errorf("augmented copy %d: %d photos that decoded before now fail (first %q: %s): did the dataset change while training?",
				k, len(s.Failures), f.Path, f.Reason)
		}
	}
	return &copies{sets: l.copies, codes: p.codes}, nil
}

// copies is the training Data of cached augmented copies.
type copies struct {
	sets  []*features.Set
	codes []int32
}

func (c *copies) Len() int          { return len(c.codes) }
func (c *copies) Label(i int) int32 { return c.codes[i] }
func (c *copies) Inputs(idx []int, epoch int) (*tensors.Tensor, error) {
	return c.sets[epoch%len(c.sets)].Gather(idx), nil
}
