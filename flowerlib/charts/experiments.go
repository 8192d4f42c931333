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

// LRFinder draws a learning-rate range test as fastai's lr_find plot: the loss of each step
// (grey) and its smoothed curve against the rate on a log axis. The suggested rate (steepest
// descent of the smoothed loss) and the rate at its minimum are vertical lines; a dot on each
// marks the loss of the step at that rate. The smoothed curve is a moving average, so it lags
// the steps' loss: the dots show where the raw loss is at the rates it suggests.
func LRFinder(r *trainer.LRFindResult) *plots.Figure {
	sm := r.Smoothed
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range sm {
		hi = math.Max(hi, v)
	}
	for _, v := range append(append([]float64{}, r.Losses[:len(sm)]...), sm...) {
		lo = math.Min(lo, v)
	}
	const raw = "loss of each step"
	ax := plots.Axes{LogX: true, Markers: []plots.Marker{
		{X: r.Steep, Label: fmt.Sprintf("suggested (steepest): %.1e", r.Steep), Color: plots.MistakeColor, On: raw},
		{X: r.Minimum, Label: fmt.Sprintf("minimum: %.1e", r.Minimum), On: raw},
	}, LegendNote: "Lines: the rates, found on the smoothed curve. Dots: the loss of the step at that rate."}
	if len(sm) > 0 {
		// From the lowest loss to the smoothed curve's top, cut where it runs away (the sweep
		// stops at 4× its minimum), and high enough for the loss at the marked rates.
		hi = math.Min(hi, sm[0]+2*(sm[0]-slices.Min(sm))+0.05)
		for _, m := range ax.Markers {
			hi = math.Max(hi, lossNear(r, m.X))
		}
		ax.YMin, ax.YMax = math.Max(0, lo-0.05*(hi-lo)), hi // a loss is never negative
	}
	return plots.XYChart(plots.Chart{Title: fmt.Sprintf("learning-rate finder (%d steps)", len(r.LRs)),
		XLabel: "learning rate (log scale)", YLabel: "loss", Width: 812, Height: 340}, ax, []plots.Series{
		{Name: raw, X: r.LRs, Y: r.Losses, Color: "#bbbbbb"},
		{Name: "smoothed (lags behind)", X: r.LRs[:len(sm)], Y: sm, Color: plots.Palette[0]},
	})
}

// lossNear is the larger loss of the two steps around rate lr (the dot's height lies between
// them), or NaN outside the sweep.
func lossNear(r *trainer.LRFindResult, lr float64) float64 {
	for i := 1; i < len(r.LRs); i++ {
		if r.LRs[i-1] <= lr && lr <= r.LRs[i] {
			return math.Max(r.Losses[i-1], r.Losses[i])
		}
	}
	return math.NaN()
}

// Embedding draws an embedding map: one point per photo coloured by class, validation
// photos as rings (the legend under the map says so), the file name as each point's tooltip.
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
	return plots.Scatter(plots.Chart{Title: title, XLabel: xl, YLabel: yl, Width: 400, Height: 340}, groups, "validation photo")
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

// compareWidths are the line widths of the ways in Compare: nested, so that where curves
// coincide each stays visible around the thinner ones on it.
var compareWidths = map[string]float64{learner.WayFrozen: 7, learner.WayScratch: 4, learner.WayFineTuned: 1.5}

// Compare draws the three ways' validation accuracy and loss (log scale) per epoch side by
// side, with the epoch after which the fine-tuned way unfroze the base marked. Until then the
// fine-tuned way is the frozen one (same head, same data, same seed), so their curves
// coincide, and with random weights all three may sit at the same accuracy: the lines are
// nested (frozen features widest, fine-tuned thinnest, drawn over each other), so that each
// stays visible.
func Compare(c *learner.Comparison) *plots.Figure {
	var acc, loss []plots.Series
	var markers []plots.Marker
	for i, w := range c.Ways {
		width := compareWidths[w.Name]
		acc = append(acc, plots.Series{Name: w.Name, Y: w.History.Metric("val_accuracy"), Color: plots.Palette[i], Width: width})
		loss = append(loss, plots.Series{Name: w.Name, Y: w.History.Metric("val_loss"), Color: plots.Palette[i], Width: width})
		if w.FineTuneAfter > 0 {
			// Between the last epoch of the head alone and the first with the base unfrozen.
			markers = append(markers, plots.Marker{X: float64(w.FineTuneAfter) + 0.5, Label: "start fine-tuning", Color: plots.Palette[i]})
		}
	}
	chart := func(title, ylabel string, logY bool) plots.Chart {
		return plots.Chart{Title: title, XLabel: "epoch", YLabel: ylabel, Width: 400, Height: 300, LogY: logY}
	}
	return plots.HStack("flowers-compare", 12,
		plots.XYChart(chart("validation accuracy", "", false), plots.Axes{YMin: 0, YMax: 1, Markers: markers}, acc),
		plots.XYChart(chart("validation loss", LogLossLabel, true), plots.Axes{Markers: markers}, loss))
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
