package plots

import (
	"fmt"
	"math"
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
func BarChart(c Chart, bars []Bar) string {
	w, h := c.size()
	b := newSVG("flowers-bar-chart", w, h)
	a := plotArea{x0: 56, y0: 36, x1: float64(w) - 16, y1: float64(h) - 52}
	b.header(c, a, w, h)
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
	b.yAxis(a, ticks, 0, thi)
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
			fmt.Fprintf(b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`,
				num(x), num(y), num(bw), num(a.y1-y), Palette[i%len(Palette)], esc(bar.Label), esc(label))
			b.text(x+bw/2, y-4, "middle", label, `class="value"`)
			b.text(x+bw/2, a.y1+16, "middle", bar.Label, `class="category"`)
		}
	}
	b.xAxisLine(a)
	if c.XLabel != "" {
		b.text((a.x0+a.x1)/2, float64(h)-12, "middle", c.XLabel, `class="xlabel"`)
	}
	return b.done()
}

// Series is one curve of a line chart: Y[i] at X[i] (X nil means 1, 2, 3, …, like epochs).
// Dashed draws it dashed (e.g. validation next to a solid training curve); Color "" picks
// from Palette. Non-finite points break the line.
type Series struct {
	Name   string
	X, Y   []float64
	Color  string
	Dashed bool
}

func (s Series) x(i int) float64 {
	if s.X == nil {
		return float64(i + 1)
	}
	return s.X[i]
}

// LineChart draws several series on shared axes with markers and a legend (e.g. loss and
// val_loss per epoch). Series with fewer X than Y values use the first len(X).
func LineChart(c Chart, series []Series) string {
	w, h := c.size()
	b := newSVG("flowers-line-chart", w, h)
	legendW := 0.0
	for _, s := range series {
		legendW = max(legendW, 7*float64(len([]rune(s.Name)))+36)
	}
	a := plotArea{x0: 60, y0: 36, x1: float64(w) - 16 - legendW, y1: float64(h) - 48}
	b.header(c, a, w, h)

	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for i := range points(s) {
			x, y := s.x(i), s.Y[i]
			if finite(x) && finite(y) {
				xlo, xhi = min(xlo, x), max(xhi, x)
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	if math.IsInf(xlo, 0) { // no finite point at all
		xlo, xhi, ylo, yhi = 0, 1, 0, 1
	}
	yticks, ylo, yhi := niceTicks(ylo, yhi, 6)
	xticks, xlo, xhi := niceTicks(xlo, xhi, min(8, max(2, int(xhi-xlo)+1)))
	b.yAxis(a, yticks, ylo, yhi)
	px := func(x float64) float64 { return a.x0 + (a.x1-a.x0)*(x-xlo)/(xhi-xlo) }
	py := func(y float64) float64 { return a.y1 - (a.y1-a.y0)*(y-ylo)/(yhi-ylo) }
	for _, t := range xticks {
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`, num(px(t)), num(a.y1), num(px(t)), num(a.y1+4))
		b.text(px(t), a.y1+16, "middle", tickLabel(t), `class="tick"`)
	}
	b.xAxisLine(a)
	if c.XLabel != "" {
		b.text((a.x0+a.x1)/2, float64(h)-10, "middle", c.XLabel, `class="xlabel"`)
	}

	for k, s := range series {
		color := s.Color
		if color == "" {
			color = Palette[k%len(Palette)]
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(b, `<g class="series" data-name="%s">`, esc(s.Name))
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="`, color, dash)
				for i, p := range pts {
					if i > 0 {
						b.WriteByte(' ')
					}
					b.WriteString(p)
				}
				b.WriteString(`"/>`)
			}
			pts = pts[:0]
		}
		for i := range points(s) {
			x, y := s.x(i), s.Y[i]
			if !finite(x) || !finite(y) {
				flush()
				continue
			}
			pts = append(pts, num(px(x))+","+num(py(y)))
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"><title>%s %s: %s</title></circle>`,
				num(px(x)), num(py(y)), color, esc(s.Name), tickLabel(x), tickLabel(y))
		}
		flush()
		b.WriteString(`</g>`)
		// Legend entry.
		ly := a.y0 + 8 + 18*float64(k)
		lx := a.x1 + 12
		fmt.Fprintf(b, `<line class="legend-line" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`,
			num(lx), num(ly), num(lx+22), num(ly), color, dash)
		b.text(lx+28, ly+4, "start", s.Name, `class="legend"`)
	}
	return b.done()
}

func points(s Series) int {
	if s.X == nil {
		return len(s.Y)
	}
	return min(len(s.X), len(s.Y))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// header writes the title and the rotated y label.
func (b *svgBuilder) header(c Chart, a plotArea, w, h int) {
	if c.Title != "" {
		b.text(float64(w)/2, 22, "middle", c.Title, `class="title" font-size="15" font-weight="bold"`)
	}
	if c.YLabel != "" {
		cy := (a.y0 + a.y1) / 2
		b.text(14, cy, "middle", c.YLabel, fmt.Sprintf(`class="ylabel" transform="rotate(-90 14 %s)"`, num(cy)))
	}
}

// yAxis writes horizontal grid lines and tick labels for ticks in [lo, hi].
func (b *svgBuilder) yAxis(a plotArea, ticks []float64, lo, hi float64) {
	for _, t := range ticks {
		y := a.y1 - (a.y1-a.y0)*(t-lo)/(hi-lo)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`, num(a.x0), num(y), num(a.x1), num(y))
		b.text(a.x0-6, y+4, "end", tickLabel(t), `class="tick"`)
	}
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`, num(a.x0), num(a.y0), num(a.x0), num(a.y1))
}

func (b *svgBuilder) xAxisLine(a plotArea) {
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>`, num(a.x0), num(a.y1), num(a.x1), num(a.y1))
}
