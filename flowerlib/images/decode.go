package images

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
	"golang.org/x/image/bmp"
	"golang.org/x/image/webp"
)

// Info describes an image file as read from its header.
type Info struct {
	Format        string // "jpeg", "png", "gif", "bmp" or "webp", from the content
	Width, Height int    // stored size, before EXIF orientation
	Orientation   int    // EXIF orientation 1..8 (JPEG only; 1 when absent)
	Note          string // e.g. "PNG content in a .jpg file"; empty when nothing to say
}

// Sniff returns the image format of data's first bytes ("jpeg", "png", "gif", "bmp",
// "webp"), or "" when it is not one of them.
func Sniff(head []byte) string {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case bytes.HasPrefix(head, []byte("BM")) && len(head) >= 14:
		return "bmp"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// extFormats maps lower-case file extensions to the format they promise.
var extFormats = map[string]string{
	".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg",
	".png": "png", ".gif": "gif", ".bmp": "bmp", ".webp": "webp",
}

// IsImageExt reports whether name has an image extension Scan considers (matched
// case-insensitively: .JPG and .Jpeg count).
func IsImageExt(name string) bool {
	_, ok := extFormats[strings.ToLower(filepath.Ext(name))]
	return ok
}

// notImageReason describes content that is not a supported image.
func notImageReason(head []byte) string {
	if len(head) == 0 {
		return "empty file (0 bytes)"
	}
	if name := otherImageFormat(head); name != "" {
		return fmt.Sprintf("%s format, which flowerlib does not decode: convert it to JPEG or PNG", name)
	}
	kind := http.DetectContentType(head)
	if i := strings.IndexByte(kind, ';'); i >= 0 {
		kind = kind[:i]
	}
	if kind == "application/octet-stream" {
		return "not a JPEG/PNG/GIF/BMP/WebP image (unrecognised binary content)"
	}
	return fmt.Sprintf("not a JPEG/PNG/GIF/BMP/WebP image (content looks like %s)", kind)
}

// otherImageFormat names image formats that are common in photo folders but not decoded
// here, from their signatures: HEIC/HEIF and AVIF (ISO-BMFF "ftyp" brands), TIFF, JPEG XL.
func otherImageFormat(head []byte) string {
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch string(head[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis":
			return "HEIC (iPhone photo)"
		case "mif1", "msf1":
			return "HEIF"
		case "avif", "avis":
			return "AVIF"
		}
	}
	switch {
	case len(head) >= 4 && (string(head[:4]) == "II*\x00" || string(head[:4]) == "MM\x00*"):
		return "TIFF"
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0x0A,
		len(head) >= 12 && string(head[:12]) == "\x00\x00\x00\x0cJXL \r\n\x87\n":
		return "JPEG XL"
	}
	return ""
}

func decodeConfig(format string, r io.Reader) (image.Config, error) {
	switch format {
	case "jpeg":
		return jpeg.DecodeConfig(r)
	case "png":
		return png.DecodeConfig(r)
	case "gif":
		return gif.DecodeConfig(r)
	case "bmp":
		return bmp.DecodeConfig(r)
	case "webp":
		return webp.DecodeConfig(r)
	}
	return image.Config{}, errors.Errorf("unknown format %q", format)
}

func decodeFormat(format string, r io.Reader) (image.Image, error) {
	switch format {
	case "jpeg":
		return jpeg.Decode(r)
	case "png":
		return png.Decode(r)
	case "gif":
		return gif.Decode(r) // first frame of an animation
	case "bmp":
		return bmp.Decode(r)
	case "webp":
		return webp.Decode(r)
	}
	return nil, errors.Errorf("unknown format %q", format)
}

// decoderReason turns a decoder error into a short reason; data (may be nil) lets it name
// the JPEG variant the decoder does not support.
func decoderReason(format string, err error, data []byte) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Sprintf("truncated %s (data ends early)", strings.ToUpper(format))
	}
	if format == "jpeg" && len(data) > 4 && !bytes.HasSuffix(bytes.TrimRight(data, "\x00"), []byte{0xFF, 0xD9}) {
		return fmt.Sprintf("truncated JPEG (no end-of-image marker; decoder: %v)", err)
	}
	var unsupported jpeg.UnsupportedError
	if format == "jpeg" && errors.As(err, &unsupported) {
		if v := jpegVariant(data); v != "" {
			return fmt.Sprintf("unsupported JPEG variant: %s (decoder: %v)", v, err)
		}
	}
	return fmt.Sprintf("cannot decode %s: %v", strings.ToUpper(format), err)
}

// jpegVariant names the frame type of JPEG data when it is not 8-bit baseline/progressive
// Huffman (what Go's decoder, like most, supports), or "".
func jpegVariant(data []byte) string {
	pos := 2
	for pos+4 <= len(data) {
		if data[pos] != 0xFF {
			return ""
		}
		m := data[pos+1]
		if m == 0xFF {
			pos++
			continue
		}
		n := int(data[pos+2])<<8 | int(data[pos+3])
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			precision := 0
			if pos+4 < len(data) {
				precision = int(data[pos+4])
			}
			switch {
			case m >= 0xC9:
				return fmt.Sprintf("arithmetic coding (SOF%d)", m-0xC0)
			case m == 0xC3 || m == 0xC7:
				return fmt.Sprintf("lossless (SOF%d)", m-0xC0)
			case m >= 0xC5:
				return fmt.Sprintf("hierarchical (SOF%d)", m-0xC0)
			case precision != 8:
				return fmt.Sprintf("%d-bit samples", precision)
			}
			return ""
		}
		if m == 0xDA || n < 2 {
			return ""
		}
		pos += 2 + n
	}
	return ""
}

// checkHeader sniffs the format, reads the dimensions from r and enforces MaxPixels.
// name is used in errors and for the extension note; full is whatever part of the file
// is at hand, for error reasons.
func checkHeader(name string, head, full []byte, r io.Reader) (Info, error) {
	info := Info{Orientation: 1}
	info.Format = Sniff(head)
	if info.Format == "" {
		return info, &BadImageError{Path: name, Reason: notImageReason(head)}
	}
	if want, ok := extFormats[strings.ToLower(filepath.Ext(name))]; ok && want != info.Format {
		info.Note = fmt.Sprintf("%s content in a %s file", strings.ToUpper(info.Format), filepath.Ext(name))
	}
	cfg, err := decodeConfig(info.Format, r)
	if err != nil {
		return info, &BadImageError{Path: name, Reason: decoderReason(info.Format, err, full)}
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return info, &BadImageError{Path: name, Reason: fmt.Sprintf("invalid size %d×%d", cfg.Width, cfg.Height)}
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return info, &BadImageError{Path: name, Reason: fmt.Sprintf(
			"too large: header says %d×%d (%.0f megapixels, limit %d): possible decompression bomb",
			cfg.Width, cfg.Height, float64(cfg.Width)*float64(cfg.Height)/1e6, MaxPixels/1_000_000)}
	}
	return info, nil
}

// Inspect reads only the header of the image file at path: format by content, size, and
// the extension note. Content problems are *BadImageError; I/O errors (permissions) are not.
func Inspect(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, errors.Wrapf(err, "opening %q", path)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 8192)
	head, err := br.Peek(8192)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return Info{}, errors.Wrapf(err, "reading %q", path)
	}
	info, err := checkHeader(path, head, head, br)
	if err != nil {
		return info, err
	}
	if info.Format == "jpeg" {
		// EXIF lives in the first segments; 64 KiB is the largest APP1 segment.
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			buf := make([]byte, 70*1024)
			n, _ := io.ReadFull(f, buf)
			info.Orientation = exifOrientation(buf[:n])
		}
	}
	return info, nil
}

// Decode decodes an image file's bytes into 8-bit RGB (no resize), applying the policies
// in the package comment. name is used in errors and for the extension note.
func Decode(data []byte, name string) (*RGB, Info, error) {
	head := data
	if len(head) > 512 {
		head = head[:512]
	}
	info, err := checkHeader(name, head, data, bytes.NewReader(data))
	if err != nil {
		return nil, info, err
	}
	img, err := decodeFormat(info.Format, bytes.NewReader(data))
	if err != nil {
		return nil, info, &BadImageError{Path: name, Reason: decoderReason(info.Format, err, data)}
	}
	rgb := ToRGB(img)
	if info.Format == "jpeg" {
		info.Orientation = exifOrientation(data)
		rgb = Orient(rgb, info.Orientation)
	}
	return rgb, info, nil
}

// ReadFile decodes the image file at path into 8-bit RGB at its own size.
func ReadFile(path string) (*RGB, Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Info{}, errors.Wrapf(err, "reading %q", path)
	}
	return Decode(data, path)
}

// Load decodes the image file at path and resizes it to size×size with Resize (the
// article's cv2.imread + cv2.resize(img, (size, size)), but in RGB order). size <= 0 keeps
// the image's own size.
func Load(path string, size int) (*RGB, error) {
	img, _, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		img = Resize(img, size, size)
	}
	return img, nil
}

// ToRGB converts any image.Image into 8-bit RGB, compositing alpha on Background.
func ToRGB(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := NewRGB(w, h)
	p := dst.Pix
	switch src := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(src, p)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[(y)*src.Stride : y*src.Stride+w]
			i := y * w * 3
			for _, v := range row {
				p[i], p[i+1], p[i+2] = v, v, v
				i += 3
			}
		}
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			i := y * w * 3
			for x := 0; x < w; x++ {
				p[i], p[i+1], p[i+2] = color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
				i += 3
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			i := y * w * 3
			for x := 0; x < w; x++ {
				a := uint32(row[4*x+3])
				for c := 0; c < 3; c++ {
					p[i+c] = uint8((uint32(row[4*x+c])*a + uint32(Background[c])*(255-a) + 127) / 255)
				}
				i += 3
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+4*w]
			i := y * w * 3
			for x := 0; x < w; x++ {
				a := uint32(row[4*x+3])
				for c := 0; c < 3; c++ { // premultiplied
					p[i+c] = uint8(min(255, uint32(row[4*x+c])+(uint32(Background[c])*(255-a)+127)/255))
				}
				i += 3
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for k, c := range src.Palette {
			lut[k] = composite(c)
		}
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+w]
			i := y * w * 3
			for _, k := range row {
				p[i], p[i+1], p[i+2] = lut[k][0], lut[k][1], lut[k][2]
				i += 3
			}
		}
	default: // 16-bit and other models
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := composite(src.At(x, y))
				p[i], p[i+1], p[i+2] = c[0], c[1], c[2]
				i += 3
			}
		}
	}
	return dst
}

// ycbcrToRGB converts JPEG's usual output with color.YCbCrToRGB's integer arithmetic,
// indexing the chroma planes directly instead of calling YOffset/COffset per pixel.
func ycbcrToRGB(src *image.YCbCr, p []uint8) {
	b := src.Rect
	var shx, shy uint // chroma subsampling as shifts
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		shx = 1
	case image.YCbCrSubsampleRatio420:
		shx, shy = 1, 1
	case image.YCbCrSubsampleRatio440:
		shy = 1
	case image.YCbCrSubsampleRatio411:
		shx = 2
	case image.YCbCrSubsampleRatio410:
		shx, shy = 2, 1
	}
	w := b.Dx()
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		yrow := src.Y[(y-b.Min.Y)*src.YStride:][:w]
		c0 := (y>>shy - b.Min.Y>>shy) * src.CStride
		cbRow, crRow := src.Cb[c0:], src.Cr[c0:]
		out := p[i : i+3*w]
		for k, yv := range yrow {
			ci := (b.Min.X+k)>>shx - b.Min.X>>shx
			yy1 := int32(yv) * 0x10101
			cb1 := int32(cbRow[ci]) - 128
			cr1 := int32(crRow[ci]) - 128
			o := out[3*k : 3*k+3 : 3*k+3]
			o[0] = clamp16(yy1 + 91881*cr1)
			o[1] = clamp16(yy1 - 22554*cb1 - 46802*cr1)
			o[2] = clamp16(yy1 + 116130*cb1)
		}
		i += 3 * w
	}
}

// clamp16 is color.YCbCrToRGB's rounding: v>>16 clamped to 0..255.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// composite converts one colour to 8-bit RGB over Background, rounding 16-bit values.
func composite(c color.Color) [3]uint8 {
	r, g, b, a := c.RGBA() // premultiplied, 0..65535
	var out [3]uint8
	for k, v := range [3]uint32{r, g, b} {
		v += uint32(Background[k]) * 257 * (65535 - a) / 65535
		out[k] = uint8((min(v, 65535)*255 + 32767) / 65535)
	}
	return out
}

// exifOrientation returns the EXIF orientation (1..8) of JPEG data, 1 when absent or invalid.
func exifOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	pos := 2
	for pos+4 <= len(data) {
		if data[pos] != 0xFF {
			return 1
		}
		marker := data[pos+1]
		if marker == 0xFF { // fill byte
			pos++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan / end: no EXIF before it
			return 1
		}
		segLen := int(binary.BigEndian.Uint16(data[pos+2:]))
		if segLen < 2 || pos+2+segLen > len(data) {
			return 1
		}
		seg := data[pos+4 : pos+2+segLen]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		pos += 2 + segLen
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of IFD0 of a TIFF (EXIF) block.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for k := 0; k < n; k++ {
		e := ifd + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// Orient returns img turned upright for EXIF orientation o (1..8); 1 and unknown values
// return img itself.
func Orient(img *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.Width, img.Height
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := NewRGB(dw, dh)
	i := 0
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			j := (sy*w + sx) * 3
			dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2] = img.Pix[j], img.Pix[j+1], img.Pix[j+2]
			i += 3
		}
	}
	return dst
}
