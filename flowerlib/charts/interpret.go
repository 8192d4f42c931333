package charts

import (
	"errors"
	"fmt"
	"image"
	"sort"

	"github.com/flowerlib/flowers/flowerlib/cam"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
)

// CAMOpacity is how strongly the maps cover the photos at their peaks.
const CAMOpacity = 0.55

// CAMGallery shows up to n class activation maps over their photos (as the model sees them,
// size×size, shown at least 128 pixels wide), mistakes first (red frame), captioned with the
// true and predicted class and the method (CAM or Grad-CAM), over the maps' colour bar
// (CAMScale). classes names the class indices.
func CAMGallery(cams []learner.CAMResult, classes []string, n, size int) (*plots.Figure, error) {
	order := make([]int, 0, len(cams))
	for i, c := range cams {
		if c.Err == "" {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return cams[order[a]].Wrong() && !cams[order[b]].Wrong() })
	var tiles []plots.Tile
	mistakes, method := 0, ""
	for _, i := range order[:min(n, len(order))] {
		c := cams[i]
		display := max(size, 128)
		img, err := images.Load(c.Path, display)
		if err != nil {
			return nil, err
		}
		t := plots.Tile{Image: cam.Overlay(Image(img), c.Map, c.H, c.W, size, CAMOpacity), Mark: plots.Correct,
			Caption: fmt.Sprintf("%s %.0f%%", classes[c.Predicted], 100*c.Probability)}
		if c.True >= 0 {
			t.Caption = fmt.Sprintf("true %s\npred %s %.0f%%", classes[c.True], classes[c.Predicted], 100*c.Probability)
		}
		if c.Wrong() {
			t.Mark = plots.Mistake
			mistakes++
		}
		tiles = append(tiles, t)
		method = c.Method
	}
	if len(tiles) == 0 {
		return nil, errors.New("charts.CAMGallery: no photo could be explained")
	}
	title := fmt.Sprintf("%s of the predicted class: %d photos, %d mistakes first (red)", method, len(tiles), mistakes)
	grid, err := plots.ImageGrid(tiles, plots.GridOptions{Title: title, Columns: 6, Thumb: 128, JPEG: true})
	if err != nil {
		return nil, err
	}
	bar, err := plots.ColorBar(max(grid.Width, 560), CAMScale(method, min(240, grid.Width-24)))
	if err != nil {
		return nil, err
	}
	return plots.VStack("flowers-cam-gallery", 0, grid, bar), nil
}

// CAMScale is the colour bar of maps drawn by cam.Overlay (width pixels wide): each map
// is divided by its own largest absolute value, so the scale runs from −1 (blue: the region
// speaks against the class) through 0 (the photo as it is) to 1 (red: for it) for CAM,
// which is signed, and from 0 to 1 for Grad-CAM (cut at 0). The ramp is drawn by
// cam.Overlay itself over white, so it cannot differ from the maps.
func CAMScale(method string, width int) plots.ColorScale {
	s := plots.ColorScale{Min: -1, Max: 1, Ticks: []float64{-1, -0.5, 0, 0.5, 1}, Labels: []string{"-1", "-0.5", "0", "0.5", "1"},
		Left: "against the class", Right: "for the class",
		Title: method + " colour scale: each map divided by its largest |value|"}
	if method == learner.MethodGradCAM {
		s.Min, s.Ticks, s.Labels = 0, []float64{0, 0.25, 0.5, 0.75, 1}, []string{"0", "0.25", "0.5", "0.75", "1"}
		s.Left, s.Title = "", method+" colour scale: each map divided by its largest value (negative parts cut)"
	}
	// A map of one row, s.Min → s.Max, over a white photo as wide as the bar: with an input
	// of width·Stride pixels each map cell covers one photo pixel (clamped at the ends).
	const height = 14
	white := image.NewRGBA(image.Rect(0, 0, width, height))
	for i := range white.Pix {
		white.Pix[i] = 255
	}
	m := make([]float32, width)
	for j := range m {
		m[j] = float32(s.Min + (s.Max-s.Min)*float64(j)/float64(width-1))
	}
	s.Ramp = cam.Overlay(white, m, 1, width, width*cam.Stride, CAMOpacity)
	return s
}

// TopLossesGallery shows the n validation photos with the largest loss, largest first, as
// fastai's plot_top_losses: each captioned prediction / actual, then the loss and the
// probability given to the true class; mistakes framed red.
func TopLossesGallery(in *learner.Interpretation, n, size int) (*plots.Figure, error) {
	top := in.TopLosses(n)
	if len(top) == 0 {
		return nil, errors.New("charts.TopLossesGallery: no predictions")
	}
	var tiles []plots.Tile
	for _, l := range top {
		img, err := images.Load(l.Path, size)
		if err != nil {
			return nil, err
		}
		t := plots.Tile{Image: Image(img), Mark: plots.Correct,
			Caption: fmt.Sprintf("%s / %s\nloss %.2f · p(true) %.2f", l.Predicted, l.True, l.Loss, l.ProbabilityTrue)}
		if l.Predicted != l.True {
			t.Mark = plots.Mistake
		}
		tiles = append(tiles, t)
	}
	return plots.ImageGrid(tiles, plots.GridOptions{Title: fmt.Sprintf("top %d losses: prediction / actual, loss, probability of the actual class", len(tiles)),
		Columns: 6, Thumb: 128, JPEG: true})
}
