package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Marker is a vertical line across a chart at X: the suggested learning rate of a range
// test, the epoch where fine-tuning starts. Its label is written at the top of the frame;
// or, when On names a series, a dot marks where that series is at X (interpolated between
// its points) and the label goes into the legend with the line and the dot.
type Marker struct {
	X     float64
	Label string
	Color string // "" = MarkerColor
	On    string // the name of a series to mark at X, or ""
}

// MarkerColor is the default colour of markers.
const MarkerColor = "#444444"

// Axes is what XYChart adds to Chart: a logarithmic x axis, a fixed y range and vertical
// markers.
type Axes struct {
	// LogX spaces x by powers of ten (ticks at the decades: 1e-07 … 10); values ≤ 0 are
	// left out.
	LogX bool
	// YMin, YMax fix the y range when YMax > YMin (e.g. 0 and 1 for accuracies); points
	// outside it are left out, breaking their line. Otherwise it fits the data.
	YMin, YMax float64
	Markers    []Marker
	// LegendNote is written in small grey text under the legend, wrapped to its width:
	// what its lines and dots mean where a name cannot say it.
	LegendNote string
}

// XYChart draws series over a numeric x axis (linear or logarithmic; the value axis too with
// c.LogY) with vertical markers and a legend: the loss-vs-learning-rate curve of a range
// test with the suggested rate marked, or validation curves of several runs with the epoch
// where fine-tuning started. Series of more than 40 points are drawn as lines without point
// markers. Non-finite points break the line.
func XYChart(c Chart, ax Axes, series []Series) *Figure {
	legendW := seriesLegendWidth(series)
	for _, m := range ax.Markers {
		if m.On != "" {
			legendW = max(legendW, labelWidth(m.Label, 12)+36)
		}
	}
	f, a := legendFigure(c, "flowers-xy-chart", legendW)
	tx := valueAxis{log: ax.LogX}.of
	yv := valueAxis{log: c.LogY}
	ty := yv.of
	xlo, xhi, ylo, yhi := xyBounds(series, ax.Markers, tx, ty)
	fixed := ax.YMax > ax.YMin && finite(ty(ax.YMin)) && finite(ty(ax.YMax))
	if fixed {
		ylo, yhi = ty(ax.YMin), ty(ax.YMax)
	}
	ys := yv.span(ylo, yhi)
	px, py := f.xyFrame(c, a, xSpan(ax.LogX, xlo, xhi), ys)
	inside := func(y float64) bool { return !fixed || (y >= ys.lo-1e-12 && y <= ys.hi+1e-12) }

	for _, k := range drawOrder(series) {
		s := series[k]
		at := func(i int) (Point, bool) {
			x, y := tx(s.x(i)), ty(s.Y[i])
			return Point{px(x), py(y)}, finite(x) && finite(y) && inside(y)
		}
		var tip func(i int) string
		if points(s) <= 40 {
			tip = func(i int) string { return fmt.Sprintf("%s %s: %s", s.Name, shortNum(s.x(i)), shortNum(s.Y[i])) }
		}
		f.series(k, s, at, tip)
	}
	for k, s := range series {
		f.legendLine(a, k, s)
	}
	legend := f.markers(a, ax.Markers, len(series), func(m Marker, color string, mx float64, k int) {
		f.markerOn(a, k, m, color, mx, series, tx, yv, py, inside)
	}, func(x float64) float64 { return px(tx(x)) })
	if ax.LegendNote != "" {
		for i, l := range wrap(ax.LegendNote, float64(f.Width)-a.x1-24, 11) {
			f.text(a.x1+12, a.y0+8+18*float64(legend)+6+14*float64(i), l, textStyle{anchor: "start", class: "legend-note", fill: "#555555", size: 11})
		}
	}
	return f
}

// xyBounds is the range, in axis units (tx, ty), of the series' finite points and the
// markers' x; [0, 1] on an axis with none.
func xyBounds(series []Series, markers []Marker, tx, ty func(float64) float64) (xlo, xhi, ylo, yhi float64) {
	xlo, xhi, ylo, yhi = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for i := range points(s) {
			x, y := tx(s.x(i)), ty(s.Y[i])
			if finite(x) && finite(y) {
				xlo, xhi = min(xlo, x), max(xhi, x)
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	for _, m := range markers {
		if x := tx(m.X); finite(x) {
			xlo, xhi = min(xlo, x), max(xhi, x)
		}
	}
	if math.IsInf(xlo, 0) {
		xlo, xhi = 0, 1
	}
	if math.IsInf(ylo, 0) {
		ylo, yhi = 0, 1
	}
	return
}

// xSpan is the x axis over [lo, hi] (axis units): decades when log, else round ticks.
func xSpan(log bool, lo, hi float64) span {
	if !log {
		ticks, tlo, thi := niceTicks(lo, hi, min(8, max(2, int(hi-lo)+1)))
		return span{ticks: ticks, lo: tlo, hi: thi}
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi == lo {
		hi++
	}
	s := span{lo: lo, hi: hi, label: decadeLabel}
	step := math.Ceil((hi - lo) / 9) // at most 10 decade labels
	for d := lo; d <= hi+1e-9; d += step {
		s.ticks = append(s.ticks, d)
	}
	return s
}

// markers draws the vertical lines of ms at figure x mx(m.X) across a: labelled at the top
// of the frame, or, for a marker On a series, passed to on with its legend entry's number
// (from legend on). It returns the number of legend entries then.
func (f *Figure) markers(a plotArea, ms []Marker, legend int, on func(m Marker, color string, mx float64, k int), mx func(float64) float64) int {
	for i, m := range ms {
		x := mx(m.X)
		if !finite(x) {
			continue
		}
		color := m.Color
		if color == "" {
			color = MarkerColor
		}
		f.line(x, a.y0, x, a.y1, style{class: "marker", attrs: fmt.Sprintf(`data-x="%s"`, strconv.FormatFloat(m.X, 'g', -1, 64)),
			stroke: color, width: 1.5, dashed: true, tip: m.Label})
		if m.On != "" {
			on(m, color, x, legend)
			legend++
			continue
		}
		// Labels stack down from the top of the frame, on the side with more room.
		anchor, dx := "start", 4.0
		if x > (a.x0+a.x1)/2 {
			anchor, dx = "end", -4
		}
		f.text(x+dx, a.y0+12+14*float64(i), m.Label, textStyle{anchor: anchor, class: "marker-label", fill: color, size: 11})
	}
	return legend
}

// markerOn draws marker m's dot where the series it names is at m.X (when it reaches that
// far and the point is inside the frame) and its legend entry number k: a dashed stub with
// the dot, and the label.
func (f *Figure) markerOn(a plotArea, k int, m Marker, color string, mx float64, series []Series,
	tx func(float64) float64, yv valueAxis, py func(float64) float64, inside func(float64) bool) {
	dot := style{class: "marker-point", fill: color, stroke: "white", width: 1.5, tip: m.Label}
	for _, s := range series {
		if s.Name != m.On {
			continue
		}
		if y, ok := interpolate(s, tx(m.X), tx, yv.of); ok && inside(y) {
			dot.attrs = fmt.Sprintf(`data-x="%s" data-y="%s"`, strconv.FormatFloat(m.X, 'g', -1, 64), strconv.FormatFloat(yv.value(y), 'g', -1, 64))
			f.circle(mx, py(y), 5, dot)
		}
		break
	}
	ly := a.y0 + 8 + 18*float64(k)
	lx := a.x1 + 12
	f.line(lx+11, ly-8, lx+11, ly+8, style{class: "legend-line", stroke: color, width: 1.5, dashed: true})
	f.circle(lx+11, ly, 4, style{class: "legend-mark", fill: color, stroke: "white", width: 1})
	f.text(lx+28, ly+4, m.Label, textStyle{anchor: "start", class: "legend", fill: color})
}

// interpolate returns series s at x (axis units, tx of its X), in axis units (ty of its Y):
// linear between the two finite points around x. ok is false where s does not reach x.
func interpolate(s Series, x float64, tx, ty func(float64) float64) (y float64, ok bool) {
	px, py, have := 0.0, 0.0, false
	for i := range points(s) {
		cx, cy := tx(s.x(i)), ty(s.Y[i])
		if !finite(cx) || !finite(cy) {
			have = false
			continue
		}
		if cx == x {
			return cy, true
		}
		if have && (px-x)*(cx-x) < 0 {
			return py + (cy-py)*(x-px)/(cx-px), true
		}
		px, py, have = cx, cy, true
	}
	return 0, false
}

// decadeLabel writes 10^d compactly: 1e-07, 0.001, 0.01, 0.1, 1, 10, 100, 1e+03.
func decadeLabel(d float64) string {
	k := int(math.Round(d))
	switch {
	case k >= 0 && k <= 2:
		return strconv.Itoa([]int{1, 10, 100}[k])
	case k < 0 && k >= -3:
		return "0." + strings.Repeat("0", -k-1) + "1"
	}
	return fmt.Sprintf("1e%+03d", k)
}

// shortNum formats a value with 3 significant digits (tooltips).
func shortNum(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }
