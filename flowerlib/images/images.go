// Package images decodes dataset photos into 8-bit RGB and resizes them the way the seed
// article's cv2.resize(INTER_LINEAR) does; batches.go turns lists of files into float32
// NHWC batches on all cores.
//
// Policies (the same in training and prediction, since both go through Load):
//   - Format is detected by content (JPEG, PNG, GIF, BMP, WebP), never by file extension.
//   - Dimensions are read with image.DecodeConfig before decoding; more than MaxPixels is
//     rejected (decompression bombs).
//   - Every colour model (grey, palette, 16-bit, CMYK, YCbCr) becomes 8-bit RGB.
//   - Alpha is composited on Background (white).
//   - JPEG EXIF orientation is applied, as cv2.imread(path) does by default (Keras'
//     load_img/PIL does not).
//   - An animated GIF gives its first frame.
//   - Channel order is RGB; use RGB.BGR for the cv2/caffe order.
package images

import (
	"fmt"

	"github.com/pkg/errors"
)

// MaxPixels is the largest width×height Decode accepts (50 megapixels: 200 MB as RGB).
const MaxPixels = 50_000_000

// Background is the colour (R, G, B) alpha channels are composited on.
var Background = [3]uint8{255, 255, 255}

// RGB is an 8-bit RGB image: Pix holds Height rows of Width pixels, 3 bytes each (R, G, B),
// with no padding (HWC interleaved, len(Pix) == Width*Height*3).
type RGB struct {
	Width, Height int
	Pix           []uint8
}

// NewRGB returns a black width×height image.
func NewRGB(width, height int) *RGB {
	return &RGB{Width: width, Height: height, Pix: make([]uint8, width*height*3)}
}

// At returns the (r, g, b) of pixel (x, y).
func (im *RGB) At(x, y int) (r, g, b uint8) {
	i := (y*im.Width + x) * 3
	return im.Pix[i], im.Pix[i+1], im.Pix[i+2]
}

// Float32 returns the pixels as float32 HWC RGB values in 0..255 (a new slice).
func (im *RGB) Float32() []float32 {
	dst := make([]float32, len(im.Pix))
	im.Float32Into(dst)
	return dst
}

// Float32Into writes the pixels as float32 HWC RGB values in 0..255 into dst, which must
// hold at least Width*Height*3 values.
func (im *RGB) Float32Into(dst []float32) {
	dst = dst[:len(im.Pix)]
	for i, v := range im.Pix {
		dst[i] = float32(v)
	}
}

// BGR returns a copy of the pixels in B, G, R order (what cv2.imread returns and what
// Keras' 'caffe' preprocessing expects).
func (im *RGB) BGR() []uint8 {
	dst := make([]uint8, len(im.Pix))
	for i := 0; i+2 < len(im.Pix); i += 3 {
		dst[i], dst[i+1], dst[i+2] = im.Pix[i+2], im.Pix[i+1], im.Pix[i]
	}
	return dst
}

// Clone returns a deep copy.
func (im *RGB) Clone() *RGB {
	return &RGB{Width: im.Width, Height: im.Height, Pix: append([]uint8(nil), im.Pix...)}
}

// BadImageError says that a file's content cannot be used as an image (empty, not an
// image, truncated, unsupported variant, too large). Dataset scans skip such files and
// report Reason; other errors (permissions, I/O) point to a broken environment.
type BadImageError struct {
	Path   string
	Reason string
}

func (e *BadImageError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return fmt.Sprintf("%q: %s", e.Path, e.Reason)
}

// IsBadImage reports whether err (or an error it wraps) is a *BadImageError.
func IsBadImage(err error) bool {
	var b *BadImageError
	return errors.As(err, &b)
}

// Reason returns the BadImageError's reason in err, or err's text for other errors.
func Reason(err error) string {
	var b *BadImageError
	if errors.As(err, &b) {
		return b.Reason
	}
	return err.Error()
}
