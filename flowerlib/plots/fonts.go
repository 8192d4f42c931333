package plots

import (
	"encoding/binary"
	"math"
	"os"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Text in the raster is set in the Go fonts (Bigelow & Holmes, BSD licence, part of
// golang.org/x/image: ~130 KB each, embedded in the binary), which cover Latin, Greek and
// Cyrillic: every label flowerlib writes is Latin. A character they lack (a Chinese class
// folder name, say) is looked up in a CJK font installed on the machine (FontEnv, then the
// usual Debian, macOS and Windows places); without one it shows as the Go font's empty box
// in the PNG, while the SVG (shown where the notebook is trusted) keeps the real text.
// Embedding a CJK font instead would add 10-20 MB to every program.

// fontFamily is the SVG's font list (the browser's fonts; the Go fonts have close metrics).
const fontFamily = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`

// FontEnv names a TrueType/OpenType font file (or collection) used for characters the
// embedded Go fonts lack.
const FontEnv = "FLOWERS_FONT"

// fallbackFontFiles are tried in order for characters outside the Go fonts.
var fallbackFontFiles = []string{
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
	"/System/Library/Fonts/STHeiti Light.ttc",
	"/System/Library/Fonts/Hiragino Sans GB.ttc",
	`C:\Windows\Fonts\msyh.ttc`,
	`C:\Windows\Fonts\simsun.ttc`,
}

var fonts struct {
	once          sync.Once
	regular, bold *sfnt.Font

	fallbackOnce sync.Once
	fallback     *sfnt.Font // nil: none found
}

func loadFonts() {
	fonts.once.Do(func() {
		var err error
		if fonts.regular, err = sfnt.Parse(goregular.TTF); err != nil {
			panic("plots: parsing the embedded Go Regular font: " + err.Error())
		}
		if fonts.bold, err = sfnt.Parse(gobold.TTF); err != nil {
			panic("plots: parsing the embedded Go Bold font: " + err.Error())
		}
	})
}

// fallbackFont returns the first usable font of FontEnv and fallbackFontFiles, or nil.
func fallbackFont() *sfnt.Font {
	fonts.fallbackOnce.Do(func() {
		files := fallbackFontFiles
		if f := os.Getenv(FontEnv); f != "" {
			files = append([]string{f}, files...)
		}
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				continue
			}
			if f, err := sfnt.Parse(realigned(data)); err == nil {
				fonts.fallback = f
				return
			}
		}
	})
	return fonts.fallback
}

// realigned returns the first font of an sfnt file or collection rebuilt with its tables on
// 4-byte boundaries, as sfnt requires (WenQuanYi Zen Hei, Debian's usual CJK font, has
// unaligned ones); data unchanged when it is not an sfnt file.
func realigned(data []byte) []byte {
	u32 := func(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
	base := 0
	if len(data) >= 16 && string(data[:4]) == "ttcf" {
		base = int(u32(data[12:16]))
	}
	if base+12 > len(data) {
		return data
	}
	n := int(binary.BigEndian.Uint16(data[base+4:]))
	dir := base + 12
	if dir+16*n > len(data) {
		return data
	}
	out := make([]byte, 12+16*n, len(data)+4*n)
	copy(out, data[base:base+12])
	for i := range n {
		rec := data[dir+16*i : dir+16*i+16]
		off, length := int(u32(rec[8:])), int(u32(rec[12:]))
		if off < 0 || length < 0 || off+length > len(data) {
			return data
		}
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		copy(out[12+16*i:], rec[:8])
		binary.BigEndian.PutUint32(out[12+16*i+8:], uint32(len(out)))
		binary.BigEndian.PutUint32(out[12+16*i+12:], uint32(length))
		out = append(out, data[off:off+length]...)
	}
	return out
}

// glyph is one character to draw: its font, index and pen position in device pixels.
type glyph struct {
	f   *sfnt.Font
	idx sfnt.GlyphIndex
	x   float64
}

// layout places the glyphs of s at ppem device pixels per em; it returns them and the
// total advance width.
func layout(s string, bold bool, ppem float64) ([]glyph, float64) {
	loadFonts()
	main := fonts.regular
	if bold {
		main = fonts.bold
	}
	var buf sfnt.Buffer
	size := fixed.Int26_6(math.Round(ppem * 64))
	var out []glyph
	pen := 0.0
	var prev glyph
	for i, r := range s {
		f := main
		idx, err := f.GlyphIndex(&buf, r)
		if (err != nil || idx == 0) && r > 0x7f {
			if fb := fallbackFont(); fb != nil {
				if j, err := fb.GlyphIndex(&buf, r); err == nil && j != 0 {
					f, idx = fb, j
				}
			}
		}
		if i > 0 && prev.f == f {
			if k, err := f.Kern(&buf, prev.idx, idx, size, font.HintingNone); err == nil {
				pen += float64(k) / 64
			}
		}
		g := glyph{f: f, idx: idx, x: pen}
		out = append(out, g)
		if adv, err := f.GlyphAdvance(&buf, idx, size, font.HintingNone); err == nil {
			pen += float64(adv) / 64
		}
		prev = g
	}
	return out, pen
}

// textWidth is the advance width of s in CSS pixels at size px (the raster's metrics).
func textWidth(s string, size float64, bold bool) float64 {
	_, w := layout(s, bold, size)
	return w
}

// text draws a text item: glyph outlines from sfnt, anchored and rotated like SVG's
// text-anchor and rotate(a x y), filled by the vector rasteriser.
func (r *rasterizer) text(it *item, off Point) {
	t := it.ts
	size := t.size
	if size == 0 {
		size = 12
	}
	ppem := size * r.scale
	glyphs, width := layout(it.text, t.bold, ppem)
	shift := 0.0
	switch t.anchor {
	case "middle":
		shift = -width / 2
	case "end":
		shift = -width
	}
	o := r.dev(Point{it.x, it.y}, off)
	sin, cos := math.Sincos(t.rotate * math.Pi / 180)
	tr := func(p fixed.Point26_6, pen float64) vec {
		x, y := float64(p.X)/64+pen+shift, float64(p.Y)/64
		return vec{o.x + x*cos - y*sin, o.y + x*sin + y*cos}
	}
	var p path
	var buf sfnt.Buffer
	sz := fixed.Int26_6(math.Round(ppem * 64))
	for _, g := range glyphs {
		segs, err := g.f.LoadGlyph(&buf, g.idx, sz, nil)
		if err != nil {
			continue
		}
		for _, s := range segs {
			switch s.Op {
			case sfnt.SegmentOpMoveTo:
				p.moveTo(tr(s.Args[0], g.x))
			case sfnt.SegmentOpLineTo:
				p.lineTo(tr(s.Args[0], g.x))
			case sfnt.SegmentOpQuadTo:
				p = append(p, pathOp{n: 2, p: [3]vec{tr(s.Args[0], g.x), tr(s.Args[1], g.x)}})
			case sfnt.SegmentOpCubeTo:
				p = append(p, pathOp{n: 3, p: [3]vec{tr(s.Args[0], g.x), tr(s.Args[1], g.x), tr(s.Args[2], g.x)}})
			}
		}
	}
	fill := t.fill
	if fill == "" {
		fill = "black"
	}
	r.fill(p, fill)
}
