// Package embedding maps feature vectors (the frozen base's 2048-d outputs) to 2-D points
// for the notebooks' embedding map: PCA (gonum's symmetric eigendecomposition) and t-SNE
// (van der Maaten & Hinton 2008, exact gradient: fast enough in Go for a few thousand
// photos). One point per photo, coloured by class, shows what "features transfer" means:
// with ImageNet weights the classes separate before any training.
package embedding

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/pkg/errors"
	"gonum.org/v1/gonum/mat"
)

// PCA projects the n rows of x (n × d, row-major) on their first k principal components.
// It returns the scores (n × k, row-major) and the fraction of the variance each component
// explains. Signs are fixed so that the largest-magnitude score of each component is
// positive (the same map on every run). It works on the n × n Gram matrix, so d may be large.
func PCA(x []float32, n, d, k int) (scores []float64, explained []float64, err error) {
	if n < 2 || d < 1 || len(x) != n*d {
		return nil, nil, errors.Errorf("embedding.PCA: %d values for %d rows of %d: need at least 2 rows", len(x), n, d)
	}
	if k < 1 || k > min(n, d) {
		return nil, nil, errors.Errorf("embedding.PCA: k = %d components, want 1..%d", k, min(n, d))
	}
	// Centre the columns.
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += float64(x[i*d+j])
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	c := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			c.Set(i, j, float64(x[i*d+j])-mean[j])
		}
	}
	// G = C·Cᵀ = U Λ Uᵀ; the scores on component m are sqrt(λ_m)·u_m.
	var g mat.SymDense
	g.SymOuterK(1, c)
	var eig mat.EigenSym
	if !eig.Factorize(&g, true) {
		return nil, nil, errors.New("embedding.PCA: the eigendecomposition did not converge")
	}
	values := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	total := 0.0
	for _, v := range values {
		total += math.Max(v, 0)
	}
	scores = make([]float64, n*k)
	explained = make([]float64, k)
	for m := range k {
		col := len(values) - 1 - m
		lambda := math.Max(values[col], 0)
		if total > 0 {
			explained[m] = lambda / total
		}
		s := math.Sqrt(lambda)
		big, sign := 0.0, 1.0
		for i := range n {
			if v := vecs.At(i, col); math.Abs(v) > big {
				big, sign = math.Abs(v), math.Copysign(1, v)
			}
		}
		for i := range n {
			scores[i*k+m] = sign * s * vecs.At(i, col)
		}
	}
	return scores, explained, nil
}

// TSNEOptions are t-SNE's settings; zero values take scikit-learn's defaults.
type TSNEOptions struct {
	Perplexity   float64 // default 30 (reduced to (n-1)/3 for small n)
	Iterations   int     // default 1000
	LearningRate float64 // default max(n/12/4, 50), scikit-learn's "auto"
	Seed         uint64  // initialisation noise; default 42
}

// TSNE embeds the n rows of x (n × d, row-major) in 2-D with exact t-SNE: Gaussian
// affinities calibrated to the perplexity, Student-t similarities in the map, early
// exaggeration (12 for the first 250 iterations), momentum 0.5 then 0.8, and per-coordinate
// gains, initialised from PCA scaled to a standard deviation of 1e-4 (scikit-learn's "pca"
// init). It returns the 2-D points (n × 2, row-major). Cost: O(n²) per iteration.
func TSNE(x []float32, n, d int, opts TSNEOptions) ([]float64, error) {
	if n < 3 || len(x) != n*d {
		return nil, errors.Errorf("embedding.TSNE: %d values for %d rows of %d: need at least 3 rows", len(x), n, d)
	}
	if opts.Perplexity == 0 {
		opts.Perplexity = 30
	}
	opts.Perplexity = math.Min(opts.Perplexity, float64(n-1)/3)
	if opts.Iterations == 0 {
		opts.Iterations = 1000
	}
	if opts.LearningRate == 0 {
		opts.LearningRate = math.Max(float64(n)/12/4, 50)
	}
	if opts.Seed == 0 {
		opts.Seed = 42
	}
	if !(opts.Perplexity > 0) || opts.Iterations < 1 || !(opts.LearningRate > 0) {
		return nil, errors.Errorf("embedding.TSNE: perplexity, iterations and learning rate must be positive, got %+v", opts)
	}
	p := affinities(x, n, d, opts.Perplexity)
	y, err := initPCA(x, n, d, opts.Seed)
	if err != nil {
		return nil, err
	}
	optimise(p, y, n, opts)
	return y, nil
}

// affinities returns the symmetric joint probabilities P (n × n) of t-SNE: each row's
// Gaussian bandwidth is found by bisection so that its entropy is log(perplexity).
func affinities(x []float32, n, d int, perplexity float64) []float64 {
	dist := make([]float64, n*n)
	parallelRows(n, func(i int) {
		for j := range n {
			var s float64
			for k := range d {
				v := float64(x[i*d+k] - x[j*d+k])
				s += v * v
			}
			dist[i*n+j] = s
		}
	})
	cond := make([]float64, n*n)
	target := math.Log(perplexity)
	parallelRows(n, func(i int) {
		row := cond[i*n : (i+1)*n]
		lo, hi, beta := 0.0, math.Inf(1), 1.0
		for range 100 {
			var sum, sumDP float64
			for j := range n {
				if j == i {
					row[j] = 0
					continue
				}
				row[j] = math.Exp(-beta * dist[i*n+j])
				sum += row[j]
				sumDP += row[j] * dist[i*n+j]
			}
			if sum == 0 {
				sum = 1e-300
			}
			entropy := math.Log(sum) + beta*sumDP/sum
			for j := range row {
				row[j] /= sum
			}
			if math.Abs(entropy-target) < 1e-5 {
				break
			}
			if entropy > target { // too flat: narrower kernel
				lo = beta
				if math.IsInf(hi, 1) {
					beta *= 2
				} else {
					beta = (lo + hi) / 2
				}
			} else {
				hi = beta
				beta = (lo + hi) / 2
			}
		}
	})
	p := make([]float64, n*n)
	for i := range n {
		for j := range n {
			p[i*n+j] = math.Max((cond[i*n+j]+cond[j*n+i])/(2*float64(n)), 1e-12)
		}
	}
	return p
}

func initPCA(x []float32, n, d int, seed uint64) ([]float64, error) {
	y, _, err := PCA(x, n, d, 2)
	if err != nil {
		return nil, err
	}
	// Scale to a standard deviation of 1e-4 (of the first coordinate), with a little noise
	// so that duplicate points separate.
	var sd float64
	for i := range n {
		sd += y[2*i] * y[2*i]
	}
	sd = math.Sqrt(sd / float64(n))
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range y {
		if sd > 0 {
			y[i] *= 1e-4 / sd
		}
		y[i] += 1e-8 * r.NormFloat64()
	}
	return y, nil
}

// optimise runs gradient descent on the Kullback-Leibler divergence of P and the map's Q.
func optimise(p, y []float64, n int, opts TSNEOptions) {
	const exaggeration, exaggerationIters = 12.0, 250
	grad := make([]float64, 2*n)
	update := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	num := make([]float64, n*n)
	for it := range opts.Iterations {
		ex := 1.0
		momentum := 0.8
		if it < exaggerationIters {
			ex, momentum = exaggeration, 0.5
		}
		// Student-t kernel (1 + |yi − yj|²)⁻¹ and its sum.
		sums := make([]float64, n)
		parallelRows(n, func(i int) {
			var s float64
			for j := range n {
				if j == i {
					num[i*n+j] = 0
					continue
				}
				dx, dy := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
				v := 1 / (1 + dx*dx + dy*dy)
				num[i*n+j] = v
				s += v
			}
			sums[i] = s
		})
		var z float64
		for _, s := range sums {
			z += s
		}
		parallelRows(n, func(i int) {
			var gx, gy float64
			for j := range n {
				if j == i {
					continue
				}
				q := math.Max(num[i*n+j]/z, 1e-12)
				m := (ex*p[i*n+j] - q) * num[i*n+j]
				gx += m * (y[2*i] - y[2*j])
				gy += m * (y[2*i+1] - y[2*j+1])
			}
			grad[2*i], grad[2*i+1] = 4*gx, 4*gy
		})
		for k := range y {
			if (grad[k] > 0) != (update[k] > 0) {
				gains[k] += 0.2
			} else {
				gains[k] = math.Max(gains[k]*0.8, 0.01)
			}
			update[k] = momentum*update[k] - opts.LearningRate*gains[k]*grad[k]
			y[k] += update[k]
		}
		// Keep the map centred.
		var cx, cy float64
		for i := range n {
			cx += y[2*i]
			cy += y[2*i+1]
		}
		cx, cy = cx/float64(n), cy/float64(n)
		for i := range n {
			y[2*i] -= cx
			y[2*i+1] -= cy
		}
	}
}

// parallelRows runs fn(i) for every row i, spread over the cores.
func parallelRows(n int, fn func(i int)) {
	workers := min(runtime.NumCPU(), n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
