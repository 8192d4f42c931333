//go:build !(amd64 && goexperiment.simd)

package trainer

// detectAdamPath: archsimd exists only on amd64 with GOEXPERIMENT=simd; elsewhere (ARM64
// included) the portable kernels run.
func detectAdamPath() VectorPath { return PathScalar }

// adamUpdate is the portable adamKernel (build with GOEXPERIMENT=simd for the vector version).
func adamUpdate(w, g, m, v []float32, lrT float32, beta1 float64) {
	adamKernel(w, g, m, v, lrT, beta1)
}

func adamOuterRows(w, mo, vo, in, outGrad []float32, k, m, n, lo, hi int, lrT float32, beta1 float64) {
	adamOuterRowsScalar(w, mo, vo, in, outGrad, k, m, n, lo, hi, 0, lrT, beta1)
}
