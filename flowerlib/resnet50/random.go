package resnet50

import (
	"math"
	"math/rand/v2"

	"github.com/flowerlib/flowers/flowerlib/weights"
)

// RandomWeights returns seeded random weights in the layout of a Keras ResNet50 weights file
// (every layer of Layers in order, weightless ones included, weights named like
// "conv1_conv/kernel:0"), with or without the top. They are NOT ImageNet weights: they exist
// so the pipeline runs offline and so implementations can be compared on identical weights.
//
// Scales keep activations O(1) through the 50 layers on 'caffe'-preprocessed photos
// (values about ±128): He-normal kernels (conv1_conv scaled down by 1/64 for the raw pixel
// range), BatchNorm gamma in [0.8, 1.2] (the last BN of each residual branch, "_3_bn", in
// [0.2, 0.4] so the residual sums do not grow), beta and moving_mean ±0.1,
// moving_variance in [0.5, 1.5], biases ±0.05; the top's kernel is Glorot-normal with
// bias ±0.05. The same seed gives the same values on every platform (PCG generator).
func RandomWeights(seed int64, top bool) *weights.File {
	layers, err := Layers(Options{IncludeTop: top})
	if err != nil {
		panic(err) // default options are always valid
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5e5_7e7_50)) // second word fixed: one stream per seed
	uniform := func(lo, hi float64) float32 { return float32(lo + (hi-lo)*rng.Float64()) }
	f := &weights.File{Layers: make([]weights.Layer, len(layers))}
	for i := range layers {
		l := &layers[i]
		fl := weights.Layer{Name: l.Name}
		for j, w := range l.Weights {
			data := make([]float32, w.Size())
			switch {
			case w.Name == "kernel" && l.Type == "Conv2D":
				fanIn := w.Shape[0] * w.Shape[1] * w.Shape[2]
				std := math.Sqrt(2 / float64(fanIn))
				if l.Name == "conv1_conv" {
					std /= 64
				}
				for k := range data {
					data[k] = float32(rng.NormFloat64() * std)
				}
			case w.Name == "kernel": // Dense
				std := math.Sqrt(2 / float64(w.Shape[0]+w.Shape[1]))
				for k := range data {
					data[k] = float32(rng.NormFloat64() * std)
				}
			case w.Name == "bias":
				for k := range data {
					data[k] = uniform(-0.05, 0.05)
				}
			case w.Name == "gamma":
				lo, hi := 0.8, 1.2
				if len(l.Name) > 5 && l.Name[len(l.Name)-5:] == "_3_bn" {
					lo, hi = 0.2, 0.4
				}
				for k := range data {
					data[k] = uniform(lo, hi)
				}
			case w.Name == "beta", w.Name == "moving_mean":
				for k := range data {
					data[k] = uniform(-0.1, 0.1)
				}
			case w.Name == "moving_variance":
				for k := range data {
					data[k] = uniform(0.5, 1.5)
				}
			}
			fl.Weights = append(fl.Weights, weights.Tensor{
				Name:  l.KerasWeightName(j),
				Shape: append([]int(nil), w.Shape...),
				Data:  data,
			})
		}
		f.Layers[i] = fl
	}
	return f
}
