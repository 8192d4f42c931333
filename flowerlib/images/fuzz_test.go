package images

import (
	"bytes"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
)

// FuzzDecode feeds arbitrary bytes to the decoder path (sniff, header check, decode,
// colour conversion, EXIF orientation, resize): it must return an image or an error,
// never panic, and a returned image must be consistent.
//
//	GOEXPERIMENT=simd go test -run '^$' -fuzz FuzzDecode -fuzztime 2m ./flowerlib/images/
func FuzzDecode(f *testing.F) {
	jpg := imagestest.JPEG(imagestest.Pattern(24, 16))
	for _, seed := range [][]byte{
		jpg, imagestest.WithEXIFOrientation(jpg, 6), imagestest.Truncated(jpg), imagestest.ExtraBeforeEOI(jpg, 5),
		imagestest.Arithmetic(jpg), imagestest.TwelveBit(jpg), imagestest.JPEGSize(jpg, 60000, 60000),
		imagestest.PNG(imagestest.Paletted(9, 7)), imagestest.PNG(imagestest.Gray16(5, 5)),
		imagestest.PNG(imagestest.HalfTransparent(6, 4)), imagestest.AnimatedGIF(5, 5), imagestest.PNGBomb(100000, 100000),
		imagestest.HTML, nil, []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), []byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		head := data[:min(len(data), 512)]
		if info, err := checkHeader("fuzz", head, data, bytes.NewReader(data)); err == nil && info.Width*info.Height > 1<<20 {
			t.Skip("valid but large: decoding would only test allocation")
		}
		img, info, err := Decode(data, "fuzz.jpg")
		if err != nil {
			if img != nil {
				t.Fatalf("error %v with an image", err)
			}
			return
		}
		if img.Width <= 0 || img.Height <= 0 || len(img.Pix) != img.Width*img.Height*3 {
			t.Fatalf("inconsistent image %dx%d with %d bytes (info %+v)", img.Width, img.Height, len(img.Pix), info)
		}
		small := Resize(img, 8, 5)
		if len(small.Pix) != 8*5*3 {
			t.Fatalf("resize gave %d bytes", len(small.Pix))
		}
	})
}
