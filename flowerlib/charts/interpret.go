package charts

import (
	"errors"
	"fmt"
	"sort"

	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/interpret"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
)

// CAMOpacity is how strongly the maps cover the photos at their peaks.
const CAMOpacity = 0.55

// CAMGallery shows up to n class activation maps over their photos (as the model sees them,
// size×size, shown at least 128 pixels wide), mistakes first (red frame), captioned with the true and predicted class and
// the method (CAM or Grad-CAM). classes names the class indices.
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
		t := plots.Tile{Image: interpret.Overlay(Image(img), c.Map, c.H, c.W, size, CAMOpacity), Mark: plots.Correct,
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
	return plots.ImageGrid(tiles, plots.GridOptions{Title: title, Columns: 6, Thumb: 128, JPEG: true})
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
