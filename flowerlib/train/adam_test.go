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
