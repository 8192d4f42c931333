package plots

import (
	"image"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestXYChartLogMarkers: a learning-rate curve on a log axis: decade ticks, the marker's line
// at log10 of its rate between the decades' ticks, long series without point markers, short
// ones with; the raster shows the marker dashed in its colour.
func TestXYChartLogMarkers(t *testing.T) {
	var lrs, loss []float64
	for i := range 100 {
		lr := 1e-7 * math.Pow(1e8, float64(i)/99)
		lrs, loss = append(lrs, lr), append(loss, 1.6-0.1*math.Log10(lr/1e-7))
	}
	fig := XYChart(Chart{Title: "lr_find", XLabel: "learning rate", YLabel: "loss"},
		Axes{LogX: true, Markers: []Marker{{X: 3e-3, Label: "suggested 3e-3", Color: "#d62728"}}},
		[]Series{{Name: "smoothed", X: lrs, Y: loss}, {Name: "three", X: []float64{1e-6, 1e-4, 1e-2}, Y: []float64{1.5, 1.2, 1}}})
	svg := fig.SVG()
	saveArtifact(t, "xy-log.svg", svg)
	savePNG(t, "xy-log.png", fig)
	es := parseSVG(t, svg)
	ticks := texts(find(es, "text", "tick"))
	for _, want := range []string{"1e-07", "1e-06", "1e-04", "0.001", "0.01", "0.1", "1", "10"} {
		if !slices.Contains(ticks, want) {
			t.Errorf("decade tick %q missing from %q", want, ticks)
		}
	}
	if n := len(find(es, "circle", "")); n != 3 {
		t.Errorf("%d point markers, want 3 (the 100-point series has none)", n)
	}
	// Tick x positions: "0.001" and "0.01"; the marker at 3e-3 is log10(3) = 0.477 of the way.
	tickX := map[string]float64{}
	for _, e := range find(es, "text", "tick") {
		tickX[e.text] = attrF(t, e, "x")
	}
	m := find(es, "line", "marker")
	if len(m) != 1 || m[0].attrs["data-x"] != "0.003" {
		t.Fatalf("markers %v", m)
	}
	want := tickX["0.001"] + math.Log10(3)*(tickX["0.01"]-tickX["0.001"])
	if got := attrF(t, m[0], "x1"); math.Abs(got-want) > 0.01 || m[0].attrs["stroke-dasharray"] == "" {
		t.Errorf("marker at x=%.2f (dashed %q), want %.2f", got, m[0].attrs["stroke-dasharray"], want)
	}
	if l := texts(find(es, "text", "marker-label")); len(l) != 1 || l[0] != "suggested 3e-3" {
		t.Errorf("marker label %q", l)
	}
	img := fig.Raster()
	x := int(2 * want)
	red, gaps := 0, 0
	for y := 2 * 40; y < 2*290; y++ {
		switch c := img.RGBAAt(x, y); {
		case near(c, hexColor(t, "#d62728"), 40):
			red++
		case c == (color.RGBA{255, 255, 255, 255}):
			gaps++
		}
	}
	if red < 100 || gaps < 50 {
		t.Errorf("raster marker: %d red and %d white pixels down its column, want a dashed red line", red, gaps)
	}
	// A linear axis with a fixed y range leaves out what is outside it.
	lin := parseSVG(t, XYChart(Chart{}, Axes{YMin: 0, YMax: 1}, []Series{{Name: "acc", Y: []float64{0.5, 2, 0.7, 1}}}).SVG())
	if cs, ls := find(lin, "circle", ""), find(lin, "polyline", ""); len(cs) != 3 || len(ls) != 1 || attrF(t, cs[2], "cy") != 36 {
		t.Errorf("y range 0..1 of 0.5, 2, 0.7, 1: %d points (the last at the top, y=36), %d lines; want 3 and 1", len(cs), len(ls))
	}
}

// TestScatter: one circle per finite point, coloured by group, rings for hollow points,
// tooltips, legend with counts and what rings are, under the plot (which keeps the figure's
// width), and a larger x drawn further right.
func TestScatter(t *testing.T) {
	groups := []PointGroup{
		{Name: "daisy", X: []float64{0, 1, math.NaN()}, Y: []float64{0, 1, 2}, Tips: []string{"a.jpg", "b.jpg", "c.jpg"}, Hollow: []bool{false, true, false}},
		{Name: "roses", X: []float64{5, 6}, Y: []float64{-1, 3}},
	}
	fig := Scatter(Chart{Title: "PCA", XLabel: "PC1", YLabel: "PC2", Width: 400, Height: 340}, groups, "validation photo")
	savePNG(t, "scatter.png", fig)
	es := parseSVG(t, fig.SVG())
	pts := append(find(es, "circle", "point"), find(es, "circle", "point hollow")...)
	if len(pts) != 4 || len(find(es, "circle", "point hollow")) != 1 {
		t.Fatalf("%d points (%d hollow), want 4 (1 hollow)", len(pts), len(find(es, "circle", "point hollow")))
	}
	h := find(es, "circle", "point hollow")[0]
	if h.attrs["fill"] != "white" || h.attrs["stroke"] != Palette[0] {
		t.Errorf("hollow point %v", h.attrs)
	}
	if got := texts(find(es, "text", "legend")); !slices.Equal(got, []string{"daisy (3)", "roses (2)", "ring = validation photo"}) {
		t.Errorf("legend %q", got)
	}
	// The legend is under the x axis and its label; the plot spans the figure but its margins.
	axis := find(es, "line", "")[0]
	for _, e := range find(es, "line", "") {
		if e.attrs["stroke"] == "#333" && e.attrs["y1"] == e.attrs["y2"] && attrF(t, e, "x2")-attrF(t, e, "x1") > 100 {
			axis = e // the x axis line
		}
	}
	if w := attrF(t, axis, "x2") - attrF(t, axis, "x1"); w < 0.8*400 {
		t.Errorf("the plot is %.0f of the figure's 400 pixels wide, want at least 80%%", w)
	}
	xl := find(es, "text", "xlabel")[0]
	for _, l := range find(es, "text", "legend") {
		if attrF(t, l, "y") <= attrF(t, xl, "y") || attrF(t, l, "y") > 340 || attrF(t, l, "x") < 0 || attrF(t, l, "x")+labelWidth(l.text, 11) > 400 {
			t.Errorf("legend entry %q at (%s, %s): not under the x label (y %s) inside the figure", l.text, l.attrs["x"], l.attrs["y"], xl.attrs["y"])
		}
	}
	if r := find(es, "circle", "legend-mark hollow"); len(r) != 1 || r[0].attrs["fill"] != "white" {
		t.Errorf("the ring's legend mark %v", r)
	}
	if !strings.Contains(fig.SVG(), "<title>b.jpg</title>") {
		t.Error("no tooltip with the photo's name")
	}
	solid := find(es, "circle", "point")
	if attrF(t, solid[0], "cx") >= attrF(t, solid[1], "cx") || solid[1].attrs["fill"] != Palette[1] {
		t.Errorf("points %v %v", solid[0].attrs, solid[1].attrs)
	}
	img := fig.Raster()
	for _, c := range solid {
		if got := img.RGBAAt(int(2*attrF(t, c, "cx")), int(2*attrF(t, c, "cy"))); got != hexColor(t, c.attrs["fill"]) {
			t.Errorf("raster %v at point %v", got, c.attrs)
		}
	}
}

// TestPlaceholder: the message is set inside the frame, wrapped to its width.
func TestPlaceholder(t *testing.T) {
	msg := "ImageNet weights: not available here. This panel needs Keras' ResNet50 ImageNet weights (94 MB): set Weights to imagenet."
	fig := Placeholder(Chart{Title: "ImageNet weights", Width: 400, Height: 300}, msg)
	es := parseSVG(t, fig.SVG())
	lines := texts(find(es, "text", "message"))
	if len(lines) < 2 || strings.Join(lines, " ") != msg {
		t.Errorf("message lines %q", lines)
	}
	for _, l := range lines {
		if textWidth(l, 13, false) > 360 {
			t.Errorf("line %q is wider than the frame", l)
		}
	}
	if f := find(es, "rect", "frame"); len(f) != 1 || f[0].attrs["stroke-dasharray"] == "" {
		t.Errorf("frame %v", f)
	}
}

// TestLevelBarChart: bar heights proportional to the values, the level line at its value,
// two-line labels under the bars.
func TestLevelBarChart(t *testing.T) {
	bars := []Bar{{"conv2\n256 ch", 40}, {"conv3\n512 ch", 60}, {"conv4\n1024 ch", 80}, {"conv5\n2048 ch", 90}}
	fig := LevelBarChart(Chart{Title: "probe accuracy", YLabel: "val accuracy (%)", YMax: 100}, bars, []Level{{Y: 20, Label: "chance 20%"}})
	savePNG(t, "levels.png", fig)
	es := parseSVG(t, fig.SVG())
	rects := find(es, "rect", "bar")
	if len(rects) != 4 {
		t.Fatalf("%d bars", len(rects))
	}
	bottom := attrF(t, rects[0], "y") + attrF(t, rects[0], "height")
	per := attrF(t, rects[0], "height") / 40
	for i, r := range rects {
		if math.Abs(attrF(t, r, "height")-per*bars[i].Value) > 1e-6 {
			t.Errorf("bar %d height %.2f, want %.2f", i, attrF(t, r, "height"), per*bars[i].Value)
		}
	}
	lv := find(es, "line", "level")
	if len(lv) != 1 || math.Abs(attrF(t, lv[0], "y1")-(bottom-20*per)) > 1e-6 {
		t.Errorf("level line %v, want y=%.2f", lv, bottom-20*per)
	}
	if got := texts(find(es, "text", "category-note")); !slices.Equal(got, []string{"256 ch", "512 ch", "1024 ch", "2048 ch"}) {
		t.Errorf("second label lines %q", got)
	}
	if got := texts(find(es, "text", "value")); !slices.Equal(got, []string{"40", "60", "80", "90"}) {
		t.Errorf("values %q", got)
	}
}

// TestXYChartMarkerOn: a marker that names a series gets a dot on that series at its x
// (interpolated between the series' points on the log axis) and its label in the legend,
// not at the top of the frame; one beyond the series' end gets no dot.
func TestXYChartMarkerOn(t *testing.T) {
	lrs := []float64{1e-4, 1e-3, 1e-2, 1e-1}
	loss := []float64{1.6, 1.2, 0.4, 2}
	fig := XYChart(Chart{Title: "lr_find", Width: 600, Height: 300}, Axes{LogX: true, Markers: []Marker{
		{X: math.Sqrt(1e-3 * 1e-2), Label: "steepest: 3.2e-03", Color: "#d62728", On: "loss of each step"},
		{X: 1, Label: "beyond", On: "loss of each step"},
		{X: 1e-4, Label: "at the top"},
	}}, []Series{{Name: "loss of each step", X: lrs, Y: loss}})
	savePNG(t, "xy-marker-on.png", fig)
	es := parseSVG(t, fig.SVG())
	dots := find(es, "circle", "marker-point")
	if len(dots) != 1 {
		t.Fatalf("%d marker dots, want 1 (the second marker is beyond the series)", len(dots))
	}
	// Halfway between 1e-3 and 1e-2 in log x: halfway between 1.2 and 0.4.
	if got := attrF(t, dots[0], "data-y"); math.Abs(got-0.8) > 1e-9 || dots[0].attrs["fill"] != "#d62728" {
		t.Errorf("dot at loss %v (%s), want 0.8 in the marker's colour", got, dots[0].attrs["fill"])
	}
	line := find(es, "line", "marker")[0]
	if math.Abs(attrF(t, dots[0], "cx")-attrF(t, line, "x1")) > 1e-9 {
		t.Errorf("dot at x=%s, its marker line at %s", dots[0].attrs["cx"], line.attrs["x1"])
	}
	// Its y: the same map as the series' points (the first 4 circles: 1.2 and 0.4 are the 2nd
	// and 3rd; 0.8 is halfway between).
	pts := find(es, "circle", "")
	y12, y04 := attrF(t, pts[1], "cy"), attrF(t, pts[2], "cy")
	if got := attrF(t, dots[0], "cy"); math.Abs(got-(y12+y04)/2) > 1e-6 {
		t.Errorf("dot at y=%v, want %v", got, (y12+y04)/2)
	}
	if got := texts(find(es, "text", "legend")); !slices.Equal(got, []string{"loss of each step", "steepest: 3.2e-03", "beyond"}) {
		t.Errorf("legend %q", got)
	}
	if got := texts(find(es, "text", "marker-label")); !slices.Equal(got, []string{"at the top"}) {
		t.Errorf("labels at the top of the frame %q", got)
	}
	img := fig.Raster()
	if got := img.RGBAAt(int(2*attrF(t, dots[0], "cx")), int(2*attrF(t, dots[0], "cy"))); !near(got, hexColor(t, "#d62728"), 2) {
		t.Errorf("raster %v at the dot", got)
	}
}

// TestColorBarAndVStack: the ramp is drawn as given, at its size, framed, ticks at their
// values, the ends' words beside it; VStack centres figures one under the other.
func TestColorBarAndVStack(t *testing.T) {
	ramp := image.NewRGBA(image.Rect(0, 0, 200, 10))
	for x := range 200 {
		for y := range 10 {
			ramp.SetRGBA(x, y, color.RGBA{uint8(x), 0, uint8(255 - x), 255})
		}
	}
	bar, err := ColorBar(400, ColorScale{Title: "scale", Ramp: ramp, Min: -1, Max: 1, Ticks: []float64{-1, 0, 1}, Labels: []string{"-1", "0", "1"},
		Left: "against", Right: "for"})
	if err != nil {
		t.Fatal(err)
	}
	es := parseSVG(t, bar.SVG())
	im := find(es, "image", "")
	if len(im) != 1 || attrF(t, im[0], "x") != 100 || attrF(t, im[0], "width") != 200 || attrF(t, im[0], "height") != 10 {
		t.Fatalf("ramp image %v", im)
	}
	ticks := find(es, "text", "tick")
	if len(ticks) != 3 || attrF(t, ticks[0], "x") != 100 || attrF(t, ticks[1], "x") != 200 || attrF(t, ticks[2], "x") != 300 {
		t.Errorf("tick labels %v", ticks)
	}
	if got := texts(find(es, "text", "colorbar-end")); !slices.Equal(got, []string{"against", "for"}) {
		t.Errorf("ends %q", got)
	}
	img := bar.Raster()
	y := int(attrF(t, im[0], "y")) + 5
	for _, x := range []int{0, 100, 199} {
		if got := img.RGBAAt(100+x, y); got != ramp.RGBAAt(x, 5) {
			t.Errorf("raster at ramp column %d: %v, want %v", x, got, ramp.RGBAAt(x, 5))
		}
	}
	if _, err := ColorBar(400, ColorScale{Ramp: ramp, Min: 1, Max: 1}); err == nil || !strings.Contains(err.Error(), "Max > Min") {
		t.Errorf("empty range: %v", err)
	}
	top := BarChart(Chart{Width: 300, Height: 200}, []Bar{{"a", 1}})
	st := VStack("stack", 4, top, bar)
	if st.Width != 400 || st.Height != 200+4+bar.Height || st.Scale != 2 {
		t.Errorf("VStack %d×%d at scale %v", st.Width, st.Height, st.Scale)
	}
	var at []string
	for _, e := range find(parseSVG(t, st.SVG()), "svg", "") {
		at = append(at, e.attrs["class"]+"@"+e.attrs["x"]+","+e.attrs["y"])
	}
	if got := strings.Join(at, " "); got != "stack@, flowers-bar-chart@50,0 flowers-colorbar@0,204" {
		t.Errorf("stacked figures %q", got)
	}
}
