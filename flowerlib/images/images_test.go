package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"golang.org/x/image/bmp"
)

func decodeOK(t *testing.T, data []byte, name string) (*RGB, Info) {
	t.Helper()
	img, info, err := Decode(data, name)
	if err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	if len(img.Pix) != img.Width*img.Height*3 {
		t.Fatalf("Decode(%s): %d bytes for %dx%d", name, len(img.Pix), img.Width, img.Height)
	}
	return img, info
}

// maxDiff compares img with a reference image.Image converted independently via At().
func maxDiff(img *RGB, ref image.Image) int {
	worst := 0
	b := ref.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			r, g, bl, _ := ref.At(b.Min.X+x, b.Min.Y+y).RGBA()
			pr, pg, pb := img.At(x, y)
			for _, d := range []int{int(pr) - int(r>>8), int(pg) - int(g>>8), int(pb) - int(bl>>8)} {
				worst = max(worst, abs(d))
			}
		}
	}
	return worst
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Rows 13 (colour models) and 11 (detected by content).
func TestDecodeColourModels(t *testing.T) {
	pat := imagestest.Pattern(37, 23)
	var bmpBuf bytes.Buffer
	if err := bmp.Encode(&bmpBuf, pat); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		data   []byte
		ref    image.Image
		format string
		tol    int
	}{
		{"rgb.png", imagestest.PNG(pat), pat, "png", 0},
		{"gray.png", imagestest.PNG(imagestest.Gray(37, 23)), imagestest.Gray(37, 23), "png", 0},
		{"gray16.png", imagestest.PNG(imagestest.Gray16(37, 23)), imagestest.Gray16(37, 23), "png", 1},
		{"rgb16.png", imagestest.PNG(imagestest.RGBA64(37, 23)), pat, "png", 0},
		{"palette.png", imagestest.PNG(imagestest.Paletted(37, 23)), imagestest.Paletted(37, 23), "png", 0},
		{"x.bmp", bmpBuf.Bytes(), pat, "bmp", 0},
		{"gray.jpg", imagestest.JPEG(imagestest.Gray(37, 23)), imagestest.Gray(37, 23), "jpeg", 12},
		{"photo.jpg", imagestest.JPEG(imagestest.Smooth(37, 23)), imagestest.Smooth(37, 23), "jpeg", 12},
	}
	for _, c := range cases {
		img, info := decodeOK(t, c.data, c.name)
		if info.Format != c.format || img.Width != 37 || img.Height != 23 {
			t.Errorf("%s: got format %q %dx%d, want %q 37x23", c.name, info.Format, img.Width, img.Height, c.format)
		}
		if d := maxDiff(img, c.ref); d > c.tol {
			t.Errorf("%s: max difference to the source %d > %d", c.name, d, c.tol)
		}
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// docs/BAD_INPUTS.md row 13 (CMYK JPEG) and WebP, from the copied fixtures (testdata/README.md).
func TestCMYKAndWebP(t *testing.T) {
	var ref image.Image
	for _, name := range []string{"testdata/video-001.cmyk.jpeg", "testdata/video-001.lossy.webp"} {
		if strings.Contains(name, "cmyk") {
			ref = readPNG(t, "testdata/video-001.cmyk.png")
		} else {
			ref = readPNG(t, "testdata/video-001.png")
		}
		img, info, err := ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if img.Width != ref.Bounds().Dx() || img.Height != ref.Bounds().Dy() {
			t.Fatalf("%s: size %dx%d, want %v", name, img.Width, img.Height, ref.Bounds().Size())
		}
		// Lossy codecs: compare the mean absolute difference to the lossless original.
		sum, n := 0, 0
		b := ref.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				r, g, bl, _ := ref.At(b.Min.X+x, b.Min.Y+y).RGBA()
				pr, pg, pb := img.At(x, y)
				sum += abs(int(pr)-int(r>>8)) + abs(int(pg)-int(g>>8)) + abs(int(pb)-int(bl>>8))
				n += 3
			}
		}
		mean := float64(sum) / float64(n)
		t.Logf("%s (%s): mean |diff| to the PNG reference %.2f", name, info.Format, mean)
		if mean > 12 {
			t.Errorf("%s: mean |diff| %.2f > 8: colour conversion is wrong", name, mean)
		}
	}
}

// docs/BAD_INPUTS.md row 11: a PNG or GIF named .jpg is decoded and noted.
func TestContentNotExtension(t *testing.T) {
	pat := imagestest.Pattern(8, 8)
	_, info := decodeOK(t, imagestest.PNG(pat), "x.jpg")
	if info.Format != "png" || info.Note != "PNG content in a .jpg file" {
		t.Errorf("PNG named .jpg: format %q note %q", info.Format, info.Note)
	}
	_, info = decodeOK(t, imagestest.AnimatedGIF(4, 4), "x.JPG")
	if info.Format != "gif" || !strings.Contains(info.Note, "GIF content") {
		t.Errorf("GIF named .JPG: format %q note %q", info.Format, info.Note)
	}
}

// Rows 8, 9, 12, 17, 18: bad content is a *BadImageError with a clear reason.
func TestBadContent(t *testing.T) {
	jpg := imagestest.JPEG(imagestest.Pattern(64, 48))
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty.jpg", "empty file (0 bytes)", nil},
		{"page.jpg", "content looks like text/html", imagestest.HTML},
		{"notes.jpg", "content looks like text/plain", []byte("just some notes\n")},
		{"cut.jpg", "truncated JPEG", imagestest.Truncated(jpg)},
		{"bomb.png", "too large: header says 100000×100000", imagestest.PNGBomb(100000, 100000)},
		{"bomb.jpg", "too large: header says 65000×65000 (4225 megapixels, limit 50): possible decompression bomb", imagestest.JPEGSize(jpg, 65000, 65000)},
		{"arith.jpg", "unsupported JPEG variant: arithmetic coding (SOF9)", imagestest.Arithmetic(jpg)},
		{"12bit.jpg", "unsupported JPEG variant: 12-bit samples", imagestest.TwelveBit(jpg)},
		// Photos from phones and cameras that only look like JPEGs by name.
		{"IMG_1.jpg", "HEIC (iPhone photo) format, which flowerlib does not decode: convert it to JPEG or PNG",
			append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...)},
		{"x.jpg", "AVIF format", append([]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1"), make([]byte, 64)...)},
		{"scan.jpg", "TIFF format", append([]byte("II*\x00\x08\x00\x00\x00"), make([]byte, 64)...)},
		{"noise.jpg", "unrecognised binary content", []byte{0x00, 0x9f, 0x13, 0x77, 0xee, 0x01, 0x02, 0x88, 0x42, 0xfe, 0x00, 0x10}},
	}
	for _, c := range cases {
		_, _, err := Decode(c.data, c.name)
		if err == nil || !IsBadImage(err) {
			t.Errorf("%s: got %v, want a BadImageError", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"`+c.name+`"`) {
			t.Errorf("%s: error %q should quote the name and contain %q", c.name, err, c.want)
		}
		// The header check (what labels.Scan uses) must agree where it can see the problem.
		path := filepath.Join(t.TempDir(), c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Inspect(path)
		if c.name != "cut.jpg" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("Inspect(%s): got %v, want %q", c.name, err, c.want)
		}
	}
}

// docs/BAD_INPUTS.md row 10: extra bytes before EOI decode like libjpeg does.
func TestExtraBytesBeforeEOI(t *testing.T) {
	pat := imagestest.Pattern(40, 30)
	jpg := imagestest.JPEG(pat)
	want, _ := decodeOK(t, jpg, "a.jpg")
	got, _ := decodeOK(t, imagestest.ExtraBeforeEOI(jpg, 13), "b.jpg")
	if !bytes.Equal(want.Pix, got.Pix) {
		t.Errorf("extra bytes before EOI changed the pixels")
	}
}

// docs/BAD_INPUTS.md row 14: alpha is composited on white.
func TestAlphaOnBackground(t *testing.T) {
	img, _ := decodeOK(t, imagestest.PNG(imagestest.HalfTransparent(10, 2)), "a.png")
	if r, g, b := img.At(0, 0); r != 255 || g != 255 || b != 255 {
		t.Errorf("transparent pixel: got %d,%d,%d, want white", r, g, b)
	}
	// 50% red over white: (255, 127, 127) with a = 128/255.
	if r, g, b := img.At(9, 1); r != 255 || g != 127 || b != 127 {
		t.Errorf("half-transparent red: got %d,%d,%d, want 255,127,127", r, g, b)
	}
}

// docs/BAD_INPUTS.md row 16: animated GIF gives the first frame (red).
func TestAnimatedGIF(t *testing.T) {
	img, _ := decodeOK(t, imagestest.AnimatedGIF(6, 5), "anim.gif")
	for i := 0; i < len(img.Pix); i += 3 {
		if img.Pix[i] != 255 || img.Pix[i+1] != 0 || img.Pix[i+2] != 0 {
			t.Fatalf("pixel %d: got %v, want red (first frame)", i/3, img.Pix[i:i+3])
		}
	}
}

// docs/BAD_INPUTS.md row 15: EXIF orientation is applied. Each orientation's forward map (where source pixel
// (x, y) of a w×h image lands) is written out here independently of Orient.
func TestEXIFOrientation(t *testing.T) {
	const w, h = 24, 16
	jpg := imagestest.JPEG(imagestest.Pattern(w, h))
	src, info := decodeOK(t, jpg, "o1.jpg")
	if info.Orientation != 1 {
		t.Fatalf("no EXIF: orientation %d", info.Orientation)
	}
	fwd := map[int]func(x, y int) (int, int){
		1: func(x, y int) (int, int) { return x, y },
		2: func(x, y int) (int, int) { return w - 1 - x, y },         // mirror
		3: func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }, // 180°
		4: func(x, y int) (int, int) { return x, h - 1 - y },         // flip
		5: func(x, y int) (int, int) { return y, x },                 // transpose
		6: func(x, y int) (int, int) { return h - 1 - y, x },         // 90° clockwise
		7: func(x, y int) (int, int) { return h - 1 - y, w - 1 - x }, // transverse
		8: func(x, y int) (int, int) { return y, w - 1 - x },         // 90° counter-clockwise
	}
	for o := 1; o <= 8; o++ {
		got, info := decodeOK(t, imagestest.WithEXIFOrientation(jpg, o), fmt.Sprintf("o%d.jpg", o))
		if info.Orientation != o {
			t.Errorf("orientation %d read as %d", o, info.Orientation)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := fwd[o](x, y)
				r, g, b := src.At(x, y)
				if r2, g2, b2 := got.At(dx, dy); r != r2 || g != g2 || b != b2 {
					t.Fatalf("orientation %d: source (%d,%d) should land at (%d,%d)", o, x, y, dx, dy)
				}
			}
		}
	}
}

func TestResizeExact(t *testing.T) {
	// 4×1 → 2×1: centres at source x=0.5 and 2.5.
	src := &RGB{Width: 4, Height: 1, Pix: []uint8{0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255}}
	got := Resize(src, 2, 1)
	if want := []uint8{50, 50, 50, 228, 228, 228}; !bytes.Equal(got.Pix, want) {
		t.Errorf("4→2: got %v, want %v", got.Pix, want)
	}
	// 2×1 → 4×1: x = -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
	src = &RGB{Width: 2, Height: 1, Pix: []uint8{0, 0, 0, 200, 200, 200}}
	got = Resize(src, 4, 1)
	if want := []uint8{0, 0, 0, 50, 50, 50, 150, 150, 150, 200, 200, 200}; !bytes.Equal(got.Pix, want) {
		t.Errorf("2→4: got %v, want %v", got.Pix, want)
	}
}

// TestResizeMatchesTorch compares Resize with torch.nn.functional.interpolate(bilinear,
// align_corners=False, antialias=False) on a random image, shrinking and enlarging.
func TestResizeMatchesTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch").Run(); err != nil {
		t.Skip("torch not available in /usr/bin/python3: skipping the reference comparison")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src := NewRGB(301, 187)
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.raw")
	if err := os.WriteFile(in, src.Pix, 0o644); err != nil {
		t.Fatal(err)
	}
	sizes := [][2]int{{224, 224}, {400, 250}, {37, 91}}
	script := `
import sys, numpy as np, torch
import torch.nn.functional as F
w, h = int(sys.argv[2]), int(sys.argv[3])
x = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.uint8).reshape(h, w, 3).astype(np.float32))
x = x.permute(2, 0, 1)[None]
for arg in sys.argv[5:]:
    ow, oh = map(int, arg.split('x'))
    y = F.interpolate(x, size=(oh, ow), mode='bilinear', align_corners=False, antialias=False)
    y[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32).tofile(sys.argv[4] + arg)
`
	args := []string{"-c", script, in, "301", "187", filepath.Join(dir, "out")}
	for _, s := range sizes {
		args = append(args, fmt.Sprintf("%dx%d", s[0], s[1]))
	}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("torch reference failed: %v\n%s", err, out)
	}
	for _, s := range sizes {
		raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out%dx%d", s[0], s[1])))
		if err != nil {
			t.Fatal(err)
		}
		got := Resize(src, s[0], s[1])
		worst := 0.0
		for i, v := range got.Pix {
			ref := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			worst = max(worst, math.Abs(float64(v)-float64(ref)))
		}
		t.Logf("301x187 → %dx%d: max |Resize - torch| = %.4f", s[0], s[1], worst)
		if worst > 0.5+1e-3 {
			t.Errorf("%dx%d: max |diff| %.4f > 0.5 (more than rounding)", s[0], s[1], worst)
		}
	}
}

func TestChannels(t *testing.T) {
	img := &RGB{Width: 2, Height: 1, Pix: []uint8{1, 2, 3, 4, 5, 6}}
	if got := img.BGR(); !bytes.Equal(got, []uint8{3, 2, 1, 6, 5, 4}) {
		t.Errorf("BGR: %v", got)
	}
	if got := img.Float32(); got[0] != 1 || got[5] != 6 || len(got) != 6 {
		t.Errorf("Float32: %v", got)
	}
}

func writeFiles(t *testing.T, files map[string][]byte) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return dir, paths
}

func TestBatches(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	bad := map[int]string{3: "truncated JPEG", 7: "empty file"}
	for i := range 11 {
		p := filepath.Join(dir, fmt.Sprintf("img%02d.jpg", i))
		data := imagestest.JPEG(imagestest.Pattern(30+i, 20+2*i))
		switch i {
		case 3:
			data = imagestest.Truncated(data)
		case 7:
			data = nil
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var progress bytes.Buffer
	it := NewBatches(paths, BatchOptions{Size: 16, BatchSize: 4, Workers: 3, Progress: &progress})
	defer it.Close()
	var sizes, indices []int
	for b := range it.All() {
		sizes = append(sizes, b.N)
		if len(b.Data) != b.N*16*16*3 {
			t.Fatalf("batch data %d floats for %d images", len(b.Data), b.N)
		}
		for k, idx := range b.Indices {
			want, err := Load(paths[idx], 16)
			if err != nil {
				t.Fatal(err)
			}
			wf := want.Float32()
			for j := range wf {
				if b.Data[k*16*16*3+j] != wf[j] {
					t.Fatalf("image %d in batch differs from Load", idx)
				}
			}
		}
		indices = append(indices, b.Indices...)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[4 4 1]" || fmt.Sprint(indices) != "[0 1 2 4 5 6 8 9 10]" {
		t.Errorf("batches %v indices %v, want [4 4 1] and [0 1 2 4 5 6 8 9 10]", sizes, indices)
	}
	f := it.Failures()
	if len(f) != 2 || f[0].Index != 3 || f[1].Index != 7 || !strings.Contains(f[0].Reason, bad[3]) || !strings.Contains(f[1].Reason, bad[7]) {
		t.Errorf("failures: %+v", f)
	}
	if !strings.Contains(progress.String(), "11/11") {
		t.Errorf("progress bar did not reach 11/11: %q", progress.String())
	}
	if s := it.Summary(); !strings.HasPrefix(s, "decoded 9 images (2 skipped)") {
		t.Errorf("summary %q", s)
	}

	// Strict mode stops at the first bad file; a missing file always stops.
	it = NewBatches(paths, BatchOptions{Size: 16, BatchSize: 4, Strict: true})
	for range it.All() {
	}
	if err := it.Err(); err == nil || !strings.Contains(err.Error(), "img03.jpg") {
		t.Errorf("strict: got %v, want an error naming img03.jpg", err)
	}
	it.Close()
	it = NewBatches([]string{paths[0], filepath.Join(dir, "missing.jpg")}, BatchOptions{Size: 16})
	for range it.All() {
	}
	if err := it.Err(); err == nil || !strings.Contains(err.Error(), "missing.jpg") {
		t.Errorf("missing file: got %v", err)
	}
	it.Close()
}

// Closing early must not leak or deadlock.
func TestBatchesCloseEarly(t *testing.T) {
	_, paths := writeFiles(t, map[string][]byte{
		"a.png": imagestest.PNG(imagestest.Pattern(9, 9)), "b.png": imagestest.PNG(imagestest.Pattern(9, 9)),
		"c.png": imagestest.PNG(imagestest.Pattern(9, 9)), "d.png": imagestest.PNG(imagestest.Pattern(9, 9)),
	})
	base := runtime.NumGoroutine()
	for range 20 {
		it := NewBatches(append(append(paths, paths...), paths...), BatchOptions{Size: 8, BatchSize: 1, Workers: 2})
		if b := it.Next(); b == nil || b.N != 1 {
			t.Fatalf("first batch: %+v", b)
		}
		it.Close()
		it.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines left after Close (started with %d)", n, base)
	}
}

// The inlined YCbCr conversion must equal color.YCbCrToRGB for every subsampling and
// for sub-images whose origin is odd.
func TestYCbCrFastPath(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ratio := range ratios {
		full := image.NewYCbCr(image.Rect(0, 0, 23, 17), ratio)
		for _, plane := range [][]uint8{full.Y, full.Cb, full.Cr} {
			for i := range plane {
				plane[i] = uint8(rng.IntN(256))
			}
		}
		for _, img := range []*image.YCbCr{full, full.SubImage(image.Rect(3, 5, 20, 16)).(*image.YCbCr)} {
			got := ToRGB(img)
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					c := img.YCbCrAt(x, y)
					r, g, bl := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
					if pr, pg, pb := got.At(x-b.Min.X, y-b.Min.Y); pr != r || pg != g || pb != bl {
						t.Fatalf("%v %v (%d,%d): got %d,%d,%d want %d,%d,%d", ratio, b, x, y, pr, pg, pb, r, g, bl)
					}
				}
			}
		}
	}
	// The whole 0..255³ range of the arithmetic.
	for y := 0; y < 256; y += 3 {
		for cb := 0; cb < 256; cb++ {
			for cr := 0; cr < 256; cr++ {
				yy1 := int32(y) * 0x10101
				cb1, cr1 := int32(cb)-128, int32(cr)-128
				r, g, b := color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
				if clamp16(yy1+91881*cr1) != r || clamp16(yy1-22554*cb1-46802*cr1) != g || clamp16(yy1+116130*cb1) != b {
					t.Fatalf("YCbCr %d,%d,%d differs", y, cb, cr)
				}
			}
		}
	}
}
