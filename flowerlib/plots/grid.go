package plots

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"

	"github.com/pkg/errors"
)

// Mark frames a grid tile: nothing, a green frame (right prediction) or a red one (mistake).
type Mark int

const (
	NoMark Mark = iota
	Correct
	Mistake
)

// Tile is one picture of an image grid. Caption may hold several lines ("\n"); Mistake
// tiles get a red frame and red caption.
type Tile struct {
	Image   image.Image
	Caption string
	Mark    Mark
}

// GridOptions configures ImageGrid. The zero value gives 4 columns of 128-pixel PNG thumbnails.
type GridOptions struct {
	Title   string
	Columns int // default 4
	// Thumb is the longest side of each thumbnail in pixels (default 128); larger images
	// are shrunk by area averaging, smaller ones are shown as they are.
	Thumb int
	// JPEG embeds thumbnails as JPEG (about 5× smaller than PNG for photos) instead of PNG.
	JPEG bool
}

// ImageGrid lays tiles out in rows with their captions under them. In the SVG each photo
// is embedded as a data: URI in an <image>; the raster is drawn at 1 device pixel per CSS
// pixel (the thumbnails have no more detail than that).
func ImageGrid(tiles []Tile, opts GridOptions) (*Figure, error) {
	if len(tiles) == 0 {
		return nil, errors.New("plots.ImageGrid: no tiles")
	}
	cols := opts.Columns
	if cols <= 0 {
		cols = 4
	}
	cols = min(cols, len(tiles))
	thumb := opts.Thumb
	if thumb <= 0 {
		thumb = 128
	}
	lines := 1
	for _, t := range tiles {
		lines = max(lines, strings.Count(t.Caption, "\n")+1)
	}
	const pad = 8
	capH := 15 * lines
	cellW, cellH := thumb+pad, thumb+pad+capH
	top := 0
	if opts.Title != "" {
		top = 30
	}
	rows := (len(tiles) + cols - 1) / cols
	w, h := cols*cellW+pad, top+rows*cellH+pad
	f := newFigure("flowers-image-grid", w, h)
	f.Title, f.Scale = opts.Title, 1
	if opts.Title != "" {
		f.text(float64(w)/2, 20, opts.Title, titleStyle)
	}
	for i, t := range tiles {
		if t.Image == nil {
			return nil, errors.Errorf("plots.ImageGrid: tile %d (%q) has no image", i, t.Caption)
		}
		small := Shrink(t.Image, thumb)
		uri, err := DataURI(small, opts.JPEG)
		if err != nil {
			return nil, errors.WithMessagef(err, "plots.ImageGrid: tile %d (%q)", i, t.Caption)
		}
		sw, sh := small.Bounds().Dx(), small.Bounds().Dy()
		cx := pad + (i%cols)*cellW
		cy := top + pad + (i/cols)*cellH
		x, y := cx+(thumb-sw)/2, cy+(thumb-sh)/2
		f.group("tile", fmt.Sprintf(`data-mark="%s"`, t.Mark))
		f.image(float64(x), float64(y), float64(sw), float64(sh), small, uri)
		capColor := "#222"
		switch t.Mark {
		case Mistake:
			capColor = MistakeColor
			f.rect(float64(x-2), float64(y-2), float64(sw+4), float64(sh+4), style{class: "mistake", fill: "none", stroke: MistakeColor, width: 4})
		case Correct:
			f.rect(float64(x-1), float64(y-1), float64(sw+2), float64(sh+2), style{class: "correct", fill: "none", stroke: CorrectColor, width: 2})
		}
		for k, line := range strings.Split(t.Caption, "\n") {
			f.text(float64(cx+thumb/2), float64(cy+thumb+14+15*k), line, textStyle{anchor: "middle", class: "caption", fill: capColor, size: 11})
		}
		f.endGroup()
	}
	return f, nil
}

// String names the mark ("none", "correct", "mistake").
func (m Mark) String() string {
	switch m {
	case Correct:
		return "correct"
	case Mistake:
		return "mistake"
	}
	return "none"
}

// DataURI encodes img as a PNG (or JPEG, quality 85) data: URI for <img src> or SVG <image href>.
func DataURI(img image.Image, asJPEG bool) (string, error) {
	var buf bytes.Buffer
	mime := "image/png"
	var err error
	if asJPEG {
		mime = "image/jpeg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img)
	}
	if err != nil {
		return "", errors.Wrapf(err, "encoding %s", mime)
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Shrink returns img scaled so that its longest side is at most maxSide, averaging the
// source pixels each output pixel covers (no aliasing); images already small enough are
// returned unchanged.
func Shrink(img image.Image, maxSide int) image.Image {
	r := img.Bounds()
	sw, sh := r.Dx(), r.Dy()
	if sw <= maxSide && sh <= maxSide || sw == 0 || sh == 0 {
		return img
	}
	dw, dh := maxSide, max(1, sh*maxSide/sw)
	if sh > sw {
		dw, dh = max(1, sw*maxSide/sh), maxSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		y0, y1 := y*sh/dh, max((y+1)*sh/dh, y*sh/dh+1)
		for x := range dw {
			x0, x1 := x*sw/dw, max((x+1)*sw/dw, x*sw/dw+1)
			var sr, sg, sb, sa, n uint64
			for yy := y0; yy < y1; yy++ {
				for xx := x0; xx < x1; xx++ {
					cr, cg, cb, ca := img.At(r.Min.X+xx, r.Min.Y+yy).RGBA()
					sr, sg, sb, sa, n = sr+uint64(cr), sg+uint64(cg), sb+uint64(cb), sa+uint64(ca), n+1
				}
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(sr / n >> 8), uint8(sg / n >> 8), uint8(sb / n >> 8), uint8(sa / n >> 8)})
		}
	}
	return dst
}
