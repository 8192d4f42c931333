// Package exporttest makes export.Models for tests without training: ResNet50's seeded random
// weights and a small head with seeded random weights and BatchNorm statistics.
package exporttest

import (
	"math/rand/v2"

	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// Model returns a model of 3 classes on size×size photos with the given pooling (none puts a
// Flatten first): BatchNorm → Dense(hidden, relu) → BatchNorm → Dense(3, softmax), with
// weights drawn from seed. The BatchNorm statistics are scaled to the random base's outputs
// so that the probabilities are not all 0 or 1.
func Model(seed int64, size int, pooling resnet50.Pooling, hidden int) *export.Model {
	m := &export.Model{Classes: []string{"daisy", "roses", "tulips"}, ImageSize: size, Pooling: pooling,
		Base: map[string]export.Tensor{}, Source: "exporttest"}
	w := resnet50.RandomWeights(seed, false)
	for _, l := range w.Layers {
		for _, t := range l.Weights {
			name := t.Name
			if i := len(l.Name) + 1; len(name) > i && name[:i] == l.Name+"/" {
				name = name[i:]
			}
			if n := len(name); n > 2 && name[n-2:] == ":0" {
				name = name[:n-2]
			}
			m.Base[l.Name+"/"+name] = export.Tensor{Dims: t.Shape, Data: t.Data}
		}
	}
	layers, _ := resnet50.Layers(m.BaseOptions())
	out := layers[len(layers)-1].OutputShape
	in := 1
	for _, d := range out {
		in *= d
	}
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	fill := func(n int, mean, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + scale*r.NormFloat64())
		}
		return v
	}
	bn := func(name string, n int, varScale float64) export.Layer {
		l := export.Layer{Name: name, Type: export.BatchNormalization, Epsilon: 1e-3, Momentum: 0.99}
		for _, w := range []struct {
			name        string
			mean, scale float64
		}{{"gamma", 1, 0.1}, {"beta", 0, 0.1}, {"moving_mean", 0, 0}, {"moving_variance", varScale, 0}} {
			l.Weights = append(l.Weights, export.Weight{Name: w.name, Tensor: export.Tensor{Dims: []int{n}, Data: fill(n, w.mean, w.scale)}})
		}
		return l
	}
	dense := func(name string, in, units int, act string) export.Layer {
		return export.Layer{Name: name, Type: export.Dense, Units: units, Activation: act, Weights: []export.Weight{
			{Name: "kernel", Tensor: export.Tensor{Dims: []int{in, units}, Data: fill(in*units, 0, 1/float64(in))}},
			{Name: "bias", Tensor: export.Tensor{Dims: []int{units}, Data: fill(units, 0, 0.1)}}}}
	}
	if pooling == resnet50.PoolingNone {
		m.Head = append(m.Head, export.Layer{Name: "flatten", Type: export.Flatten})
	}
	// The random base's features are large: a moving variance of 1e6 brings them near unit scale.
	m.Head = append(m.Head, bn("batch_normalization", in, 1e6), dense("dense", in, hidden, export.ReLU),
		export.Layer{Name: "dropout", Type: export.Dropout, Rate: 0.5},
		bn("batch_normalization_1", hidden, 1), dense("dense_1", hidden, len(m.Classes), export.Softmax))
	return m
}
