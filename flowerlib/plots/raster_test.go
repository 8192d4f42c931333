package plots

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// savePNG writes f's raster under $FLOWERS_TEST_OUT (when set) so a person can look at it.
func savePNG(t *testing.T, name string, f *Figure) {
	if dir := os.Getenv("FLOWERS_TEST_OUT"); dir != "" {
		b, err := f.PNG()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func hexColor(t *testing.T, s string) color.RGBA {
	t.Helper()
	c, ok := parseColor(s)
	if !ok {
		t.Fatalf("colour %q", s)
	}
	return c
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= float64(tol) }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// ink returns the bounding box of the pixels in r that differ from white.
func ink(img *image.RGBA, r image.Rectangle) image.Rectangle {
	var box image.Rectangle
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := img.RGBAAt(x, y); c.R < 200 || c.G < 200 || c.B < 200 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}

// TestRasterMatchesSVG draws charts both ways and checks that the raster has, at every
// shape the SVG describes, that shape's colour: one description, two renderings.
func TestRasterMatchesSVG(t *testing.T) {
	bars := []Bar{{"daisy", 633}, {"dandelion", 898}, {"roses", 641}, {"sunflowers", 699}, {"tulips", 799}}
	fig := BarChart(Chart{Title: "images per class", YLabel: "images"}, bars)
	savePNG(t, "bar.png", fig)
	img := fig.Raster()
	if b := img.Bounds(); b.Dx() != 2*560 || b.Dy() != 2*340 {
		t.Fatalf("raster %v, want 1120×680 (scale 2)", b)
	}
	es := parseSVG(t, fig.SVG())
	for i, r := range find(es, "rect", "bar") {
		x, y := attrF(t, r, "x")+attrF(t, r, "width")/2, attrF(t, r, "y")+attrF(t, r, "height")/2
		if got, want := img.RGBAAt(int(2*x), int(2*y)), hexColor(t, r.attrs["fill"]); got != want {
			t.Errorf("bar %d: raster %v at its centre, SVG fill %v", i, got, want)
		}
	}
	// Text: the title is inked, centred; "end"-anchored tick labels end 6 px left of the axis.
	title := ink(img, image.Rect(0, 0, 1120, 60))
	if title.Empty() || math.Abs(float64(title.Min.X+title.Max.X)/2-560) > 4 || title.Dx() < 200 {
		t.Errorf("title ink %v, want centred on x=560 and wide", title)
	}
	for _, tk := range find(es, "text", "tick") {
		y := attrF(t, tk, "y")
		box := ink(img, image.Rect(0, int(2*y)-22, 2*50, int(2*y)+4))
		if box.Empty() || math.Abs(float64(box.Max.X)-2*attrF(t, tk, "x")) > 3 {
			t.Errorf("tick %q ink %v, want it to end at x=%v", tk.text, box, 2*attrF(t, tk, "x"))
		}
	}
	// The rotated y label is taller than wide.
	if yl := ink(img, image.Rect(0, 80, 40, 600)); yl.Dy() < 3*yl.Dx() {
		t.Errorf("y label ink %v is not vertical", yl)
	}

	classes := []string{"daisy", "dandelion", "roses", "sunflowers", "tulips"}
	cm, err := ConfusionMatrix("validation", classes, [][]int{{7, 1, 0, 0, 0}, {0, 9, 0, 1, 0}, {1, 0, 5, 0, 2}, {0, 0, 0, 8, 0}, {0, 0, 3, 0, 3}})
	if err != nil {
		t.Fatal(err)
	}
	savePNG(t, "confusion.png", cm)
	img = cm.Raster()
	for _, c := range find(parseSVG(t, cm.SVG()), "rect", "cell") {
		// A corner of the cell, away from the count in its middle.
		x, y := attrF(t, c, "x")+4, attrF(t, c, "y")+4
		if got, want := img.RGBAAt(int(2*x), int(2*y)), hexColor(t, c.attrs["fill"]); !near(got, want, 1) {
			t.Errorf("cell %s,%s: raster %v, SVG fill %v", c.attrs["data-row"], c.attrs["data-col"], got, want)
		}
	}

	series := []Series{{Name: "loss", Y: []float64{1.6, 1.1, 0.8}}, {Name: "val_loss", Y: []float64{1.5, 1.2, 0.9}, Dashed: true}}
	lc := LineChart(Chart{Title: "loss"}, series)
	savePNG(t, "line.png", lc)
	img = lc.Raster()
	les := parseSVG(t, lc.SVG())
	for _, c := range find(les, "circle", "") {
		if got, want := img.RGBAAt(int(2*attrF(t, c, "cx")), int(2*attrF(t, c, "cy"))), hexColor(t, c.attrs["fill"]); got != want {
			t.Errorf("marker at %s,%s: raster %v, SVG %v", c.attrs["cx"], c.attrs["cy"], got, want)
		}
	}
	// The dashed legend line has gaps, the solid one none.
	for _, l := range find(les, "line", "legend-line") {
		y := int(2 * attrF(t, l, "y1"))
		gaps := 0
		for x := int(2*attrF(t, l, "x1")) + 1; x < int(2*attrF(t, l, "x2"))-1; x++ {
			if img.RGBAAt(x, y) == (color.RGBA{255, 255, 255, 255}) {
				gaps++
			}
		}
		if dashed := l.attrs["stroke-dasharray"] != ""; dashed != (gaps > 0) {
			t.Errorf("legend line dashed=%v has %d white pixels", dashed, gaps)
		}
	}
}

func TestRasterImageGrid(t *testing.T) {
	tiles := []Tile{{Image: testImage(320, 240, 10), Caption: "daisy"}, {Image: testImage(100, 300, 90), Caption: "roses", Mark: Mistake}}
	fig, err := ImageGrid(tiles, GridOptions{Title: "samples", Columns: 2, Thumb: 100})
	if err != nil {
		t.Fatal(err)
	}
	savePNG(t, "grid.png", fig)
	b, err := fig.PNG()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if dec.Bounds().Dx() != fig.Width || dec.Bounds().Dy() != fig.Height {
		t.Errorf("grid PNG %v, want %d×%d (photos at 1 pixel per pixel)", dec.Bounds(), fig.Width, fig.Height)
	}
	for i, e := range find(parseSVG(t, fig.SVG()), "image", "") {
		x, y := attrF(t, e, "x")+attrF(t, e, "width")/2, attrF(t, e, "y")+attrF(t, e, "height")/2
		if _, _, blue, _ := dec.At(int(x), int(y)).RGBA(); blue>>8 != uint32(tiles[i].Image.(*image.RGBA).Pix[2]) {
			t.Errorf("photo %d: blue %d at its centre, want %d", i, blue>>8, tiles[i].Image.(*image.RGBA).Pix[2])
		}
	}
	// The mistake's red frame.
	m := find(parseSVG(t, fig.SVG()), "rect", "mistake")[0]
	if got := dec.At(int(attrF(t, m, "x")), int(attrF(t, m, "y")+attrF(t, m, "height")/2)); color.RGBAModel.Convert(got) != hexColor(t, MistakeColor) {
		t.Errorf("mistake frame %v, want %s", got, MistakeColor)
	}
}

func TestHStack(t *testing.T) {
	a := LineChart(Chart{Title: "loss", Width: 300, Height: 200}, []Series{{Name: "loss", Y: []float64{1, 0.5}}})
	b := BarChart(Chart{Title: "counts", Width: 200, Height: 250}, []Bar{{"a", 1}})
	f := HStack("flowers-curves", 10, a, b)
	if f.Width != 510 || f.Height != 250 || f.Title != "loss · counts" {
		t.Errorf("stack %d×%d %q", f.Width, f.Height, f.Title)
	}
	es := parseSVG(t, f.SVG())
	var classes []string
	for _, e := range find(es, "svg", "") {
		classes = append(classes, e.attrs["class"]+"@"+e.attrs["x"])
	}
	if strings.Join(classes, " ") != "flowers-curves@ flowers-line-chart@0 flowers-bar-chart@310" {
		t.Errorf("nested figures %q", classes)
	}
	img := f.Raster()
	bar := find(es, "rect", "bar")[0]
	x := 310 + attrF(t, bar, "x") + attrF(t, bar, "width")/2
	y := attrF(t, bar, "y") + attrF(t, bar, "height")/2
	if got := img.RGBAAt(int(2*x), int(2*y)); got != hexColor(t, Palette[0]) {
		t.Errorf("second figure's bar not drawn at its offset: %v", got)
	}
}

// TestRasterCJK: characters the Go fonts lack come from an installed CJK font when there
// is one (the SVG keeps the text either way).
func TestRasterCJK(t *testing.T) {
	if fallbackFont() == nil {
		t.Skipf("no CJK font installed (looked at $%s and %s)", FontEnv, strings.Join(fallbackFontFiles, ", "))
	}
	glyphs, w := layout("郁金香", false, 24)
	if len(glyphs) != 3 || glyphs[0].f != fallbackFont() || w < 60 || w > 80 {
		t.Errorf("CJK layout: %d glyphs, width %v (want 3 from the fallback font, ~72 px)", len(glyphs), w)
	}
	f := newFigure("t", 100, 40)
	f.text(10, 30, "郁金香", textStyle{size: 24})
	if box := ink(f.Raster(), image.Rect(0, 0, 200, 80)); box.Dx() < 120 {
		t.Errorf("CJK text ink %v, want ~144 px wide", box)
	}
	if !strings.Contains(f.SVG(), ">郁金香</text>") {
		t.Error("SVG lost the CJK text")
	}
}
