// Package plots draws the notebooks' pictures: bar charts (class counts), line charts
// (loss/accuracy curves, train vs validation), confusion-matrix heat-maps and captioned
// image grids. Nothing is fetched from a CDN, so plots render offline, in exported HTML
// and in nbconvert output.
//
// Every function returns a *Figure: one description with two renderings, SVG text
// (Figure.SVG; photos embedded as data: URIs, text XML-escaped) and a raster drawn in
// pure Go (Figure.PNG). flowerlib/nb sends both in one output, so a notebook shows the
// SVG where it is trusted and the PNG where it is not (a shared copy).
package plots

import (
	"html"
	"math"
	"strconv"
)

// Palette holds the series colours (matplotlib's tab10, so curves look familiar).
var Palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// MistakeColor marks wrong predictions in image grids.
const MistakeColor = "#d62728"

// CorrectColor marks right predictions in image grids.
const CorrectColor = "#2ca02c"

// Chart holds what bar and line charts share. Zero Width/Height take the defaults.
type Chart struct {
	Title          string
	XLabel, YLabel string
	Width, Height  int     // pixels; default 560×340
	YMax           float64 // bar charts: top of the value axis (e.g. 100 for percentages); 0 = from the data
	// LogY spaces the value axis of line and XY charts by powers of ten (ticks at round
	// values: 0.3, 1, 3, 10, …), so that curves of very different sizes (a loss of 0.5 beside
	// a validation loss of 100) both keep their shape; values ≤ 0 are left out. Say so in
	// YLabel.
	LogY bool
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
