package embedding

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPCAKnownMatrix: points on a line in 3-D (direction (1, 2, 2)/3, positions t) have one
// component explaining all the variance, with scores ±(t − mean t); a plane with variances 9
// and 1 along two axes gives explained variance 0.9 and 0.1.
func TestPCAKnownMatrix(t *testing.T) {
	ts := []float64{-2, -1, 0, 0.5, 2.5}
	var x []float32
	for _, v := range ts {
		x = append(x, float32(v/3), float32(2*v/3), float32(2*v/3))
	}
	scores, explained, err := PCA(x, len(ts), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	mean := 0.0
	for _, v := range ts {
		mean += v / float64(len(ts))
	}
	for i, v := range ts {
		if math.Abs(scores[2*i]-(v-mean)) > 1e-5 {
			t.Errorf("row %d: score %g, want %g", i, scores[2*i], v-mean)
		}
		if math.Abs(scores[2*i+1]) > 1e-5 {
			t.Errorf("row %d: second score %g, want 0", i, scores[2*i+1])
		}
	}
	if math.Abs(explained[0]-1) > 1e-6 || explained[1] > 1e-6 {
		t.Errorf("explained %v, want [1 0]", explained)
	}
	// ±3 on axis z, ±1 on axis x: variances 9 : 1.
	plane := []float32{0, 0, 3, 0, 0, -3, 1, 0, 0, -1, 0, 0}
	_, explained, err = PCA(plane, 4, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(explained[0]-0.9) > 1e-6 || math.Abs(explained[1]-0.1) > 1e-6 {
		t.Errorf("plane: explained %v, want [0.9 0.1]", explained)
	}
	if _, _, err := PCA(plane, 4, 3, 4); err == nil {
		t.Error("k > d accepted")
	}
}

// TestTSNESeparatesClusters: three Gaussian clusters in 50-d, overlapping in their first two
// coordinates, come out of t-SNE as three groups: every point's nearest neighbour in the map is
// of its cluster, and the groups are far apart compared to their size.
func TestTSNESeparatesClusters(t *testing.T) {
	const n, d, per = 90, 50, 30
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*d)
	label := make([]int, n)
	for i := range n {
		c := i / per
		label[i] = c
		for k := range d {
			center := 0.0
			if k >= 2 && k%3 == c {
				center = 6
			}
			x[i*d+k] = float32(center + r.NormFloat64())
		}
	}
	y, err := TSNE(x, n, d, TSNEOptions{Iterations: 500})
	if err != nil {
		t.Fatal(err)
	}
	dist := func(i, j int) float64 { return math.Hypot(y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]) }
	for i := range n {
		best, bestD := -1, math.Inf(1)
		for j := range n {
			if j != i && dist(i, j) < bestD {
				best, bestD = j, dist(i, j)
			}
		}
		if label[best] != label[i] {
			t.Fatalf("point %d (cluster %d): nearest neighbour %d is of cluster %d", i, label[i], best, label[best])
		}
	}
	// Within-cluster spread vs distance between centroids.
	var cx, cy [3]float64
	for i := range n {
		cx[label[i]] += y[2*i] / per
		cy[label[i]] += y[2*i+1] / per
	}
	spread := 0.0
	for i := range n {
		spread = math.Max(spread, math.Hypot(y[2*i]-cx[label[i]], y[2*i+1]-cy[label[i]]))
	}
	for a := range 3 {
		for b := a + 1; b < 3; b++ {
			if gap := math.Hypot(cx[a]-cx[b], cy[a]-cy[b]); gap < spread {
				t.Errorf("clusters %d and %d: centroids %.2f apart, clusters up to %.2f wide", a, b, gap, spread)
			}
		}
	}
	// Same seed, same map.
	y2, _ := TSNE(x, n, d, TSNEOptions{Iterations: 500})
	for i := range y {
		if y[i] != y2[i] {
			t.Fatal("t-SNE is not deterministic for a seed")
		}
	}
}
