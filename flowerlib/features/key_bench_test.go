package features

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/internal/testdata"
)

// BenchmarkCacheKey measures what keying the cache by content costs on the 200 sample photos,
// per pass over all of them: "stat" is the former key's work (path, size and time of each),
// "sha256" the content key's (keyFieldsOf: every file read and hashed, in parallel), and
// "decode" what a cache miss does to each photo before the base even runs (images.Load to
// 224×224, in parallel as images.Batches does). Run the sub-benchmarks in alternating rounds
// (-count) and compare medians: the machines are shared.
//
//	go test -run XXX -bench CacheKey -count 5 ./flowerlib/features
func BenchmarkCacheKey(b *testing.B) {
	paths := testdata.SamplePhotos(b, 200)
	opts := Options{Paths: paths, WeightsID: "random:1"}.defaults()
	b.Run("stat", func(b *testing.B) {
		for b.Loop() {
			for _, p := range paths {
				abs, _ := filepath.Abs(p)
				if _, err := os.Stat(abs); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		for b.Loop() {
			if _, err := keyFieldsOf(opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, _, fails, err := images.LoadAll(paths, 224, nil); err != nil || len(fails) > 0 {
				b.Fatal(err, fails)
			}
		}
	})
}
