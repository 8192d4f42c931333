package plots

import (
	"fmt"
	"image"
	"math"
	"strings"
)

// Figure is one picture described once, as a list of drawing primitives in CSS pixels,
// with two renderings that cannot diverge: SVG text (Figure.SVG, sharp at any zoom, shown
// where a notebook is trusted) and a raster image drawn in pure Go (Figure.Raster,
// Figure.PNG, shown where it is not: a shared copy, GitHub, nbviewer).
type Figure struct {
	// Class is the SVG root's class ("flowers-bar-chart", ...): tests and CSS find a kind by it.
	Class string
	// Title is a one-line description: the text/plain form of the figure and its alt text.
	Title string
	// Width, Height are the size in CSS pixels.
	Width, Height int
	// Scale is the raster's device pixels per CSS pixel (default 2: sharp on high-DPI
	// screens; figures of photos use 1, their photos have no more detail).
	Scale float64

	items []item
}

type itemKind int

const (
	kRect itemKind = iota
	kLine
	kPolyline
	kCircle
	kText
	kImage
	kGroup
	kEndGroup
	kFigure // a nested figure at (x, y)
)

// Point is a position in CSS pixels.
type Point struct{ X, Y float64 }

// style is how a shape is painted. Colours are "#rrggbb", "white" or "none" ("" = none).
type style struct {
	class  string
	attrs  string // extra raw SVG attributes (data-*), written after class
	fill   string
	stroke string
	width  float64 // stroke width; 0 = 1
	dashed bool    // stroke-dasharray="6 4"
	tip    string  // tooltip: SVG <title> child (not drawn in the raster)
}

// textStyle is how a text is set.
type textStyle struct {
	anchor string // "start", "middle" or "end"
	class  string
	fill   string  // "" = black
	size   float64 // font size in pixels; 0 = 12
	bold   bool
	rotate float64 // degrees clockwise around (x, y), as SVG's rotate(a x y)
}

type item struct {
	kind       itemKind
	x, y, w, h float64 // rect and image box; circle centre (x, y) and radius w; line ends (x,y)-(w,h)
	pts        []Point
	st         style
	text       string
	ts         textStyle
	img        image.Image
	href       string // the image's data: URI in the SVG
	sub        *Figure
}

// newFigure returns a w×h figure with a white background.
func newFigure(class string, w, h int) *Figure {
	f := &Figure{Class: class, Width: w, Height: h}
	f.rect(0, 0, float64(w), float64(h), style{fill: "white"})
	return f
}

func (f *Figure) rect(x, y, w, h float64, s style) {
	f.items = append(f.items, item{kind: kRect, x: x, y: y, w: w, h: h, st: s})
}

func (f *Figure) line(x1, y1, x2, y2 float64, s style) {
	f.items = append(f.items, item{kind: kLine, x: x1, y: y1, w: x2, h: y2, st: s})
}

func (f *Figure) polyline(pts []Point, s style) {
	f.items = append(f.items, item{kind: kPolyline, pts: append([]Point(nil), pts...), st: s})
}

func (f *Figure) circle(cx, cy, r float64, s style) {
	f.items = append(f.items, item{kind: kCircle, x: cx, y: cy, w: r, st: s})
}

// text sets s with its anchor point at (x, y) on the baseline.
func (f *Figure) text(x, y float64, s string, ts textStyle) {
	f.items = append(f.items, item{kind: kText, x: x, y: y, text: s, ts: ts})
}

// image draws img at (x, y), w×h CSS pixels; href is its data: URI for the SVG.
func (f *Figure) image(x, y, w, h float64, img image.Image, href string) {
	f.items = append(f.items, item{kind: kImage, x: x, y: y, w: w, h: h, img: img, href: href})
}

// group opens an SVG <g> (no effect on the raster); endGroup closes it.
func (f *Figure) group(class, attrs string) {
	f.items = append(f.items, item{kind: kGroup, st: style{class: class, attrs: attrs}})
}

func (f *Figure) endGroup() { f.items = append(f.items, item{kind: kEndGroup}) }

// HStack returns one figure with figs side by side, top-aligned, gap pixels apart (e.g.
// the loss and accuracy curves): one picture, so it stays one output in a notebook.
func HStack(class string, gap int, figs ...*Figure) *Figure { return stack(class, gap, false, figs) }

// VStack returns one figure with figs one under the other, centred, gap pixels apart (e.g.
// a gallery of maps over its colour scale): one picture, one output in a notebook.
func VStack(class string, gap int, figs ...*Figure) *Figure { return stack(class, gap, true, figs) }

// stack lays figs out in a row (top-aligned) or a column (centred), gap pixels apart; the
// title joins theirs and the raster scale is the largest of theirs.
func stack(class string, gap int, vertical bool, figs []*Figure) *Figure {
	along := func(g *Figure) int { // g's size along the stack
		if vertical {
			return g.Height
		}
		return g.Width
	}
	across := func(g *Figure) int { // and across it
		if vertical {
			return g.Width
		}
		return g.Height
	}
	length, breadth := 0, 0
	var titles []string
	for i, g := range figs {
		if i > 0 {
			length += gap
		}
		length += along(g)
		breadth = max(breadth, across(g))
		if g.Title != "" {
			titles = append(titles, g.Title)
		}
	}
	w, h := length, breadth
	if vertical {
		w, h = breadth, length
	}
	f := newFigure(class, w, h)
	f.Title = strings.Join(titles, " · ")
	pos := 0
	for _, g := range figs {
		it := item{kind: kFigure, x: float64(pos), sub: g}
		if vertical {
			it.x, it.y = float64((w-g.Width)/2), float64(pos)
		}
		f.items = append(f.items, it)
		pos += along(g) + gap
		f.Scale = max(f.Scale, g.scale())
	}
	return f
}

func (f *Figure) scale() float64 {
	if f.Scale > 0 {
		return f.Scale
	}
	return 2
}

// SVG returns the figure as one self-contained <svg> element (text XML-escaped, photos
// embedded as data: URIs).
func (f *Figure) SVG() string {
	var b strings.Builder
	f.writeSVG(&b, nil)
	return b.String()
}

// writeSVG writes the root <svg>, or a nested one at *at.
func (f *Figure) writeSVG(b *strings.Builder, at *Point) {
	if at == nil {
		b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"`)
	} else {
		fmt.Fprintf(b, `<svg x="%s" y="%s"`, num(at.X), num(at.Y))
	}
	fmt.Fprintf(b, ` class="%s" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12">`,
		esc(f.Class), f.Width, f.Height, f.Width, f.Height, fontFamily)
	for i := range f.items {
		it := &f.items[i]
		switch it.kind {
		case kRect:
			fmt.Fprintf(b, `<rect%s x="%s" y="%s" width="%s" height="%s"%s`, it.st.classAttrs(), num(it.x), num(it.y), num(it.w), num(it.h), it.st.paint())
			b.WriteString(it.st.close("rect"))
		case kLine:
			fmt.Fprintf(b, `<line%s x1="%s" y1="%s" x2="%s" y2="%s"%s`, it.st.classAttrs(), num(it.x), num(it.y), num(it.w), num(it.h), it.st.paint())
			b.WriteString(it.st.close("line"))
		case kPolyline:
			fmt.Fprintf(b, `<polyline%s%s points="`, it.st.classAttrs(), it.st.paint())
			for k, p := range it.pts {
				if k > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(num(p.X) + "," + num(p.Y))
			}
			b.WriteString(`"`)
			b.WriteString(it.st.close("polyline"))
		case kCircle:
			fmt.Fprintf(b, `<circle%s cx="%s" cy="%s" r="%s"%s`, it.st.classAttrs(), num(it.x), num(it.y), num(it.w), it.st.paint())
			b.WriteString(it.st.close("circle"))
		case kText:
			t := it.ts
			fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s"`, num(it.x), num(it.y), t.anchorName())
			if t.class != "" {
				fmt.Fprintf(b, ` class="%s"`, t.class)
			}
			if t.fill != "" {
				fmt.Fprintf(b, ` fill="%s"`, t.fill)
			}
			if t.size != 0 && t.size != 12 {
				fmt.Fprintf(b, ` font-size="%s"`, num(t.size))
			}
			if t.bold {
				b.WriteString(` font-weight="bold"`)
			}
			if t.rotate != 0 {
				fmt.Fprintf(b, ` transform="rotate(%s %s %s)"`, num(t.rotate), num(it.x), num(it.y))
			}
			fmt.Fprintf(b, `>%s</text>`, esc(it.text))
		case kImage:
			fmt.Fprintf(b, `<image x="%s" y="%s" width="%s" height="%s" href="%s" xlink:href="%s"/>`,
				num(it.x), num(it.y), num(it.w), num(it.h), it.href, it.href)
		case kGroup:
			fmt.Fprintf(b, `<g%s>`, it.st.classAttrs())
		case kEndGroup:
			b.WriteString(`</g>`)
		case kFigure:
			it.sub.writeSVG(b, &Point{it.x, it.y})
		}
	}
	b.WriteString("</svg>")
}

func (s style) classAttrs() string {
	out := ""
	if s.class != "" {
		out = fmt.Sprintf(` class="%s"`, s.class)
	}
	if s.attrs != "" {
		out += " " + s.attrs
	}
	return out
}

func (s style) paint() string {
	var b strings.Builder
	if s.fill != "" {
		fmt.Fprintf(&b, ` fill="%s"`, s.fill)
	}
	if s.stroke != "" {
		fmt.Fprintf(&b, ` stroke="%s"`, s.stroke)
		if s.width != 0 && s.width != 1 {
			fmt.Fprintf(&b, ` stroke-width="%s"`, num(s.width))
		}
		if s.dashed {
			b.WriteString(` stroke-dasharray="6 4"`)
		}
	}
	return b.String()
}

// close ends an element: with its tooltip as a <title> child, or self-closed.
func (s style) close(name string) string {
	if s.tip == "" {
		return "/>"
	}
	return fmt.Sprintf("><title>%s</title></%s>", esc(s.tip), name)
}

func (t textStyle) anchorName() string {
	if t.anchor == "" {
		return "start"
	}
	return t.anchor
}

// BannerColor is the banner's text colour (dark red on light yellow).
const BannerColor = "#8a1c00"

// WithBanner returns fig under a warning strip (e.g. "random weights: this accuracy means
// nothing"), wrapped to the figure's width and drawn into the picture itself so that it
// travels with it.
func WithBanner(fig *Figure, text string) *Figure {
	const lineH, pad, size = 16.0, 5.0, 12.0
	lines := wrap(text, float64(fig.Width)-36, size)
	h := int(math.Ceil(2*pad + lineH*float64(len(lines)) + 4))
	f := newFigure(fig.Class+" flowers-banner", fig.Width, fig.Height+h)
	f.Title, f.Scale = fig.Title+" ("+text+")", fig.Scale
	f.rect(0, 0, float64(fig.Width), float64(h-4), style{class: "banner", fill: "#fff3c4"})
	// A round "!" sign (the Go fonts have no ⚠).
	f.circle(14, pad+lineH/2+1, 7, style{fill: BannerColor})
	f.text(14, pad+lineH/2+5, "!", textStyle{anchor: "middle", fill: "white", bold: true})
	for i, l := range lines {
		f.text(28, pad+12+lineH*float64(i), l, textStyle{class: "banner", fill: BannerColor, size: size, bold: true})
	}
	f.items = append(f.items, item{kind: kFigure, x: 0, y: float64(h), sub: fig})
	return f
}

// wrap breaks text at spaces into lines at most width pixels wide (bold, size px).
func wrap(text string, width, size float64) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(text) {
		next := w
		if cur != "" {
			next = cur + " " + w
		}
		if cur != "" && max(textWidth(next, size, true), 0.62*size*float64(len([]rune(next)))) > width {
			lines = append(lines, cur)
			next = w
		}
		cur = next
	}
	return append(lines, cur)
}
