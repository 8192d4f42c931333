package plots

import (
	"fmt"
	"math"
)

// PointGroup is one class of a scatter plot: its points, drawn in one colour, with a tooltip
// per point (e.g. the photo's file name). Hollow marks points drawn as rings (e.g. the
// validation photos among training ones); it may be nil.
type PointGroup struct {
	Name   string
	X, Y   []float64
	Tips   []string
	Hollow []bool
	Color  string // "" = from Palette
}

// Scatter draws points coloured by group with a legend (the group's name and count): an
// embedding map, one point per photo coloured by class. Non-finite points are left out.
func Scatter(c Chart, groups []PointGroup) *Figure {
	legendW := 0.0
	for _, g := range groups {
		legendW = max(legendW, labelWidth(fmt.Sprintf("%s (%d)", g.Name, len(g.X)), 12)+28)
	}
	f, a, h := legendFigure(c, "flowers-scatter", legendW)
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, g := range groups {
		for i := range min(len(g.X), len(g.Y)) {
			if finite(g.X[i]) && finite(g.Y[i]) {
				xlo, xhi = min(xlo, g.X[i]), max(xhi, g.X[i])
				ylo, yhi = min(ylo, g.Y[i]), max(yhi, g.Y[i])
			}
		}
	}
	if math.IsInf(xlo, 0) {
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	// A margin, so that no point sits on the frame.
	dx, dy := 0.04*(xhi-xlo), 0.04*(yhi-ylo)
	xlo, xhi, ylo, yhi = xlo-dx, xhi+dx, ylo-dy, yhi+dy
	yticks, ylo, yhi := niceTicks(ylo, yhi, 6)
	xticks, xlo, xhi := niceTicks(xlo, xhi, 7)
	px, py := f.xyFrame(c, a, h, span{xticks, xlo, xhi}, span{yticks, ylo, yhi}, tickLabel)
	for k, g := range groups {
		color := g.Color
		if color == "" {
			color = Palette[k%len(Palette)]
		}
		f.group("points", fmt.Sprintf(`data-name="%s"`, esc(g.Name)))
		for i := range min(len(g.X), len(g.Y)) {
			if !finite(g.X[i]) || !finite(g.Y[i]) {
				continue
			}
			st := style{class: "point", fill: color}
			if i < len(g.Hollow) && g.Hollow[i] {
				st = style{class: "point hollow", fill: "white", stroke: color, width: 1.5}
			}
			if i < len(g.Tips) {
				st.tip = g.Tips[i]
			}
			f.circle(px(g.X[i]), py(g.Y[i]), 3.5, st)
		}
		f.endGroup()
		ly := a.y0 + 8 + 18*float64(k)
		lx := a.x1 + 14
		f.circle(lx+4, ly, 4, style{class: "legend-mark", fill: color})
		f.text(lx+14, ly+4, fmt.Sprintf("%s (%d)", g.Name, len(g.X)), textStyle{anchor: "start", class: "legend"})
	}
	return f
}

// Placeholder is a chart-sized panel with a dashed frame and a message instead of a chart:
// the panel of a comparison that cannot be drawn here, saying what it needs.
func Placeholder(c Chart, message string) *Figure {
	w, h := c.size()
	f := newFigure("flowers-placeholder", w, h)
	f.Title = c.Title
	if c.Title != "" {
		f.text(float64(w)/2, 22, c.Title, titleStyle)
	}
	f.rect(20, 36, float64(w)-40, float64(h)-56, style{class: "frame", fill: "#f7f7f7", stroke: "#999999", dashed: true})
	lines := wrap(message, float64(w)-80, 13)
	y0 := 36 + (float64(h)-56)/2 - 9*float64(len(lines)-1)
	for i, l := range lines {
		f.text(float64(w)/2, y0+18*float64(i)+4, l, textStyle{anchor: "middle", class: "message", fill: "#444444", size: 13})
	}
	return f
}
