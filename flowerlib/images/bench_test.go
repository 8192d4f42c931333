package images

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowerlib/flowers/internal/testdata"
)

// BenchmarkLoadStages splits Load's time on one real sample photo (single core) into
// JPEG decode (Go's image/jpeg), conversion to RGB, and the 224×224 resize.
//
//	GOEXPERIMENT=simd go test -run '^$' -bench LoadStages ./flowerlib/images/
func BenchmarkLoadStages(b *testing.B) {
	dir := testdata.RequireSample(b)
	matches, _ := filepath.Glob(filepath.Join(dir, "daisy", "*.jpg"))
	if len(matches) == 0 {
		b.Skip("no daisy photos in the sample")
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		b.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	rgb := ToRGB(img)
	b.Logf("%s: %dx%d %T", filepath.Base(matches[0]), rgb.Width, rgb.Height, img)
	b.Run("jpeg.Decode", func(b *testing.B) {
		for b.Loop() {
			_, _ = jpeg.Decode(bytes.NewReader(data))
		}
	})
	b.Run("ToRGB", func(b *testing.B) {
		for b.Loop() {
			ToRGB(img)
		}
	})
	b.Run("Resize224", func(b *testing.B) {
		for b.Loop() {
			Resize(rgb, 224, 224)
		}
	})
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			_, _, _ = Decode(data, "x.jpg")
		}
	})
}
