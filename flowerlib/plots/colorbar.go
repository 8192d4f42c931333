package plots

import (
	"image"

	"github.com/pkg/errors"
)

// ColorScale describes a colour bar: what the colours of a map (a class activation map over
// a photo) mean.
type ColorScale struct {
	// Title is written above the bar ("CAM: each map divided by its largest |value|").
	Title string
	// Ramp is the colours from Min (left) to Max (right), as the map's pictures draw them:
	// one column per pixel, drawn as it is (its size is the bar's size in pixels).
	Ramp     image.Image
	Min, Max float64
	// Ticks are the values labelled under the bar (within [Min, Max]); Labels their texts.
	Ticks  []float64
	Labels []string
	// Left, Right are written beside the bar's ends ("against the class", "for the class").
	Left, Right string
}

// ColorBar draws s as a figure width pixels wide: the title, the ramp in a thin frame
// centred, tick marks and labels under it, and the words of its ends beside it. Drawn at 1
// device pixel per CSS pixel (the ramp has no more detail; it stacks under photo grids).
func ColorBar(width int, s ColorScale) (*Figure, error) {
	if s.Ramp == nil || !(s.Max > s.Min) || len(s.Labels) != len(s.Ticks) {
		return nil, errors.Errorf("plots.ColorBar: want a ramp, Max > Min and a label per tick; got ramp %v, [%v, %v], %d ticks, %d labels",
			s.Ramp != nil, s.Min, s.Max, len(s.Ticks), len(s.Labels))
	}
	b := s.Ramp.Bounds()
	uri, err := DataURI(s.Ramp, false)
	if err != nil {
		return nil, errors.WithMessage(err, "plots.ColorBar")
	}
	h := 68
	f := newFigure("flowers-colorbar", width, h)
	f.Title, f.Scale = s.Title, 1
	x0, y0 := float64(width-b.Dx())/2, 26.0
	bw, bh := float64(b.Dx()), float64(b.Dy())
	if s.Title != "" {
		f.text(float64(width)/2, 16, s.Title, textStyle{anchor: "middle", class: "colorbar-title", size: 12})
	}
	f.image(x0, y0, bw, bh, s.Ramp, uri)
	f.rect(x0-0.5, y0-0.5, bw+1, bh+1, style{class: "colorbar-frame", fill: "none", stroke: "#888888"})
	for i, t := range s.Ticks {
		x := x0 + bw*(t-s.Min)/(s.Max-s.Min)
		f.line(x, y0+bh, x, y0+bh+4, style{stroke: "#333"})
		f.text(x, y0+bh+16, s.Labels[i], textStyle{anchor: "middle", class: "tick", size: 11})
	}
	ends := textStyle{class: "colorbar-end", fill: "#444444", size: 11}
	if s.Left != "" {
		ends.anchor = "end"
		f.text(x0-8, y0+bh/2+4, s.Left, ends)
	}
	if s.Right != "" {
		ends.anchor = "start"
		f.text(x0+bw+8, y0+bh/2+4, s.Right, ends)
	}
	return f, nil
}
