package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/pkg/errors"
)

// Initializer is how Dense fills a new kernel [fanIn, fanOut]: a Keras initializer, drawn on
// the host from the layer's seed.
type Initializer struct {
	name string
	seed int64 // 0: the run's seed (SeedParam)
	fill func(f []float32, fanIn, fanOut int, seed uint64)
}

func (i Initializer) String() string {
	if i.seed == 0 {
		return i.name + "()"
	}
	return fmt.Sprintf("%s(seed=%d)", i.name, i.seed)
}

// HeNormal is Keras' he_normal(seed=seed): a normal truncated at 2σ, σ =
// sqrt(2/fanIn)/0.87962566. As in tf-keras the seed is fixed whatever the run's seed; unlike
// tf-keras, each layer draws its own values (tf-keras gives every he_normal(seed=42) layer the
// same stream).
func HeNormal(seed int64) Initializer {
	return Initializer{name: "he_normal", seed: seed, fill: func(f []float32, fanIn, _ int, s uint64) { HeNormalFill(f, fanIn, s) }}
}

// GlorotUniform is Keras' glorot_uniform(), Dense's default: uniform in ±sqrt(6/(fanIn+fanOut)),
// seeded by the run's seed.
func GlorotUniform() Initializer {
	return Initializer{name: "glorot_uniform", fill: func(f []float32, fanIn, fanOut int, s uint64) {
		GlorotUniformFill(f, math.Sqrt(6/float64(fanIn+fanOut)), s)
	}}
}

// SeedParam is the Store parameter (at the root scope) holding the run's seed, which seeds the
// initializers given none (default defaults.Seed).
const SeedParam = "head_seed"

// RunSeed returns the Store's SeedParam.
func RunSeed(store *model.Store) int64 {
	if v, ok := store.GetParam("/" + SeedParam); ok {
		if s, ok := v.(int64); ok && s != 0 {
			return s
		}
	}
	return int64(defaults.Seed.Default)
}

// chunked runs fn over [0, n) in fixed chunks of 1<<20 values, each with its own seeded
// generator, spread over the cores: the values depend only on the seed, not on scheduling.
func chunked(n int, seed uint64, fn func(lo, hi int, r *rand.Rand)) {
	const chunk = 1 << 20
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		sem <- struct{}{}
		go func(lo, hi int) {
			defer func() { <-sem; wg.Done() }()
			fn(lo, hi, rand.New(rand.NewPCG(seed, uint64(lo))))
		}(lo, hi)
	}
	wg.Wait()
}

// HeNormalFill fills f with Keras' he_normal: truncated normal (re-drawn beyond 2σ) with
// σ = sqrt(2/fanIn)/0.87962566103423978.
func HeNormalFill(f []float32, fanIn int, seed uint64) {
	stddev := math.Sqrt(2/float64(fanIn)) / 0.87962566103423978
	chunked(len(f), seed, func(lo, hi int, r *rand.Rand) {
		for i := lo; i < hi; i++ {
			x := r.NormFloat64()
			for x < -2 || x > 2 {
				x = r.NormFloat64()
			}
			f[i] = float32(x * stddev)
		}
	})
}

// GlorotUniformFill fills f with uniform values in [-limit, limit).
func GlorotUniformFill(f []float32, limit float64, seed uint64) {
	chunked(len(f), seed, func(lo, hi int, r *rand.Rand) {
		for i := lo; i < hi; i++ {
			f[i] = float32((2*r.Float64() - 1) * limit)
		}
	})
}

// describingParam marks a Store whose heads are only described: variables get a shape, no
// values (Describe).
const describingParam = "head_describing"

func describing(store *model.Store) bool {
	v, ok := store.GetParam("/" + describingParam)
	return ok && v == true
}

// Init creates fn's variables in store with their initial values, building fn once on
// features of the given per-example dims (e.g. [7, 7, 2048], or [2048] pooled) in training
// mode, and returns its layers. Variables already there (a checkpoint's) are kept; their
// shapes must match. The graph is built on b but never compiled or run.
func Init(b compute.Backend, store *model.Store, fn Func, dims []int) ([]Layer, error) {
	layers, _, err := build(b, store, fn, dims)
	return layers, err
}

// build runs fn in training mode on a Parameter [1, dims...] of a new graph and returns the
// layers it noted and the graph's fingerprint; a panic of fn (a bad shape, say) becomes the
// error.
func build(b compute.Backend, store *model.Store, fn Func, dims []int) (layers []Layer, fp string, err error) {
	g := graph.NewGraph(b, "head")
	defer g.Finalize()
	err = exceptions.TryCatch[error](func() {
		store.SetTraining(g, true)
		x := graph.Parameter(g, "features", shapes.Make(dtypes.Float32, append([]int{1}, dims...)...))
		logits := fn(store.RootScope(), x)
		if logits == nil || logits.Rank() != 2 {
			panic(errors.Errorf("the head must return logits [batch, classes], got %v", shapeOf(logits)))
		}
		layers = graphRecord(g)
		layers = append(layers, otherVariables(store, g, layers)...)
		fp = fingerprint(g, logits, layers)
	})
	return layers, fp, errors.WithMessage(err, "head")
}

func shapeOf(n *graph.Node) any {
	if n == nil {
		return "nil"
	}
	return n.Shape()
}
