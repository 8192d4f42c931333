package plots

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Marker is a vertical line across a chart at X, labelled at its top: the suggested learning
// rate of a range test, the epoch where fine-tuning starts.
type Marker struct {
	X     float64
	Label string
	Color string // "" = MarkerColor
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
}

// XYChart draws series over a numeric x axis (linear or logarithmic) with vertical markers
// and a legend: the loss-vs-learning-rate curve of a range test with the suggested rate
// marked, or validation curves of several runs with the epoch where fine-tuning started.
// Series of more than 40 points are drawn as lines without point markers. Non-finite points
// break the line.
func XYChart(c Chart, ax Axes, series []Series) *Figure {
	f, a, h := legendFigure(c, "flowers-xy-chart", seriesLegendWidth(series))

	tx := func(x float64) float64 { // x in axis units
		if ax.LogX {
			if x <= 0 {
				return math.NaN()
			}
			return math.Log10(x)
		}
		return x
	}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for i := range points(s) {
			x, y := tx(s.x(i)), s.Y[i]
			if finite(x) && finite(y) {
				xlo, xhi = min(xlo, x), max(xhi, x)
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	for _, m := range ax.Markers {
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
	if ax.YMax > ax.YMin {
		ylo, yhi = ax.YMin, ax.YMax
	}
	yticks, ylo, yhi := niceTicks(ylo, yhi, 6)
	var xticks []float64
	if ax.LogX {
		xlo, xhi = math.Floor(xlo), math.Ceil(xhi)
		if xhi == xlo {
			xhi++
		}
		step := math.Ceil((xhi - xlo) / 9) // at most 10 decade labels
		for d := xlo; d <= xhi+1e-9; d += step {
			xticks = append(xticks, d)
		}
	} else {
		xticks, xlo, xhi = niceTicks(xlo, xhi, min(8, max(2, int(xhi-xlo)+1)))
	}
	label := tickLabel
	if ax.LogX {
		label = decadeLabel
	}
	px, py := f.xyFrame(c, a, h, span{xticks, xlo, xhi}, span{yticks, ylo, yhi}, label)
	inside := func(y float64) bool { return !(ax.YMax > ax.YMin) || (y >= ylo && y <= yhi) }

	for k, s := range series {
		at := func(i int) (Point, bool) {
			x, y := tx(s.x(i)), s.Y[i]
			return Point{px(x), py(y)}, finite(x) && finite(y) && inside(y)
		}
		var tip func(i int) string
		if points(s) <= 40 {
			tip = func(i int) string { return fmt.Sprintf("%s %s: %s", s.Name, shortNum(s.x(i)), shortNum(s.Y[i])) }
		}
		f.series(a, k, s, at, tip)
	}
	for i, m := range ax.Markers {
		x := tx(m.X)
		if !finite(x) {
			continue
		}
		color := m.Color
		if color == "" {
			color = MarkerColor
		}
		mx := px(x)
		f.line(mx, a.y0, mx, a.y1, style{class: "marker", attrs: fmt.Sprintf(`data-x="%s"`, strconv.FormatFloat(m.X, 'g', -1, 64)),
			stroke: color, width: 1.5, dashed: true, tip: m.Label})
		// Labels stack down from the top of the frame, on the side with more room.
		anchor, dx := "start", 4.0
		if mx > (a.x0+a.x1)/2 {
			anchor, dx = "end", -4
		}
		f.text(mx+dx, a.y0+12+14*float64(i), m.Label, textStyle{anchor: anchor, class: "marker-label", fill: color, size: 11})
	}
	return f
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
