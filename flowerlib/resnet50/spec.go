package resnet50

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/internal/conv"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/pkg/errors"
)

// ParseRandomSpec parses a weights spec of the form "random" or "random:SEED" (seeded random
// weights in the Keras layout, see RandomWeights): isRandom is false for any other spec.
func ParseRandomSpec(spec string) (seed int64, isRandom bool, err error) {
	if spec != "random" && !strings.HasPrefix(spec, "random:") {
		return 0, false, nil
	}
	seed = 1
	if s, ok := strings.CutPrefix(spec, "random:"); ok {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, true, errors.Errorf("weights %q: the seed must be an integer, e.g. random:1", spec)
		}
	}
	return seed, true, nil
}

// Pretrained is a base's weights with the identity that caches are keyed by.
type Pretrained struct {
	Spec string        // as asked: "imagenet", a file, "random:SEED"
	ID   string        // "sha256:<hex>" of the weights file, or "random:SEED"
	File *weights.File // the tensors, checked against ResNet50
	// Integrity is how the file was verified (weights.Integrity; zero for random weights).
	Integrity weights.Integrity
}

// LoadPretrained returns the weights named by spec, checked against ResNet50 (with or
// without the top), and their identity:
//   - "imagenet" or "": $FLOWERS_WEIGHTS when set, else the official Keras file, downloaded
//     once into cacheDir and verified (weights.Resolve);
//   - "random" or "random:SEED": RandomWeights (seed 1 by default), NOT ImageNet weights — a
//     loud warning goes to log;
//   - anything else: a Keras 2 .h5 or Keras 3 .weights.h5 file, mapped onto ResNet50 by
//     MapWeights (Keras' rules: by layer order, names as a cross-check).
//
// Files are read through weights.Load's converted cache in cacheDir ("" reads the file
// directly), which verifies them (weights.Integrity). A file that could not be verified must
// pass CheckStatistics and is said to be unverified on log (verified ones must hold finite
// values); MapWeights' notes go to log too.
func LoadPretrained(spec, cacheDir string, top bool, log io.Writer) (*Pretrained, error) {
	seed, isRandom, err := ParseRandomSpec(spec)
	if err != nil {
		return nil, err
	}
	if isRandom {
		if log != nil {
			fmt.Fprintf(log, "WARNING: random ResNet50 weights (seed %d), NOT ImageNet: results only test the pipeline\n", seed)
		}
		return &Pretrained{Spec: spec, ID: fmt.Sprintf("random:%d", seed), File: RandomWeights(seed, top)}, nil
	}
	path, err := weights.Resolve(spec, cacheDir, top, log)
	if err != nil {
		return nil, err
	}
	sum, err := weights.FileSHA256(path)
	if err != nil {
		return nil, err
	}
	raw, err := weights.Load(path, cacheDir)
	if err != nil {
		return nil, err
	}
	w, rep, err := MapWeights(raw, top)
	if err != nil {
		return nil, errors.WithMessagef(err, "weights file %q", path)
	}
	if log != nil {
		for _, n := range rep.Notes() {
			fmt.Fprintf(log, "weights %s: %s\n", path, n)
		}
	}
	check := checkFinite
	if !raw.Integrity.Verified {
		check = CheckStatistics
	}
	if err := check(w); err != nil {
		return nil, errors.WithMessagef(err, "weights file %q is damaged (download it again, or check how it was written)", path)
	}
	if !raw.Integrity.Verified && log != nil {
		fmt.Fprintf(log, "weights %s are unverified (%s): their statistics are sane (finite, BatchNorm variances positive)\n", path, raw.Integrity.How)
	}
	return &Pretrained{Spec: spec, ID: "sha256:" + sum, File: w, Integrity: raw.Integrity}, nil
}

// Weights returns the tensors (nil for a nil Pretrained: a model whose variables all come from
// a checkpoint).
func (p *Pretrained) Weights() *weights.File {
	if p == nil {
		return nil
	}
	return p.File
}

// SetConvolutions chooses how every convolution of the process's ResNet50 graphs is computed
// (flowerlib/internal/conv): "auto" (the fast matmul formulation on the go backend, XLA's
// native one elsewhere), "fast" or "native" (graph.Convolve everywhere: the reference); bf16
// makes the fast path multiply in bfloat16 with float32 accumulation. Graphs built afterwards
// use it. Without a call, $FLOWERS_CONV and $FLOWERS_CONV_BF16 decide.
func SetConvolutions(mode string, bf16 bool) error {
	m, err := conv.ParseMode(mode)
	if err != nil {
		return errors.Errorf("convolution path %q: want auto, fast or native", mode)
	}
	conv.SetMode(m)
	conv.SetBFloat16(bf16)
	return nil
}
