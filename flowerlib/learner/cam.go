package learner

import (
	"github.com/flowerlib/flowers/flowerlib/cam"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// CAM methods (CAMResult.Method).
const (
	MethodCAM     = "CAM"      // heads on avg-pooled features: Σ_k w_k·A_k, signed (Zhou et al. 2016)
	MethodGradCAM = "Grad-CAM" // on max-pooled features or the map: ReLU(Σ_k α_k·A_k) (Selvaraju et al. 2017)
)

// CAMResult is where the model looks in one photo: a map over the base's last feature map
// (conv5_block3_out, H×W = 7×7 at 224²) for the class the model predicts, to be upsampled and
// overlaid on the photo (cam.Overlay).
type CAMResult struct {
	Path        string
	True        int     // class index; -1 when unknown (a photo of your own)
	Predicted   int     // the class the map explains
	Probability float64 // the model's probability of Predicted
	Probs       []float32
	Map         []float32 // H×W values, row-major: positive where the photo supports Predicted
	H, W        int
	Method      string // MethodCAM or MethodGradCAM
	Err         string // why the file could not be used (then no map)
}

// Wrong reports whether the model's answer differs from the known true class.
func (r CAMResult) Wrong() bool { return r.True >= 0 && r.Err == "" && r.True != r.Predicted }

// CAM explains the model's answer for each image file: the photo (decoded and resized as in
// training) goes through the base up to its last feature map A [H, W, 2048], the head gives
// the class probabilities from it (pooled as in training), and the map of the predicted class
// is computed by cam.Maps: CAM for the avg head — the class's weights over A, exact for
// a linear head and the first-order part of the score for the article's — and Grad-CAM for the
// max and flatten heads. A fine-tuned model uses its fine-tuned base. A file that cannot be
// decoded gets Err; the others are still explained.
func (m *Model) CAM(paths []string) ([]CAMResult, error) {
	labels := make([]int, len(paths))
	for i := range labels {
		labels[i] = -1
	}
	return m.cam(paths, labels)
}

// ValidationCAM is CAM on the first n validation photos of the run (n ≤ 0: all), with their
// true classes: the mistakes are the ones to look at.
func (m *Model) ValidationCAM(n int) ([]CAMResult, error) {
	si := m.Info.Split
	k := len(si.Valid)
	if n > 0 && n < k {
		k = n
	}
	return m.cam(si.Valid[:k], si.ValidCodes[:k])
}

func (m *Model) cam(paths []string, labels []int) ([]CAMResult, error) {
	pooling := m.Info.Head.Pooling
	base, err := m.featureMapBase()
	if err != nil {
		return nil, err
	}
	defer base.finalize()
	// The class probabilities from the feature map, pooled as the head was trained.
	score := cam.HeadScore(m.headFn, pooling)
	probsExec, err := model.NewExec(m.Backend, m.store, func(scope *model.Scope, fm *graph.Node) *graph.Node {
		m.store.SetTraining(fm.Graph(), false)
		return graph.Softmax(score(scope, fm), -1)
	})
	if err != nil {
		return nil, errors.WithMessage(err, "cam")
	}
	defer probsExec.Finalize()
	method, signed := MethodGradCAM, false
	if pooling == "avg" {
		method, signed = MethodCAM, true
	}
	size := m.Info.ImageSize
	classes := len(m.Info.Classes)
	out := make([]CAMResult, len(paths))
	for i, p := range paths {
		out[i] = CAMResult{Path: p, True: labels[i], Predicted: -1, Method: method}
	}
	failures, err := features.Extract(base, paths, features.Options{Size: size, BatchSize: 8}, func(indices []int, fm []float32) error {
		dims := base.OutputShape(len(indices), size, size)
		n, h, w, c := dims[0], dims[1], dims[2], dims[3]
		var probs []float32
		err := exceptions.TryCatch[error](func() {
			res := probsExec.MustExec(tensors.FromFlatDataAndDimensions(fm, n, h, w, c))[0]
			probs = tensors.MustCopyFlatData[float32](res)
			res.FinalizeAll()
		})
		if err != nil {
			return errors.WithMessage(err, "cam: class probabilities")
		}
		predicted := make([]int, n)
		for k := range n {
			p := probs[k*classes : (k+1)*classes]
			for j := range p {
				if p[j] > p[predicted[k]] {
					predicted[k] = j
				}
			}
		}
		maps, err := cam.Maps(m.Backend, m.store, score, classes, fm, n, h, w, c, predicted, signed)
		if err != nil {
			return errors.WithMessage(err, "cam")
		}
		for k, i := range indices {
			r := &out[i]
			r.Probs = append([]float32(nil), probs[k*classes:(k+1)*classes]...)
			r.Predicted, r.Probability = predicted[k], float64(r.Probs[predicted[k]])
			r.Map, r.H, r.W = maps[k], h, w
		}
		return nil
	})
	return withFailures(out, failures, err, func(r *CAMResult) *string { return &r.Err })
}

// mapBase runs the model's base up to its last feature map, [n, H, W, 2048].
type mapBase struct {
	features.Extractor
	finalize func()
}

// featureMapBase returns the base as the model uses it, without pooling: the frozen weights
// of the run (a head's model), or the fine-tuned base in the model's Store.
func (m *Model) featureMapBase() (*mapBase, error) {
	if !m.FineTuned {
		if err := m.loadBase(); err != nil {
			return nil, err
		}
		ex, err := resnet50.NewBase(m.Backend, m.base.File, resnet50.Options{Pooling: resnet50.PoolingNone})
		if err != nil {
			return nil, err
		}
		return &mapBase{Extractor: ex, finalize: ex.Finalize}, nil
	}
	exec, err := model.NewExec(m.Backend, m.store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return resnet50.BuildGraph(scope.In(BaseScope), x).Trainable(false).Pooling(resnet50.PoolingNone).Done()
	})
	if err != nil {
		return nil, errors.WithMessage(err, "cam: the fine-tuned base")
	}
	return &mapBase{Extractor: &storeBase{exec: exec}, finalize: exec.Finalize}, nil
}

// storeBase is a features.Extractor over an exec of images → feature map.
type storeBase struct{ exec *model.Exec }

func (s *storeBase) ExtractFloats(pixels []float32, n, height, width int) ([]float32, error) {
	var out []float32
	err := exceptions.TryCatch[error](func() {
		res := s.exec.MustExec(tensors.FromFlatDataAndDimensions(pixels, n, height, width, 3))[0]
		out = tensors.MustCopyFlatData[float32](res)
		res.FinalizeAll()
	})
	return out, err
}

func (s *storeBase) OutputShape(n, height, width int) []int {
	layers, err := resnet50.Layers(resnet50.Options{Height: height, Width: width})
	if err != nil {
		return nil
	}
	return append([]int{n}, layers[len(layers)-1].OutputShape...)
}
