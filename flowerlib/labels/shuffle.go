package labels

import (
	"math/rand/v2"
	"sort"
)

// Permutation returns a permutation of 0..n-1 drawn from seed. It is the same on every
// machine and Go version: the PCG generator of math/rand/v2 (a fixed algorithm) seeded
// with (seed, 0x5eed), an unbiased bounded draw written here, and Fisher–Yates from the
// end (the algorithm of numpy's shuffle; the values differ from numpy's, which uses MT19937).
func Permutation(n int, seed int64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := rand.NewPCG(uint64(seed), 0x5eed)
	for i := n - 1; i > 0; i-- {
		j := int(bounded(r, uint64(i+1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// bounded returns a uniform value in [0, n) by rejection sampling.
func bounded(r *rand.PCG, n uint64) uint64 {
	threshold := -n % n // 2^64 mod n
	for {
		if v := r.Uint64(); v >= threshold {
			return v % n
		}
	}
}

// Shuffle sorts rows by path (byte order, so the input order does not matter) and then
// reorders them with Permutation(len(rows), seed).
func Shuffle(rows []Row, seed int64) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Path != rows[j].Path {
			return rows[i].Path < rows[j].Path
		}
		return rows[i].Label < rows[j].Label
	})
	sorted := append([]Row(nil), rows...)
	for i, k := range Permutation(len(rows), seed) {
		rows[i] = sorted[k]
	}
}
