// Package imagestest generates the image files tests need: valid images of every colour
// model, and each kind of bad input of docs/BAD_INPUTS.md (truncated, bombs,
// unsupported variants, EXIF orientation, animated GIF...). Everything is generated
// in memory from Go's encoders plus a few byte patches, so tests need no binary fixtures;
// WritePNG writes an image to a file for tests that read folders.
package imagestest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

// Pattern returns a w×h NRGBA image with smooth gradients plus a checker, so resizing and
// orientation errors show; alpha is opaque.
func Pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{
				R: uint8(255 * x / max(1, w-1)),
				G: uint8(255 * y / max(1, h-1)),
				B: uint8((x*7 + y*13) % 256),
				A: 255,
			}
			if (x/5+y/3)%2 == 0 {
				c.B = 255 - c.B
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// Smooth returns a w×h opaque image of gradients only (JPEG keeps it within a few levels).
func Smooth(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(200 * x / max(1, w-1)), G: uint8(200 * y / max(1, h-1)), B: 100, A: 255})
		}
	}
	return img
}

// JPEG encodes img as a baseline JPEG at quality 95.
func JPEG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// PNG encodes img (any model: Gray, Paletted, NRGBA64... keep their PNG colour type).
func PNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WritePNG writes img to path as a PNG, failing the test on an error.
func WritePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	if err := os.WriteFile(path, PNG(img), 0o666); err != nil {
		t.Fatal(err)
	}
}

// Gray returns a w×h grey ramp.
func Gray(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 3)
	}
	return img
}

// Gray16 returns a w×h 16-bit grey ramp (PNG keeps 16 bits).
func Gray16(w, h int) *image.Gray16 {
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray16(x, y, color.Gray16{Y: uint16((x*w + y) * 997)})
		}
	}
	return img
}

// RGBA64 returns Pattern as 16-bit RGBA.
func RGBA64(w, h int) *image.NRGBA64 {
	src := Pattern(w, h)
	img := image.NewNRGBA64(src.Rect)
	for y := range h {
		for x := range w {
			c := src.NRGBAAt(x, y)
			img.SetNRGBA64(x, y, color.NRGBA64{R: uint16(c.R) * 257, G: uint16(c.G) * 257, B: uint16(c.B) * 257, A: 0xFFFF})
		}
	}
	return img
}

// Paletted returns Pattern quantised to the web-safe palette.
func Paletted(w, h int) *image.Paletted {
	src := Pattern(w, h)
	img := image.NewPaletted(src.Rect, palette.WebSafe)
	for y := range h {
		for x := range w {
			img.Set(x, y, src.At(x, y))
		}
	}
	return img
}

// HalfTransparent returns a w×h image of pure red whose left half is fully transparent and
// right half is 50% transparent.
func HalfTransparent(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(128)
			if x < w/2 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{R: 255, A: a})
		}
	}
	return img
}

// AnimatedGIF returns a 2-frame GIF: the first frame all red, the second all blue.
func AnimatedGIF(w, h int) []byte {
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	a := &gif.GIF{}
	for k := range 2 {
		fr := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for i := range fr.Pix {
			fr.Pix[i] = uint8(k)
		}
		a.Image = append(a.Image, fr)
		a.Delay = append(a.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, a); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WithEXIFOrientation inserts an APP1 EXIF segment (big-endian TIFF, IFD0 with only the
// Orientation tag) right after the SOI of a JPEG.
func WithEXIFOrientation(jpg []byte, orientation int) []byte {
	var t bytes.Buffer
	t.WriteString("Exif\x00\x00MM\x00\x2a")
	be := binary.BigEndian
	t.Write(be.AppendUint32(nil, 8))      // IFD0 offset
	t.Write(be.AppendUint16(nil, 1))      // 1 entry
	t.Write(be.AppendUint16(nil, 0x0112)) // Orientation
	t.Write(be.AppendUint16(nil, 3))      // SHORT
	t.Write(be.AppendUint32(nil, 1))      // count
	t.Write(be.AppendUint16(nil, uint16(orientation)))
	t.Write([]byte{0, 0})            // value padding
	t.Write(be.AppendUint32(nil, 0)) // no next IFD
	seg := t.Bytes()
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = be.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// sofOffset returns the offset of the SOF0 marker in a Go-encoded JPEG.
func sofOffset(jpg []byte) int {
	pos := 2
	for pos+4 <= len(jpg) {
		if jpg[pos+1] == 0xC0 {
			return pos
		}
		pos += 2 + int(binary.BigEndian.Uint16(jpg[pos+2:]))
	}
	panic("imagestest: no SOF0 marker")
}

// JPEGSize patches the SOF header of jpg to claim w×h (a decompression bomb when large).
func JPEGSize(jpg []byte, w, h int) []byte {
	out := append([]byte{}, jpg...)
	p := sofOffset(out)
	binary.BigEndian.PutUint16(out[p+5:], uint16(h))
	binary.BigEndian.PutUint16(out[p+7:], uint16(w))
	return out
}

// Arithmetic turns jpg's frame marker into SOF9 (arithmetic coding), a variant decoders
// commonly refuse.
func Arithmetic(jpg []byte) []byte {
	out := append([]byte{}, jpg...)
	out[sofOffset(out)+1] = 0xC9
	return out
}

// TwelveBit marks jpg's frame as 12-bit precision (SOF1, extended sequential).
func TwelveBit(jpg []byte) []byte {
	out := append([]byte{}, jpg...)
	p := sofOffset(out)
	out[p+1] = 0xC1
	out[p+4] = 12
	return out
}

// Truncated returns the first half of data.
func Truncated(data []byte) []byte { return append([]byte{}, data[:len(data)/2]...) }

// ExtraBeforeEOI inserts n junk bytes before the final FFD9 marker of a JPEG (libjpeg
// warns "extraneous bytes before marker 0xd9" and decodes).
func ExtraBeforeEOI(jpg []byte, n int) []byte {
	if len(jpg) < 2 || jpg[len(jpg)-2] != 0xFF || jpg[len(jpg)-1] != 0xD9 {
		panic("imagestest: JPEG does not end with EOI")
	}
	out := append([]byte{}, jpg[:len(jpg)-2]...)
	for i := range n {
		out = append(out, byte(0x11+i%7))
	}
	return append(out, 0xFF, 0xD9)
}

// PNGBomb returns a PNG signature plus an IHDR claiming w×h 8-bit RGB with a valid CRC,
// then a tiny IDAT and IEND: DecodeConfig believes it, a full decode would allocate w*h*3.
func PNGBomb(w, h int) []byte {
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		buf.WriteString(typ)
		buf.Write(data)
		buf.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return buf.Bytes()
}

// HTML is a small web page, as saved by a browser under a .jpg name.
var HTML = []byte("<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>Forbidden</body></html>\n")
