package plots

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// elem is a parsed SVG element: its name, attributes and direct text.
type elem struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG checks that s is well-formed XML with an <svg> root in the SVG namespace and
// returns its elements in document order.
func parseSVG(t *testing.T, s string) []*elem {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	var out, stack []*elem
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%.400s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(out) == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element is %v, want svg in the SVG namespace", tok.Name)
			}
			e := &elem{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	return out
}

func find(es []*elem, name, class string) []*elem {
	var out []*elem
	for _, e := range es {
		if e.name == name && (class == "" || e.attrs["class"] == class) {
			out = append(out, e)
		}
	}
	return out
}

func texts(es []*elem) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.text)
	}
	return out
}

func attrF(t *testing.T, e *elem, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attrs[name], 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", e.name, name, e.attrs[name], err)
	}
	return v
}

// saveArtifact writes s under $FLOWERS_TEST_OUT (when set) so a person can look at it.
func saveArtifact(t *testing.T, name, s string) {
	if dir := os.Getenv("FLOWERS_TEST_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBarChart(t *testing.T) {
	bars := []Bar{{"daisy", 633}, {"dandelion", 898}, {"roses", 641}, {"sunflowers", 699}, {"tulips <&>", 799}}
	s := BarChart(Chart{Title: "images per class", YLabel: "images"}, bars).SVG()
	saveArtifact(t, "bar.svg", s)
	es := parseSVG(t, s)
	rects := find(es, "rect", "bar")
	if len(rects) != len(bars) {
		t.Fatalf("%d bars drawn, want %d", len(rects), len(bars))
	}
	if got := texts(find(es, "text", "category")); !slices.Equal(got, []string{"daisy", "dandelion", "roses", "sunflowers", "tulips <&>"}) {
		t.Errorf("category labels %q", got)
	}
	if got := texts(find(es, "text", "value")); !slices.Equal(got, []string{"633", "898", "641", "699", "799"}) {
		t.Errorf("value labels %q", got)
	}
	// Heights are proportional to the values and share one baseline.
	for i, r := range rects {
		ratio := attrF(t, r, "height") / attrF(t, rects[1], "height")
		if want := bars[i].Value / 898; math.Abs(ratio-want) > 1e-9 {
			t.Errorf("bar %d height ratio %.6f, want %.6f", i, ratio, want)
		}
		if base := attrF(t, r, "y") + attrF(t, r, "height"); math.Abs(base-(attrF(t, rects[0], "y")+attrF(t, rects[0], "height"))) > 1e-9 {
			t.Errorf("bar %d baseline %v differs", i, base)
		}
	}
	// The y axis reaches at least the largest bar: a tick ≥ 898.
	top := 0.0
	for _, tk := range find(es, "text", "tick") {
		v, _ := strconv.ParseFloat(tk.text, 64)
		top = max(top, v)
	}
	if top < 898 || top > 1000 {
		t.Errorf("top tick %v, want in [898, 1000]", top)
	}
	if got := texts(find(es, "text", "title")); len(got) != 1 || got[0] != "images per class" {
		t.Errorf("title %q", got)
	}
}

func TestBarChartYMax(t *testing.T) {
	es := parseSVG(t, BarChart(Chart{YMax: 100}, []Bar{{"daisy", 100}, {"roses", 0}}).SVG())
	ticks := texts(find(es, "text", "tick"))
	if ticks[len(ticks)-1] != "100" {
		t.Errorf("ticks %q, want the last at 100", ticks)
	}
}

func TestBarChartDegenerate(t *testing.T) {
	for _, bars := range [][]Bar{nil, {{"a", 0}}, {{"a", math.NaN()}, {"b", 3}}, {{"a", -2}}} {
		parseSVG(t, BarChart(Chart{}, bars).SVG())
		BarChart(Chart{}, bars).Raster()
	}
}

func TestLineChart(t *testing.T) {
	series := []Series{
		{Name: "loss", Y: []float64{1.6, 1.1, 0.8, 0.6}},
		{Name: "val_loss", Y: []float64{1.5, 1.2, math.NaN(), 0.9}, Dashed: true},
		{Name: "accuracy", X: []float64{1, 2, 3, 4}, Y: []float64{0.2, 0.5, 0.7, 0.95}},
	}
	s := LineChart(Chart{Title: "training", XLabel: "epoch", YLabel: "value"}, series).SVG()
	saveArtifact(t, "line.svg", s)
	es := parseSVG(t, s)
	if got := texts(find(es, "text", "legend")); !slices.Equal(got, []string{"loss", "val_loss", "accuracy"}) {
		t.Errorf("legend %q", got)
	}
	// val_loss has a NaN at epoch 3: its line breaks into 2 pieces, one of which is a single
	// point and so not drawn as a polyline; the others are one polyline each.
	if n := len(find(es, "polyline", "")); n != 3 {
		t.Errorf("%d polylines, want 3 (loss, val_loss before the NaN, accuracy)", n)
	}
	if n := len(find(es, "circle", "")); n != 11 {
		t.Errorf("%d markers, want 11 finite points", n)
	}
	var dashed int
	for _, p := range find(es, "polyline", "") {
		if p.attrs["stroke-dasharray"] != "" {
			dashed++
		}
		if n := len(strings.Fields(p.attrs["points"])); n < 2 {
			t.Errorf("polyline with %d points", n)
		}
	}
	if dashed != 1 {
		t.Errorf("%d dashed polylines, want 1", dashed)
	}
	// Higher values are drawn higher: loss decreases, so its y coordinates increase.
	pts := strings.Fields(find(es, "polyline", "")[0].attrs["points"])
	prev := -1.0
	for _, p := range pts {
		y, _ := strconv.ParseFloat(strings.Split(p, ",")[1], 64)
		if y <= prev {
			t.Errorf("loss polyline y not increasing: %v", pts)
		}
		prev = y
	}
	ticks := texts(find(es, "text", "tick"))
	for _, want := range []string{"1", "2", "3", "4", "0.2", "1.6"} {
		if !slices.Contains(ticks, want) {
			t.Errorf("tick %q missing from %q", want, ticks)
		}
	}
	if got := texts(find(es, "text", "xlabel")); len(got) != 1 || got[0] != "epoch" {
		t.Errorf("x label %q", got)
	}
	parseSVG(t, LineChart(Chart{}, nil).SVG())
	parseSVG(t, LineChart(Chart{}, []Series{{Name: "flat", Y: []float64{2, 2}}}).SVG())
}

func TestConfusionMatrix(t *testing.T) {
	classes := []string{"daisy", "dandelion", "roses", "sunflowers", "tulips"}
	counts := [][]int{{7, 1, 0, 0, 0}, {0, 9, 0, 1, 0}, {1, 0, 5, 0, 2}, {0, 0, 0, 8, 0}, {0, 0, 3, 0, 3}}
	fig, err := ConfusionMatrix("validation", classes, counts)
	if err != nil {
		t.Fatal(err)
	}
	s := fig.SVG()
	saveArtifact(t, "confusion.svg", s)
	es := parseSVG(t, s)
	cells := find(es, "rect", "cell")
	if len(cells) != 25 {
		t.Fatalf("%d cells, want 25", len(cells))
	}
	nums := texts(find(es, "text", "count"))
	var want []string
	for _, row := range counts {
		for _, v := range row {
			want = append(want, strconv.Itoa(v))
		}
	}
	if !slices.Equal(nums, want) {
		t.Errorf("cell numbers %q, want %q", nums, want)
	}
	if got := texts(find(es, "text", "row-label")); !slices.Equal(got, classes) {
		t.Errorf("row labels %q", got)
	}
	if got := texts(find(es, "text", "col-label")); !slices.Equal(got, classes) {
		t.Errorf("column labels %q", got)
	}
	if got := texts(find(es, "text", "recall")); !slices.Equal(got, []string{"88%", "90%", "62%", "100%", "50%"}) {
		t.Errorf("recalls %q", got)
	}
	if got := texts(find(es, "text", "accuracy")); len(got) != 1 || got[0] != "accuracy 80.0% (32 of 40)" {
		t.Errorf("accuracy %q", got)
	}
	// A full row is darkest on its one cell; an empty cell is the lightest colour.
	if cells[18].attrs["fill"] != heat(1) || cells[19].attrs["fill"] != heat(0) {
		t.Errorf("sunflowers row fills %s %s, want %s %s", cells[18].attrs["fill"], cells[19].attrs["fill"], heat(1), heat(0))
	}

	for _, bad := range []struct {
		counts [][]int
		msg    string
	}{
		{counts[:4], "4 rows of counts for 5 classes"},
		{[][]int{{1, 2, 3, 4, 5}, {1}, {}, {}, {}}, "row 1 (dandelion) has 1 columns, want 5"},
		{[][]int{{0, 0, 0, 0, -1}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}, "negative count -1 at [daisy][tulips]"},
	} {
		if _, err := ConfusionMatrix("", classes, bad.counts); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("error %v, want %q", err, bad.msg)
		}
	}
}

// testImage returns a w×h gradient with a constant blue channel.
func testImage(w, h int, blue uint8) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / max(1, w-1)), uint8(255 * y / max(1, h-1)), blue, 255})
		}
	}
	return img
}

func TestImageGrid(t *testing.T) {
	tiles := []Tile{
		{Image: testImage(320, 240, 10), Caption: "daisy"},
		{Image: testImage(100, 300, 20), Caption: "true roses\npred tulips 61%", Mark: Mistake},
		{Image: testImage(64, 64, 30), Caption: "sunflowers 99%", Mark: Correct},
		{Image: testImage(500, 500, 40), Caption: "tulips"},
		{Image: testImage(50, 20, 50), Caption: "dandelion"},
	}
	fig, err := ImageGrid(tiles, GridOptions{Title: "samples", Columns: 3, Thumb: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := fig.SVG()
	saveArtifact(t, "grid.svg", s)
	es := parseSVG(t, s)
	imgs := find(es, "image", "")
	if len(imgs) != len(tiles) {
		t.Fatalf("%d images, want %d", len(imgs), len(tiles))
	}
	wantSizes := [][2]int{{100, 75}, {33, 100}, {64, 64}, {100, 100}, {50, 20}}
	for i, e := range imgs {
		uri := e.attrs["href"]
		data, ok := strings.CutPrefix(uri, "data:image/png;base64,")
		if !ok {
			t.Fatalf("image %d href %.40q is not a PNG data URI", i, uri)
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != wantSizes[i][0] || b.Dy() != wantSizes[i][1] {
			t.Errorf("image %d is %dx%d, want %v", i, b.Dx(), b.Dy(), wantSizes[i])
		}
		if int(attrF(t, e, "width")) != wantSizes[i][0] || int(attrF(t, e, "height")) != wantSizes[i][1] {
			t.Errorf("image %d drawn %sx%s, want %v", i, e.attrs["width"], e.attrs["height"], wantSizes[i])
		}
		// The blue channel survives shrinking and encoding exactly (constant per image).
		if _, _, b, _ := img.At(img.Bounds().Dx()/2, img.Bounds().Dy()/2).RGBA(); b>>8 != uint32(10*(i+1)) {
			t.Errorf("image %d blue %d, want %d", i, b>>8, 10*(i+1))
		}
	}
	if got := texts(find(es, "text", "caption")); !slices.Equal(got, []string{"daisy", "true roses", "pred tulips 61%", "sunflowers 99%", "tulips", "dandelion"}) {
		t.Errorf("captions %q", got)
	}
	if m := find(es, "rect", "mistake"); len(m) != 1 || m[0].attrs["stroke"] != MistakeColor {
		t.Errorf("mistake frames %v, want one in %s", m, MistakeColor)
	}
	if len(find(es, "rect", "correct")) != 1 {
		t.Errorf("want one correct frame")
	}
	for _, c := range find(es, "text", "caption") {
		red := c.attrs["fill"] == MistakeColor
		if red != strings.Contains(c.text, "roses") && red != strings.Contains(c.text, "pred") {
			t.Errorf("caption %q fill %s", c.text, c.attrs["fill"])
		}
	}
	// 3 columns, 2 rows of 100-pixel cells.
	root := es[0]
	if w := attrF(t, root, "width"); w != 3*108+8 {
		t.Errorf("grid width %v", w)
	}

	jp, err := ImageGrid(tiles[:1], GridOptions{JPEG: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jp.SVG(), `href="data:image/jpeg;base64,`) {
		t.Errorf("JPEG grid has no JPEG data URI")
	}
	if _, err := ImageGrid(nil, GridOptions{}); err == nil {
		t.Error("empty grid: no error")
	}
	if _, err := ImageGrid([]Tile{{Caption: "x"}}, GridOptions{}); err == nil || !strings.Contains(err.Error(), `tile 0 ("x") has no image`) {
		t.Errorf("nil image: %v", err)
	}
}

func TestShrinkAverages(t *testing.T) {
	// A 4×2 checkerboard of black and white averages to mid-grey at 2×1.
	img := image.NewGray(image.Rect(0, 0, 4, 2))
	for y := range 2 {
		for x := range 4 {
			if (x+y)%2 == 0 {
				img.Pix[y*img.Stride+x] = 255
			}
		}
	}
	s := Shrink(img, 2)
	if b := s.Bounds(); b.Dx() != 2 || b.Dy() != 1 {
		t.Fatalf("shrunk to %v", b)
	}
	for x := range 2 {
		r, _, _, _ := s.At(x, 0).RGBA()
		if r>>8 != 127 {
			t.Errorf("pixel %d = %d, want 127", x, r>>8)
		}
	}
	if Shrink(img, 10) != image.Image(img) {
		t.Error("small image was copied")
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi   float64
		n        int
		want     []float64
		tlo, thi float64
	}{
		{0, 898, 5, []float64{0, 200, 400, 600, 800, 1000}, 0, 1000},
		{0.21, 0.97, 6, []float64{0.2, 0.4, 0.6, 0.8, 1}, 0.2, 1},
		{1, 30, 8, []float64{0, 5, 10, 15, 20, 25, 30}, 0, 30},
		{3, 3, 5, []float64{2.7, 2.8, 2.9, 3, 3.1, 3.2, 3.3}, 2.7, 3.3},
	} {
		got, tlo, thi := niceTicks(c.lo, c.hi, c.n)
		if len(got) != len(c.want) || math.Abs(tlo-c.tlo) > 1e-9 || math.Abs(thi-c.thi) > 1e-9 {
			t.Errorf("niceTicks(%v, %v, %d) = %v [%v, %v], want %v", c.lo, c.hi, c.n, got, tlo, thi, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
				break
			}
		}
	}
}
