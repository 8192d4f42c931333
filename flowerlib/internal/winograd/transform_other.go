//go:build !(amd64 && goexperiment.simd)

package winograd

// Vector reports whether the transforms use vector instructions: not in this build (amd64
// with GOEXPERIMENT=simd has them).
func Vector() bool { return vector }

var vector = false

func inputTileVector(d []float32, rowStride, ch int, v []float32, plane int) int { return 0 }

func outputTileVector(m []float32, plane int, dst []float32, rowStride, ch int, bias []float32, relu bool) int {
	return 0
}
