package charts

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// LRFinder draws a learning-rate range test: the loss of each step (grey) and its
// smoothed curve against the rate on a log axis, with the suggested rate (steepest descent)
// and the minimum marked, as fastai's lr_find plot.
func LRFinder(r *trainer.LRFindResult) *plots.Figure {
	sm := r.Smoothed
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range sm {
		hi = math.Max(hi, v)
	}
	for _, v := range append(append([]float64{}, r.Losses[:len(sm)]...), sm...) {
		lo = math.Min(lo, v)
	}
	ax := plots.Axes{LogX: true, Markers: []plots.Marker{
		{X: r.Steep, Label: fmt.Sprintf("suggested (steepest): %.1e", r.Steep), Color: plots.MistakeColor},
		{X: r.Minimum, Label: fmt.Sprintf("minimum: %.1e", r.Minimum)},
	}}
	if len(sm) > 0 {
		// From the lowest loss to the smoothed curve's top, cut where it runs away (the sweep
		// stops at 4× its minimum).
		hi = math.Min(hi, sm[0]+2*(sm[0]-slices.Min(sm))+0.05)
		ax.YMin, ax.YMax = math.Max(0, lo-0.05*(hi-lo)), hi // a loss is never negative
	}
	return plots.XYChart(plots.Chart{Title: fmt.Sprintf("learning-rate finder (%d steps)", len(r.LRs)),
		XLabel: "learning rate (log scale)", YLabel: "loss", Width: 812, Height: 340}, ax, []plots.Series{
		{Name: "loss", X: r.LRs, Y: r.Losses, Color: "#bbbbbb"},
		{Name: "smoothed", X: r.LRs[:len(sm)], Y: sm, Color: plots.Palette[0]},
	})
}

// Embedding draws an embedding map: one point per photo coloured by class, validation
// photos as rings, the file name as each point's tooltip.
func Embedding(e *learner.Embedding) *plots.Figure {
	groups := make([]plots.PointGroup, len(e.Classes))
	for c, name := range e.Classes {
		groups[c].Name = name
	}
	for i, c := range e.Labels {
		g := &groups[c]
		g.X, g.Y = append(g.X, e.Points[2*i]), append(g.Y, e.Points[2*i+1])
		g.Tips, g.Hollow = append(g.Tips, filepath.Base(e.Paths[i])), append(g.Hollow, e.Valid[i])
	}
	xl, yl := "t-SNE 1", "t-SNE 2"
	if e.Method == learner.EmbedPCA {
		xl = fmt.Sprintf("PC1 (%.0f%% of the variance)", 100*e.Explained[0])
		yl = fmt.Sprintf("PC2 (%.0f%%)", 100*e.Explained[1])
	}
	title := fmt.Sprintf("%s weights: nearest neighbour %.0f%%", WeightsLabel(e.Weights), 100*e.NeighbourAccuracy)
	return plots.Scatter(plots.Chart{Title: title, XLabel: xl, YLabel: yl, Width: 400, Height: 340}, groups)
}

// NeedsImageNet is what a panel that needs the ImageNet weights says where they cannot be had.
const NeedsImageNet = "This panel needs Keras' ImageNet ResNet50 weights (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, 94 MB), " +
	"which this machine cannot download. Set Weights to \"imagenet\" in the settings cell (downloaded once into the cache), " +
	"or point $FLOWERS_WEIGHTS at a copy of the file, and run this cell again."

// Transfer draws the validation accuracy of each stage's linear probe, early stages
// (general features) on the left, with the accuracy of always answering the most frequent
// class.
func Transfer(t *learner.Transfer) *plots.Figure {
	var bars []plots.Bar
	for _, s := range t.Stages {
		stage, _, _ := strings.Cut(s.Layer, "_")
		bars = append(bars, plots.Bar{Label: fmt.Sprintf("%s\n%d ch · %d×%d", stage, s.Channels, s.Grid, s.Grid), Value: 100 * s.ValAccuracy})
	}
	return plots.LevelBarChart(plots.Chart{Title: "a linear probe on each stage (general → specific)", YLabel: "validation accuracy (%)",
		Width: 812, Height: 340, YMax: 100}, bars, []plots.Level{{Y: 100 * t.Chance, Label: fmt.Sprintf("most frequent class %.0f%%", 100*t.Chance)}})
}

// Compare draws the three ways' validation accuracy and loss per epoch side by side,
// with the epoch after which the fine-tuned way unfroze the base marked.
func Compare(c *learner.Comparison) *plots.Figure {
	var acc, loss []plots.Series
	var markers []plots.Marker
	for i, w := range c.Ways {
		acc = append(acc, plots.Series{Name: w.Name, Y: w.History.Metric("val_accuracy"), Color: plots.Palette[i]})
		loss = append(loss, plots.Series{Name: w.Name, Y: w.History.Metric("val_loss"), Color: plots.Palette[i]})
		if w.FineTuneAfter > 0 {
			// Between the last epoch of the head alone and the first with the base unfrozen.
			markers = append(markers, plots.Marker{X: float64(w.FineTuneAfter) + 0.5, Label: "start fine-tuning", Color: plots.Palette[i]})
		}
	}
	chart := func(title string) plots.Chart {
		return plots.Chart{Title: title, XLabel: "epoch", Width: 400, Height: 300}
	}
	return plots.HStack("flowers-compare", 12,
		plots.XYChart(chart("validation accuracy"), plots.Axes{YMin: 0, YMax: 1, Markers: markers}, acc),
		plots.XYChart(chart("validation loss"), plots.Axes{Markers: markers}, loss))
}

// WeightsLabel names a weights spec in a picture: "ImageNet", "random", or the file's name.
func WeightsLabel(spec string) string {
	switch {
	case spec == "imagenet":
		return "ImageNet"
	case spec == "random" || strings.HasPrefix(spec, "random:"):
		return "random"
	}
	return filepath.Base(spec)
}
