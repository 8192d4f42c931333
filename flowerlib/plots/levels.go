package plots

import (
	"fmt"
	"math"
	"strings"
)

// Level is a horizontal reference line across a bar chart (e.g. chance accuracy).
type Level struct {
	Y     float64
	Label string
}

// LevelBarChart draws vertical bars with their values on top, labels of several lines under
// them ("conv2\n256 ch"), and dashed reference lines: a probe's accuracy per stage against
// chance. Values must be finite and ≥ 0 (others are drawn as 0 and labelled as they are).
func LevelBarChart(c Chart, bars []Bar, levels []Level) *Figure {
	w, h := c.size()
	f := newFigure("flowers-level-bars", w, h)
	f.Title = c.Title
	lines := 1
	for _, b := range bars {
		lines = max(lines, strings.Count(b.Label, "\n")+1)
	}
	top0 := 36.0
	if len(levels) > 0 {
		top0 = 54 // room for the levels' legend above the frame
	}
	a := plotArea{x0: 56, y0: top0, x1: float64(w) - 16, y1: float64(h) - 36 - 15*float64(lines)}
	f.header(c, a, w)
	hi := 0.0
	for _, b := range bars {
		if finite(b.Value) {
			hi = max(hi, b.Value)
		}
	}
	for _, l := range levels {
		if finite(l.Y) {
			hi = max(hi, l.Y)
		}
	}
	top := hi * 1.08
	if c.YMax > 0 {
		top = c.YMax
	}
	ticks, _, thi := niceTicks(0, top, 5)
	f.yAxis(a, span{ticks: ticks, lo: 0, hi: thi})
	py := func(v float64) float64 { return a.y1 - (a.y1-a.y0)*v/thi }
	if len(bars) > 0 {
		slot := (a.x1 - a.x0) / float64(len(bars))
		bw := slot * 0.6
		for i, b := range bars {
			v := b.Value
			label := tickLabel(math.Round(v*10) / 10)
			if !(v >= 0) || math.IsInf(v, 0) {
				label, v = fmt.Sprint(v), 0
			}
			x := a.x0 + slot*float64(i) + (slot-bw)/2
			f.rect(x, py(v), bw, a.y1-py(v), style{class: "bar", fill: Palette[i%len(Palette)],
				tip: strings.ReplaceAll(b.Label, "\n", " ") + ": " + label})
			f.text(x+bw/2, py(v)-4, label, textStyle{anchor: "middle", class: "value"})
			for k, line := range strings.Split(b.Label, "\n") {
				ts := textStyle{anchor: "middle", class: "category"}
				if k > 0 {
					ts = textStyle{anchor: "middle", class: "category-note", fill: "#555555", size: 11}
				}
				f.text(x+bw/2, a.y1+16+15*float64(k), line, ts)
			}
		}
	}
	// Each level: a dashed line across, and its legend entry (a dashed stub and the label)
	// above the frame's right end, so that no label covers a bar.
	lx := a.x1
	for i := len(levels) - 1; i >= 0; i-- {
		l := levels[i]
		if !finite(l.Y) {
			continue
		}
		f.line(a.x0, py(l.Y), a.x1, py(l.Y), style{class: "level", stroke: MarkerColor, width: 1.5, dashed: true, tip: l.Label})
		lw := labelWidth(l.Label, 11)
		f.text(lx, a.y0-8, l.Label, textStyle{anchor: "end", class: "level-label", fill: MarkerColor, size: 11})
		f.line(lx-lw-30, a.y0-12, lx-lw-6, a.y0-12, style{class: "level-key", stroke: MarkerColor, width: 1.5, dashed: true})
		lx -= lw + 44
	}
	f.xAxisLine(a)
	return f
}
