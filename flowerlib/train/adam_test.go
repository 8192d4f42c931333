package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamKeras checks the update against Keras' formula computed in float64, for the vector
// and the scalar tails (odd length).
func TestAdamKeras(t *testing.T) {
	n := 1000 + 7
	r := rand.New(rand.NewPCG(3, 4))
	w, g := make([]float32, n), make([]float32, n)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	w0 := append([]float32(nil), w...)
	a := NewAdam(0.01)
	m64, v64 := make([]float64, n), make([]float64, n)
	want := make([]float64, n)
	for i := range want {
		want[i] = float64(w0[i])
	}
	for step := 1; step <= 3; step++ {
		for i := range g {
			g[i] = float32(r.NormFloat64())
		}
		lrT := a.Begin()
		a.Update("x", w, g, lrT)
		lr := 0.01 * math.Sqrt(1-math.Pow(0.999, float64(step))) / (1 - math.Pow(0.9, float64(step)))
		for i := range want {
			gi := float64(g[i])
			m64[i] = 0.9*m64[i] + 0.1*gi
			v64[i] = 0.999*v64[i] + 0.001*gi*gi
			want[i] -= lr * m64[i] / (math.Sqrt(v64[i]) + 1e-7)
		}
	}
	for i := range w {
		if math.Abs(float64(w[i])-want[i]) > 1e-5 {
			t.Fatalf("w[%d] = %v, want %v", i, w[i], want[i])
		}
	}
	if a.Step != 3 {
		t.Errorf("step %d", a.Step)
	}
}

// TestAdamOuter: the fused outer-product update equals Update with the explicit gradient Aᵀ·B.
func TestAdamOuter(t *testing.T) {
	k, m, n := 5, 37, 45 // n not a multiple of 16: vector body and scalar tail
	r := rand.New(rand.NewPCG(9, 9))
	rnd := func(size int) []float32 {
		x := make([]float32, size)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	w1 := rnd(m * n)
	w2 := append([]float32(nil), w1...)
	a1, a2 := NewAdam(0), NewAdam(0)
	for step := 0; step < 3; step++ {
		in, og := rnd(k*m), rnd(k*n)
		g := make([]float32, m*n)
		for d := 0; d < m; d++ {
			for j := 0; j < n; j++ {
				for b := 0; b < k; b++ {
					g[d*n+j] += in[b*m+d] * og[b*n+j]
				}
			}
		}
		a1.Update("w", w1, g, a1.Begin())
		a2.UpdateOuter("w", w2, in, og, k, m, n, a2.Begin())
	}
	for i := range w1 {
		if math.Abs(float64(w1[i]-w2[i])) > 1e-5 {
			t.Fatalf("w[%d]: outer %v, explicit %v", i, w2[i], w1[i])
		}
	}
}
