package plots

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/vector"

	"github.com/pkg/errors"
)

// Raster draws the figure at Scale device pixels per CSS pixel (the same items as SVG, in
// the same order) with golang.org/x/image/vector: anti-aliased shapes, text set in the
// embedded Go fonts (see fonts.go), photos resampled bilinearly.
func (f *Figure) Raster() *image.RGBA {
	s := f.scale()
	dst := image.NewRGBA(image.Rect(0, 0, int(math.Ceil(float64(f.Width)*s)), int(math.Ceil(float64(f.Height)*s))))
	r := &rasterizer{dst: dst, scale: s}
	r.figure(f, Point{})
	return dst
}

// PNG returns Raster encoded as PNG.
func (f *Figure) PNG() ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, f.Raster()); err != nil {
		return nil, errors.Wrapf(err, "plots: encoding the %s figure as PNG", f.Class)
	}
	return buf.Bytes(), nil
}

type rasterizer struct {
	dst   *image.RGBA
	scale float64
	z     vector.Rasterizer
}

// vec is a point in device pixels.
type vec struct{ x, y float64 }

// pathOp is one segment of a path: a move, line, quadratic or cubic Bézier to p[n-1].
type pathOp struct {
	n int // 1: MoveTo/LineTo, 2: QuadTo, 3: CubeTo
	p [3]vec
	m bool // a MoveTo
}

type path []pathOp

func (p *path) moveTo(a vec) { *p = append(*p, pathOp{n: 1, p: [3]vec{a}, m: true}) }
func (p *path) lineTo(a vec) { *p = append(*p, pathOp{n: 1, p: [3]vec{a}}) }

// polygon adds a closed polygon, always wound the same way, so overlapping pieces of one
// path (a polyline's segments and joints) add up instead of cancelling.
func (p *path) polygon(pts []vec) {
	area := 0.0
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		area += a.x*b.y - b.x*a.y
	}
	if area < 0 {
		for i, j := 0, len(pts)-1; i < j; i, j = i+1, j-1 {
			pts[i], pts[j] = pts[j], pts[i]
		}
	}
	for i, q := range pts {
		if i == 0 {
			p.moveTo(q)
		} else {
			p.lineTo(q)
		}
	}
}

func (r *rasterizer) figure(f *Figure, off Point) {
	for i := range f.items {
		it := &f.items[i]
		switch it.kind {
		case kRect:
			r.rect(it, off)
		case kLine:
			r.stroke([]Point{{it.x, it.y}, {it.w, it.h}}, it.st, off)
		case kPolyline:
			r.stroke(it.pts, it.st, off)
		case kCircle:
			c := r.dev(Point{it.x, it.y}, off)
			var p path
			p.polygon(circlePoints(c, it.w*r.scale))
			r.fill(p, it.st.fill)
			if it.st.stroke != "" && it.st.stroke != "none" {
				pts := make([]Point, 0, 33)
				for _, q := range circlePoints(vec{it.x, it.y}, it.w) {
					pts = append(pts, Point{q.x, q.y})
				}
				r.stroke(append(pts, pts[0]), it.st, off)
			}
		case kText:
			r.text(it, off)
		case kImage:
			r.image(it, off)
		case kFigure:
			r.figure(it.sub, Point{off.X + it.x, off.Y + it.y})
		}
	}
}

func (r *rasterizer) dev(p, off Point) vec {
	return vec{(p.X + off.X) * r.scale, (p.Y + off.Y) * r.scale}
}

func (r *rasterizer) rect(it *item, off Point) {
	a := r.dev(Point{it.x, it.y}, off)
	b := r.dev(Point{it.x + it.w, it.y + it.h}, off)
	var p path
	p.polygon([]vec{a, {b.x, a.y}, b, {a.x, b.y}})
	r.fill(p, it.st.fill)
	if it.st.stroke != "" && it.st.stroke != "none" {
		x0, y0, x1, y1 := it.x, it.y, it.x+it.w, it.y+it.h
		r.stroke([]Point{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}, it.st, off)
	}
}

// stroke draws a polyline of CSS points with the style's stroke colour, width and dashes:
// one quadrilateral per segment and a disc at each inner vertex (round joins).
func (r *rasterizer) stroke(pts []Point, st style, off Point) {
	if st.stroke == "" || st.stroke == "none" || len(pts) < 2 {
		return
	}
	w := st.width
	if w == 0 {
		w = 1
	}
	hw := w * r.scale / 2
	dev := make([]vec, len(pts))
	for i, q := range pts {
		dev[i] = r.dev(q, off)
	}
	pieces := [][]vec{dev}
	if st.dashed {
		pieces = dashes(dev, 6*r.scale, 4*r.scale)
	}
	var p path
	for _, pc := range pieces {
		for i := 0; i+1 < len(pc); i++ {
			a, b := pc[i], pc[i+1]
			dx, dy := b.x-a.x, b.y-a.y
			l := math.Hypot(dx, dy)
			if l == 0 {
				continue
			}
			nx, ny := -dy/l*hw, dx/l*hw
			p.polygon([]vec{{a.x + nx, a.y + ny}, {b.x + nx, b.y + ny}, {b.x - nx, b.y - ny}, {a.x - nx, a.y - ny}})
			if i > 0 && hw > 0.75 {
				p.polygon(circlePoints(a, hw))
			}
		}
	}
	r.fill(p, st.stroke)
}

// dashes cuts a polyline into its "on" pieces (on, off lengths in device pixels).
func dashes(pts []vec, on, off float64) [][]vec {
	var out [][]vec
	cur := []vec{pts[0]}
	drawing, left := true, on
	for i := 0; i+1 < len(pts); i++ {
		a, b := pts[i], pts[i+1]
		l := math.Hypot(b.x-a.x, b.y-a.y)
		pos := 0.0
		for l-pos > left {
			pos += left
			t := pos / l
			q := vec{a.x + (b.x-a.x)*t, a.y + (b.y-a.y)*t}
			if drawing {
				out = append(out, append(cur, q))
			}
			cur = []vec{q}
			drawing = !drawing
			left = off
			if drawing {
				left = on
			}
		}
		left -= l - pos
		cur = append(cur, b)
	}
	if drawing && len(cur) > 1 {
		out = append(out, cur)
	}
	return out
}

func circlePoints(c vec, rad float64) []vec {
	const n = 32
	pts := make([]vec, n)
	for i := range n {
		t := 2 * math.Pi * float64(i) / n
		pts[i] = vec{c.x + rad*math.Cos(t), c.y + rad*math.Sin(t)}
	}
	return pts
}

// fill rasterises p (device pixels) in colour col over the image, within p's bounding box.
func (r *rasterizer) fill(p path, col string) {
	c, ok := parseColor(col)
	if !ok || len(p) == 0 {
		return
	}
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, op := range p {
		for _, q := range op.p[:op.n] {
			x0, y0, x1, y1 = min(x0, q.x), min(y0, q.y), max(x1, q.x), max(y1, q.y)
		}
	}
	box := image.Rect(int(math.Floor(x0)), int(math.Floor(y0)), int(math.Ceil(x1)), int(math.Ceil(y1))).Intersect(r.dst.Bounds())
	if box.Empty() {
		return
	}
	// Coordinates outside the rasteriser's bounds are allowed (vector clips them).
	pt := func(q vec) (float32, float32) {
		return float32(q.x - float64(box.Min.X)), float32(q.y - float64(box.Min.Y))
	}
	r.z.Reset(box.Dx(), box.Dy())
	started := false
	for _, op := range p {
		switch {
		case op.m:
			if started {
				r.z.ClosePath() // MoveTo does not close the previous sub-path
			}
			started = true
			r.z.MoveTo(pt(op.p[0]))
		case op.n == 1:
			r.z.LineTo(pt(op.p[0]))
		case op.n == 2:
			bx, by := pt(op.p[0])
			cx, cy := pt(op.p[1])
			r.z.QuadTo(bx, by, cx, cy)
		case op.n == 3:
			bx, by := pt(op.p[0])
			cx, cy := pt(op.p[1])
			dx, dy := pt(op.p[2])
			r.z.CubeTo(bx, by, cx, cy, dx, dy)
		}
	}
	r.z.ClosePath()
	r.z.Draw(r.dst, box, image.NewUniform(c), image.Point{})
}

func (r *rasterizer) image(it *item, off Point) {
	a := r.dev(Point{it.x, it.y}, off)
	b := r.dev(Point{it.x + it.w, it.y + it.h}, off)
	box := image.Rect(int(math.Round(a.x)), int(math.Round(a.y)), int(math.Round(b.x)), int(math.Round(b.y)))
	if box.Size() == it.img.Bounds().Size() {
		xdraw.Draw(r.dst, box, it.img, it.img.Bounds().Min, xdraw.Over)
		return
	}
	xdraw.BiLinear.Scale(r.dst, box, it.img, it.img.Bounds(), xdraw.Over, nil)
}

// parseColor reads "#rrggbb", "#rgb", "white" and "black"; "" and "none" are no paint.
func parseColor(s string) (color.RGBA, bool) {
	switch s {
	case "", "none":
		return color.RGBA{}, false
	case "white":
		return color.RGBA{255, 255, 255, 255}, true
	case "black":
		return color.RGBA{0, 0, 0, 255}, true
	}
	if len(s) == 4 && s[0] == '#' { // #rgb = #rrggbb
		s = string([]byte{'#', s[1], s[1], s[2], s[2], s[3], s[3]})
	}
	if len(s) == 7 && s[0] == '#' {
		v, err := strconv.ParseUint(s[1:], 16, 32)
		if err == nil {
			return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, true
		}
	}
	panic("plots: colour " + strconv.Quote(s) + " is not #rrggbb, #rgb, white, black or none")
}
