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

// Scatter draws points coloured by group: an embedding map, one point per photo coloured by
// class. Its legend sits under the x axis, in as many rows as the width needs (each group's
// name and count), so that the plot keeps the figure's width; hollow, when not "", says what
// the rings are ("validation photo") as its last entry. Non-finite points are left out.
func Scatter(c Chart, groups []PointGroup, hollow string) *Figure {
	w, h := c.size()
	var entries []legendEntry
	for k, g := range groups {
		entries = append(entries, legendEntry{text: fmt.Sprintf("%s (%d)", g.Name, len(g.X)), color: groupColor(g, k)})
	}
	if hollow != "" {
		entries = append(entries, legendEntry{text: "ring = " + hollow, color: "#555555", hollow: true})
	}
	rows := flowLegend(entries, float64(w)-16)
	f := newFigure("flowers-scatter", w, h)
	f.Title = c.Title
	a := plotArea{x0: 60, y0: 36, x1: float64(w) - 16, y1: float64(h) - 54 - 18*float64(len(rows))}
	f.header(c, a, w)
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
	px, py := f.xyFrame(c, a, span{ticks: xticks, lo: xlo, hi: xhi}, span{ticks: yticks, lo: ylo, hi: yhi})
	for k, g := range groups {
		color := groupColor(g, k)
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
	}
	// The legend, centred under the x label.
	for r, row := range rows {
		y := float64(h) - 14 - 18*float64(len(rows)-1-r)
		x := (float64(w) - row.width) / 2
		for _, e := range row.entries {
			mark := style{class: "legend-mark", fill: e.color}
			if e.hollow {
				mark = style{class: "legend-mark hollow", fill: "white", stroke: e.color, width: 1.5}
			}
			f.circle(x+4, y-4, 4, mark)
			f.text(x+12, y, e.text, textStyle{anchor: "start", class: "legend", size: legendSize})
			x += e.width()
		}
	}
	return f
}

func groupColor(g PointGroup, k int) string {
	if g.Color != "" {
		return g.Color
	}
	return Palette[k%len(Palette)]
}

// legendEntry is one entry of a legend laid out in rows: a dot (a ring when hollow) and text.
type legendEntry struct {
	text, color string
	hollow      bool
}

// legendSize is the font size of a legend laid out in rows.
const legendSize = 11

// width is the entry's width in a row: dot, text and the gap to the next one.
func (e legendEntry) width() float64 { return 12 + labelWidth(e.text, legendSize) + 12 }

type legendRow struct {
	entries []legendEntry
	width   float64
}

// flowLegend lays entries out in rows at most width wide.
func flowLegend(entries []legendEntry, width float64) []legendRow {
	var rows []legendRow
	for _, e := range entries {
		if len(rows) == 0 || rows[len(rows)-1].width+e.width()-12 > width {
			rows = append(rows, legendRow{})
		}
		r := &rows[len(rows)-1]
		r.entries = append(r.entries, e)
		r.width += e.width()
	}
	for i := range rows {
		rows[i].width -= 12 // no gap after the last entry
	}
	return rows
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
