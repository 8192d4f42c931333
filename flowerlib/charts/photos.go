package charts

import (
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"sort"

	"github.com/flowerlib/flowers/flowerlib/augment"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
)

// Image converts flowerlib's 8-bit RGB image to a standard image.Image (for plots.Tile).
func Image(rgb *images.RGB) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, rgb.Width, rgb.Height))
	for i, j := 0, 0; i+2 < len(rgb.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = rgb.Pix[i], rgb.Pix[i+1], rgb.Pix[i+2], 255
	}
	return img
}

// ClassCounts returns the bar chart of images per class of t (the article's labels table).
func ClassCounts(t *labels.Table) *plots.Figure {
	var bars []plots.Bar
	for _, c := range t.Counts() {
		bars = append(bars, plots.Bar{Label: c.Class, Value: float64(c.Count)})
	}
	return plots.BarChart(plots.Chart{Title: fmt.Sprintf("images per class (%d in all)", len(t.Rows)), YLabel: "images"}, bars)
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
		return nil, errors.New("charts.SampleGrid: the table has no rows")
	}
	return plots.ImageGrid(tiles, plots.GridOptions{Title: fmt.Sprintf("%d samples (%d×%d)", len(tiles), size, size), Columns: len(t.Classes), Thumb: 128, JPEG: true})
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
		return nil, errors.New("charts.PredictionGallery: no predictions")
	}
	title := fmt.Sprintf("%d predictions, %d mistakes (red)", len(tiles), mistakes)
	return plots.ImageGrid(tiles, plots.GridOptions{Title: title, Columns: 6, Thumb: 112, JPEG: true})
}

// Confusion returns the confusion-matrix heat-map of an evaluation report.
func Confusion(r *metrics.Report, title string) (*plots.Figure, error) {
	return plots.ConfusionMatrix(title, r.Classes, r.Confusion)
}

// PhotoPrediction shows a photo (as the model sees it, size×size) beside the bar chart of
// its class probabilities, as one figure; truth, when known, is its true class.
func PhotoPrediction(path string, size int, guesses []metrics.Guess, truth string) (*plots.Figure, error) {
	img, err := images.Load(path, size)
	if err != nil {
		return nil, err
	}
	caption, title := filepath.Base(path), "prediction"
	if truth != "" {
		caption += " (" + truth + ")"
		title = "prediction; true class: " + truth
	}
	// At least 170 pixels wide: room for a photo's file name under it.
	photo, err := plots.ImageGrid([]plots.Tile{{Image: Image(img), Caption: caption}}, plots.GridOptions{Columns: 1, Thumb: max(size, 170), JPEG: true})
	if err != nil {
		return nil, err
	}
	return plots.HStack("flowers-photo-prediction", 12, photo, TopChart(title, guesses)), nil
}

// TopChart returns a bar chart of a photo's class probabilities (in percent).
func TopChart(title string, guesses []metrics.Guess) *plots.Figure {
	bars := make([]plots.Bar, len(guesses))
	for i, g := range guesses {
		bars[i] = plots.Bar{Label: g.Class, Value: float64(int(1000*g.Probability+0.5)) / 10}
	}
	return plots.BarChart(plots.Chart{Title: title, YLabel: "probability (%)", Width: 440, Height: 280, YMax: 100}, bars)
}
