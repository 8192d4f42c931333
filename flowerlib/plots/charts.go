package plots

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
}

// plotArea is the rectangle inside the axes.
type plotArea struct{ x0, y0, x1, y1 float64 } // y0 top, y1 bottom

// BarChart draws vertical bars with their values on top (e.g. images per class). Values
// must be finite and ≥ 0; others are drawn as 0 and labelled "NaN"/"-".
func BarChart(c Chart, bars []Bar) *Figure {
	w, h := c.size()
	f := newFigure("flowers-bar-chart", w, h)
	f.Title = c.Title
	a := plotArea{x0: 56, y0: 36, x1: float64(w) - 16, y1: float64(h) - 52}
	f.header(c, a, w)
	hi := 0.0
	for _, bar := range bars {
		if bar.Value > hi && !math.IsInf(bar.Value, 0) {
			hi = bar.Value
		}
	}
	top := hi * 1.08 // headroom for the value labels
	if c.YMax > 0 {
		top = c.YMax
	}
	ticks, _, thi := niceTicks(0, top, 5)
	f.yAxis(a, span{ticks: ticks, lo: 0, hi: thi})
	if len(bars) > 0 {
		slot := (a.x1 - a.x0) / float64(len(bars))
		bw := slot * 0.7
		for i, bar := range bars {
			v := bar.Value
			label := tickLabel(v)
			if !(v >= 0) || math.IsInf(v, 0) {
				label, v = fmt.Sprint(v), 0
			}
			x := a.x0 + slot*float64(i) + (slot-bw)/2
			y := a.y1 - (a.y1-a.y0)*v/thi
			f.rect(x, y, bw, a.y1-y, style{class: "bar", fill: Palette[i%len(Palette)], tip: bar.Label + ": " + label})
			f.text(x+bw/2, y-4, label, textStyle{anchor: "middle", class: "value"})
			f.text(x+bw/2, a.y1+16, bar.Label, textStyle{anchor: "middle", class: "category"})
		}
	}
	f.xAxisLine(a)
	if c.XLabel != "" {
		f.text((a.x0+a.x1)/2, float64(h)-12, c.XLabel, textStyle{anchor: "middle", class: "xlabel"})
	}
	return f
}

// Series is one curve of a line chart: Y[i] at X[i] (X nil means 1, 2, 3, …, like epochs).
// Dashed draws it dashed (e.g. validation next to a solid training curve); Color "" picks
// from Palette. Width is the line's width in pixels (0 = 2; its point markers grow with it):
// wider lines are drawn first, so that where lines coincide each stays visible around the
// thinner ones on it.
// Non-finite points break the line.
type Series struct {
	Name   string
	X, Y   []float64
	Color  string
	Dashed bool
	Width  float64
}

func (s Series) x(i int) float64 {
	if s.X == nil {
		return float64(i + 1)
	}
	return s.X[i]
}

// LineChart draws several series on shared axes with markers and a legend (e.g. loss and
// val_loss per epoch), on a logarithmic value axis when c.LogY. Series with fewer X than Y
// values use the first len(X).
func LineChart(c Chart, series []Series) *Figure {
	f, a := legendFigure(c, "flowers-line-chart", seriesLegendWidth(series))
	yv := valueAxis{log: c.LogY}

	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for i := range points(s) {
			x, y := s.x(i), yv.of(s.Y[i])
			if finite(x) && finite(y) {
				xlo, xhi = min(xlo, x), max(xhi, x)
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	if math.IsInf(xlo, 0) { // no finite point at all
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	ys := yv.span(ylo, yhi)
	xticks, xlo, xhi := niceTicks(xlo, xhi, min(8, max(2, int(xhi-xlo)+1)))
	px, py := f.xyFrame(c, a, span{ticks: xticks, lo: xlo, hi: xhi}, ys)

	for _, k := range drawOrder(series) {
		s := series[k]
		at := func(i int) (Point, bool) {
			x, y := s.x(i), yv.of(s.Y[i])
			return Point{px(x), py(y)}, finite(x) && finite(y)
		}
		tip := func(i int) string { return fmt.Sprintf("%s %s: %s", s.Name, tickLabel(s.x(i)), tickLabel(s.Y[i])) }
		f.series(k, s, at, tip)
	}
	for k, s := range series {
		f.legendLine(a, k, s)
	}
	return f
}

// legendFigure starts the figure of chart c with a legend legendW wide right of the plot
// area: the title and the y label written, it returns the figure and its plot area.
func legendFigure(c Chart, class string, legendW float64) (*Figure, plotArea) {
	w, h := c.size()
	f := newFigure(class, w, h)
	f.Title = c.Title
	a := plotArea{x0: 60, y0: 36, x1: float64(w) - 16 - legendW, y1: float64(h) - 48}
	f.header(c, a, w)
	return f, a
}

// seriesLegendWidth is the width of the legend of series: the longest name and its line.
func seriesLegendWidth(series []Series) float64 {
	legendW := 0.0
	for _, s := range series {
		legendW = max(legendW, labelWidth(s.Name, 12)+36)
	}
	return legendW
}

// drawOrder returns the order to draw series in: wider lines first, the others in their
// order, so that a thin line stays visible on a wide one where they coincide.
func drawOrder(series []Series) []int {
	order := make([]int, len(series))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(series[j].width(), series[i].width()) })
	return order
}

func (s Series) width() float64 {
	if s.Width <= 0 {
		return 2
	}
	return s.Width
}

func (s Series) color(k int) string {
	if s.Color == "" {
		return Palette[k%len(Palette)]
	}
	return s.Color
}

// series draws series k of a chart: its line through the points at(i) (false for a point
// left out, which breaks the line) and a dot with the tooltip tip(i) on each point when tip
// is not nil.
func (f *Figure) series(k int, s Series, at func(i int) (Point, bool), tip func(i int) string) {
	color, width := s.color(k), s.width()
	dot := max(2.5, 1.1*width) // a wider line's dots ring a thinner one's
	line := style{fill: "none", stroke: color, width: width, dashed: s.Dashed}
	f.group("series", fmt.Sprintf(`data-name="%s"`, esc(s.Name)))
	var pts []Point
	flush := func() {
		if len(pts) > 1 {
			f.polyline(pts, line)
		}
		pts = pts[:0]
	}
	for i := range points(s) {
		p, ok := at(i)
		if !ok {
			flush()
			continue
		}
		pts = append(pts, p)
		if tip != nil {
			f.circle(p.X, p.Y, dot, style{fill: color, tip: tip(i)})
		}
	}
	flush()
	f.endGroup()
}

// legendLine draws the legend entry of series k right of a: its line and name.
func (f *Figure) legendLine(a plotArea, k int, s Series) {
	ly := a.y0 + 8 + 18*float64(k)
	lx := a.x1 + 12
	f.line(lx, ly, lx+22, ly, style{class: "legend-line", stroke: s.color(k), width: s.width(), dashed: s.Dashed})
	f.text(lx+28, ly+4, s.Name, textStyle{anchor: "start", class: "legend"})
}

// labelWidth estimates the width of s in CSS pixels at size px in whichever font shows it:
// the raster's Go font, or a browser's (about 0.58 em per Latin letter in DejaVu Sans).
func labelWidth(s string, size float64) float64 {
	return max(textWidth(s, size, false), 0.58*size*float64(len([]rune(s))))
}

func points(s Series) int {
	if s.X == nil {
		return len(s.Y)
	}
	return min(len(s.X), len(s.Y))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// header writes the title and the rotated y label.
func (f *Figure) header(c Chart, a plotArea, w int) {
	if c.Title != "" {
		f.text(float64(w)/2, 22, c.Title, titleStyle)
	}
	if c.YLabel != "" {
		cy := (a.y0 + a.y1) / 2
		f.text(14, cy, c.YLabel, textStyle{anchor: "middle", class: "ylabel", rotate: -90})
	}
}

var titleStyle = textStyle{anchor: "middle", class: "title", size: 15, bold: true}

// yAxis writes horizontal grid lines and tick labels for the ticks of s.
func (f *Figure) yAxis(a plotArea, s span) {
	for _, t := range s.ticks {
		y := a.y1 - (a.y1-a.y0)*(t-s.lo)/(s.hi-s.lo)
		f.line(a.x0, y, a.x1, y, style{stroke: "#ddd"})
		f.text(a.x0-6, y+4, s.labelOf(t), textStyle{anchor: "end", class: "tick"})
	}
	f.line(a.x0, a.y0, a.x0, a.y1, style{stroke: "#333"})
}

func (f *Figure) xAxisLine(a plotArea) {
	f.line(a.x0, a.y1, a.x1, a.y1, style{stroke: "#333"})
}

// xyFrame draws the frame of a chart of points over a: the y grid and labels (yAxis), the x
// ticks, the axis lines and c.XLabel under them. It returns the maps from axis units to
// figure coordinates.
func (f *Figure) xyFrame(c Chart, a plotArea, x, y span) (px, py func(float64) float64) {
	f.yAxis(a, y)
	px = func(v float64) float64 { return a.x0 + (a.x1-a.x0)*(v-x.lo)/(x.hi-x.lo) }
	py = func(v float64) float64 { return a.y1 - (a.y1-a.y0)*(v-y.lo)/(y.hi-y.lo) }
	for _, t := range x.ticks {
		f.line(px(t), a.y1, px(t), a.y1+4, style{stroke: "#333"})
		f.text(px(t), a.y1+16, x.labelOf(t), textStyle{anchor: "middle", class: "tick"})
	}
	f.xAxisLine(a)
	if c.XLabel != "" {
		f.text((a.x0+a.x1)/2, a.y1+38, c.XLabel, textStyle{anchor: "middle", class: "xlabel"})
	}
	return px, py
}
