package nb

import (
	"fmt"
	"html"
	"image"
	"sort"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/pkg/errors"
)

// ClassCounts returns the bar chart of images per class of t (the seed's labels table).
func ClassCounts(t *labels.Table) *plots.Figure {
	var bars []plots.Bar
	for _, c := range t.Counts() {
		bars = append(bars, plots.Bar{Label: c.Class, Value: float64(c.Count)})
	}
	return plots.BarChart(plots.Chart{Title: fmt.Sprintf("images per class (%d in all)", len(t.Rows)), YLabel: "images"}, bars)
}

// HeadTable returns the first n rows of t as an HTML table with the seed's columns
// (images, labels), like pandas' labels.head().
func HeadTable(t *labels.Table, n int) string {
	rows := make([][]string, 0, n)
	for i, r := range t.Rows[:min(n, len(t.Rows))] {
		rows = append(rows, []string{fmt.Sprint(i), r.Path, r.Label})
	}
	return Table([]string{"", "images", "labels"}, rows)
}

// ImgTag returns an <img> with img embedded as PNG and a caption under it.
func ImgTag(img image.Image, caption string) (string, error) {
	uri, err := plots.DataURI(img, false)
	if err != nil {
		return "", err
	}
	b := img.Bounds()
	return fmt.Sprintf(`<figure style="margin:0;text-align:center"><img src="%s" width="%d" height="%d" style="image-rendering:auto"/>`+
		`<figcaption style="font-size:12px">%s</figcaption></figure>`, uri, b.Dx(), b.Dy(), html.EscapeString(caption)), nil
}

// ResizeDemo shows one photo three ways, side by side: as stored (shrunk for display), resized to
// size×size (what the model sees, in RGB) and the same pixels in OpenCV's BGR order drawn as if
// they were RGB — what plt.imshow shows when the seed's cv2.cvtColor(BGR2RGB) is left out.
func ResizeDemo(path string, size int) (string, error) {
	orig, info, err := images.ReadFile(path)
	if err != nil {
		return "", err
	}
	resized, err := images.Load(path, size)
	if err != nil {
		return "", err
	}
	bgr := &images.RGB{Width: resized.Width, Height: resized.Height, Pix: resized.BGR()}
	var parts []string
	for _, p := range []struct {
		img     image.Image
		caption string
	}{
		{plots.Shrink(Image(orig), size*3/2), fmt.Sprintf("stored: %d×%d %s", info.Width, info.Height, info.Format)},
		{Image(resized), fmt.Sprintf("resized: %d×%d RGB (bilinear)", size, size)},
		{Image(bgr), "BGR bytes shown as RGB (cv2 without cvtColor)"},
	} {
		tag, err := ImgTag(p.img, p.caption)
		if err != nil {
			return "", errors.WithMessagef(err, "showing %q", path)
		}
		parts = append(parts, tag)
	}
	return Row(parts...), nil
}

// SampleGrid returns a grid of n photos of t, taking the classes in turn so each shows,
// captioned with their labels and loaded at size×size as the model sees them.
func SampleGrid(t *labels.Table, n, size int) (*plots.Figure, error) {
	byClass := map[string][]labels.Row{}
	for _, r := range t.Rows {
		byClass[r.Label] = append(byClass[r.Label], r)
	}
	var tiles []plots.Tile
	for k := 0; len(tiles) < n; k++ {
		added := false
		for _, c := range t.Classes {
			if k < len(byClass[c]) && len(tiles) < n {
				r := byClass[c][k]
				img, err := images.Load(r.Path, size)
				if err != nil {
					return nil, err
				}
				tiles = append(tiles, plots.Tile{Image: Image(img), Caption: r.Label})
				added = true
			}
		}
		if !added {
			break
		}
	}
	if len(tiles) == 0 {
		return nil, errors.New("nb.SampleGrid: the table has no rows")
	}
	return plots.ImageGrid(tiles, plots.GridOptions{Title: fmt.Sprintf("%d samples (%d×%d)", len(tiles), size, size), Columns: len(t.Classes), Thumb: 128, JPEG: true})
}

// Augmentation returns the seed's ImageDataGenerator settings with every range scaled by
// strength (1 = the seed's: rotation 40°, shifts 0.4, shear 0.2, zoom 0.3, flips; 0 = none),
// without the 1/255 rescale (flowerlib feeds 0..255 to the caffe preprocessing).
func Augmentation(strength float64, seed int64) augment.Config {
	c := augment.SeedArticle()
	c.Rescale = 1
	c.RotationRange *= strength
	c.WidthShiftRange *= strength
	c.HeightShiftRange *= strength
	c.ShearRange *= strength
	c.ZoomRange *= strength
	c.HorizontalFlip = c.HorizontalFlip && strength > 0
	c.Seed = seed
	return c
}

// AugmentGrid shows a photo and n augmented versions of it (epochs 0..n-1 of cfg, as training
// would draw them), captioned with each transform's parameters.
func AugmentGrid(path string, cfg augment.Config, n, size int) (*plots.Figure, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, err := images.Load(path, size)
	if err != nil {
		return nil, err
	}
	tiles := []plots.Tile{{Image: Image(src), Caption: "original"}}
	scale := cfg.Rescale
	if scale == 0 {
		scale = 1
	}
	dst := make([]float32, size*size*3)
	for e := range n {
		p := cfg.Random(e, 0, size, size)
		augment.Apply(src, p, 1, dst)
		out := images.NewRGB(size, size)
		for i, v := range dst {
			out.Pix[i] = uint8(max(0, min(255, v+0.5)))
		}
		flip := ""
		if p.Flip {
			flip = " · flip"
		}
		tiles = append(tiles, plots.Tile{Image: Image(out),
			Caption: fmt.Sprintf("epoch %d · %.0f°%s\nzoom %.2f×%.2f", e+1, p.Theta, flip, p.Zx, p.Zy)})
	}
	return plots.ImageGrid(tiles, plots.GridOptions{Title: "augmentation preview", Columns: min(5, len(tiles)), Thumb: 128, JPEG: true})
}

// Prediction is one photo with its true and predicted class, for PredictionGallery.
type Prediction struct {
	Path        string
	True        string // "" when unknown (a photo of your own)
	Predicted   string
	Probability float64
}

// PredictionGallery shows up to n predictions, mistakes first (framed in red, captioned
// "true X / pred Y p%"), then right ones (green frame).
func PredictionGallery(preds []Prediction, n, size int) (*plots.Figure, error) {
	order := make([]int, len(preds))
	for i := range order {
		order[i] = i
	}
	wrong := func(p Prediction) bool { return p.True != "" && p.True != p.Predicted }
	sort.SliceStable(order, func(a, b int) bool { return wrong(preds[order[a]]) && !wrong(preds[order[b]]) })
	var tiles []plots.Tile
	mistakes := 0
	for _, i := range order[:min(n, len(order))] {
		p := preds[i]
		img, err := images.Load(p.Path, size)
		if err != nil {
			return nil, err
		}
		t := plots.Tile{Image: Image(img), Caption: fmt.Sprintf("%s %.0f%%", p.Predicted, 100*p.Probability)}
		switch {
		case wrong(p):
			t.Mark = plots.Mistake
			t.Caption = fmt.Sprintf("true %s\npred %s %.0f%%", p.True, p.Predicted, 100*p.Probability)
			mistakes++
		case p.True != "":
			t.Mark = plots.Correct
			t.Caption = fmt.Sprintf("%s\n%.0f%%", p.Predicted, 100*p.Probability)
		}
		tiles = append(tiles, t)
	}
	if len(tiles) == 0 {
		return nil, errors.New("nb.PredictionGallery: no predictions")
	}
	title := fmt.Sprintf("%d predictions, %d mistakes (red)", len(tiles), mistakes)
	return plots.ImageGrid(tiles, plots.GridOptions{Title: title, Columns: 6, Thumb: 112, JPEG: true})
}

// HeadLayers returns the head's Keras-style summary as an HTML table: each layer with its
// output shape and parameters, then the totals (BatchNormalization's moving mean and
// variance count as non-trainable, as in Keras).
func HeadLayers(c head.Config) string {
	c = c.Defaults()
	var rows [][]string
	in := c.InputDims()
	shape := func(d ...int) string {
		s := "(None"
		for _, v := range d {
			s += fmt.Sprintf(", %d", v)
		}
		return s + ")"
	}
	rows = append(rows, []string{"resnet50 (frozen base)", shape(7, 7, 2048), "23,587,712 (frozen)"})
	switch c.Kind {
	case head.Flatten:
		rows = append(rows, []string{"flatten (Flatten)", shape(in...), "0"})
	default:
		rows = append(rows, []string{fmt.Sprintf("%s_pool (Global%sPooling2D)", c.Kind, poolName(c.Kind)), shape(in...), "0"})
	}
	for _, l := range c.Layers() {
		typ, params := "Dense", l.In*l.Out+l.Out
		if l.BN {
			typ, params = "BatchNormalization", 4*l.Out
		}
		rows = append(rows, []string{fmt.Sprintf("%s (%s)", l.Name, typ), shape(l.Out), commas(params)})
	}
	tr, non := c.NumParams()
	rows = append(rows, []string{"head total", "", fmt.Sprintf("%s (trainable %s, non-trainable %s)", commas(tr+non), commas(tr), commas(non))})
	return Table([]string{"layer (type)", "output shape", "params"}, rows)
}

func poolName(k head.Kind) string {
	if k == head.Max {
		return "Max"
	}
	return "Average"
}

// commas formats n with thousands separators, as Keras' summary does.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// DecodeAll decodes and resizes every photo of t to size×size, in parallel batches as
// read_images does (bounded memory), with a live progress line, and returns the summary
// (photos decoded, skipped ones with the reason).
func DecodeAll(t *labels.Table, size int) (string, error) {
	paths := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		paths[i] = r.Path
	}
	p := NewProgress("")
	it := images.NewBatches(paths, images.BatchOptions{Size: size, Progress: p})
	defer it.Close()
	for range it.All() {
	}
	p.Done()
	if err := it.Err(); err != nil {
		return "", err
	}
	return it.Summary(), nil
}
