// Package plots draws the notebooks' pictures as self-contained SVG: bar charts (class
// counts), line charts (loss/accuracy curves, train vs validation), confusion-matrix
// heat-maps and captioned image grids (photos embedded as PNG data: URIs). Nothing is
// fetched from a CDN, so plots render offline, in exported HTML and in nbconvert output.
//
// Every function returns one `<svg xmlns=...>` element as a string; display it with
// flowerlib/nb (DisplaySVG) or write it to a .svg file. Text is XML-escaped.
package plots

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Palette holds the series colours (matplotlib's tab10, so curves look familiar).
var Palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// MistakeColor marks wrong predictions in image grids.
const MistakeColor = "#d62728"

// CorrectColor marks right predictions in image grids.
const CorrectColor = "#2ca02c"

const font = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`

// Chart holds what bar and line charts share. Zero Width/Height take the defaults.
type Chart struct {
	Title          string
	XLabel, YLabel string
	Width, Height  int     // pixels; default 560×340
	YMax           float64 // bar charts: top of the value axis (e.g. 100 for percentages); 0 = from the data
}

func (c Chart) size() (w, h int) {
	w, h = c.Width, c.Height
	if w <= 0 {
		w = 560
	}
	if h <= 0 {
		h = 340
	}
	return
}

// svgBuilder accumulates SVG elements.
type svgBuilder struct {
	strings.Builder
}

func newSVG(class string, w, h int) *svgBuilder {
	b := &svgBuilder{}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" class="%s" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12">`,
		class, w, h, w, h, font)
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="white"/>`, w, h)
	return b
}

func (b *svgBuilder) done() string {
	b.WriteString("</svg>")
	return b.String()
}

// text writes a text element; anchor is start, middle or end; extra is raw attributes.
func (b *svgBuilder) text(x, y float64, anchor, s, extra string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s" %s>%s</text>`, num(x), num(y), anchor, extra, esc(s))
}

func esc(s string) string { return html.EscapeString(s) }

// num formats a coordinate compactly.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// niceTicks returns about n round tick values covering [lo, hi] (Heckbert's "nice numbers").
func niceTicks(lo, hi float64, n int) (ticks []float64, tlo, thi float64) {
	if !(hi > lo) {
		if lo == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)*0.1, hi+math.Abs(hi)*0.1
		}
	}
	step := niceNum((hi-lo)/float64(max(n-1, 1)), true)
	tlo = math.Floor(lo/step) * step
	thi = math.Ceil(hi/step) * step
	for v := tlo; v <= thi+step/2; v += step {
		// Round away float noise (2.8000000000000003 → 2.8).
		t, _ := strconv.ParseFloat(strconv.FormatFloat(math.Round(v/step)*step, 'g', 12, 64), 64)
		ticks = append(ticks, t)
	}
	return ticks, tlo, thi
}

func niceNum(x float64, round bool) float64 {
	e := math.Floor(math.Log10(x))
	f := x / math.Pow(10, e)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, e)
}

// tickLabel formats a tick value without float noise (0.30000000000000004 → 0.3).
func tickLabel(v float64) string {
	if math.Abs(v) < 1e-12 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}
