package learner

import (
	"fmt"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/pkg/errors"
)

// augmented is the augment-mode training Data: each epoch's batches are decoded, augmented
// (Config.Augment(epoch)) and run through the frozen base on the fly, or read from one of
// AugmentCopies cached augmented copies. Only photos that decoded in the features pass are in it.
type augmented struct {
	l     *Learner
	paths []string
	codes []int32
}

func (a *augmented) Len() int          { return len(a.paths) }
func (a *augmented) Label(i int) int32 { return a.codes[i] }

func (a *augmented) prebuild() error {
	l := a.l
	for k := 0; k < l.AugmentCopies; k++ {
		tf, id := l.Augment(k)
		s, err := features.Build(l.ex, features.Options{CacheDir: filepath.Join(l.CacheDir, "features"),
			Paths: a.paths, Size: l.ImageSize, Pooling: poolingOf(l.Kind).String(), WeightsID: l.Info.WeightsID,
			BatchSize: l.BatchSize, Transform: tf, TransformID: fmt.Sprintf("copy %d: %s", k, id),
			Progress: l.Progress, Log: l.Log})
		if err != nil {
			return err
		}
		l.copies = append(l.copies, s)
		if len(s.Failures) > 0 {
			f := s.Failures[0]
			return errors.Errorf("augmented copy %d: %d photos that decoded before now fail (first %q: %s): did the dataset change while training?",
				k, len(s.Failures), f.Path, f.Reason)
		}
	}
	return nil
}

func (a *augmented) Inputs(idx []int, epoch int) (*tensors.Tensor, error) {
	l := a.l
	if len(l.copies) > 0 {
		return l.copies[epoch%len(l.copies)].Gather(idx), nil
	}
	size := l.ImageSize
	pix, err := loadPixels(a.paths, idx, size, l.Augment, epoch)
	if err != nil {
		return nil, err
	}
	out, err := l.ex.ExtractFloats(pix, len(idx), size, size)
	if err != nil {
		return nil, err
	}
	dims := l.ex.OutputShape(len(idx), size, size)
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
// fine-tuning and fine-tuned models, where the base runs inside the graph).
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
