package charts

import (
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// Curves returns the loss and accuracy charts of h side by side, as one figure (812 pixels
// wide: it fits JupyterLab's output area beside its side bar): training solid, validation
// dashed, one point per epoch. The loss axis is logarithmic: early in a run val_loss can be a
// hundred times the training loss (BatchNorm's moving statistics still near their start), and
// a linear axis would flatten the training loss to a line at 0.
func Curves(h trainer.History) *plots.Figure {
	loss := plots.LineChart(plots.Chart{Title: "loss", XLabel: "epoch", YLabel: LogLossLabel, Width: 400, Height: 280, LogY: true}, []plots.Series{
		{Name: "loss", Y: h.Metric("loss"), Color: plots.Palette[0]},
		{Name: "val_loss", Y: h.Metric("val_loss"), Color: plots.Palette[1], Dashed: true},
	})
	acc := plots.LineChart(plots.Chart{Title: "accuracy", XLabel: "epoch", Width: 400, Height: 280}, []plots.Series{
		{Name: "accuracy", Y: h.Metric("accuracy"), Color: plots.Palette[0]},
		{Name: "val_accuracy", Y: h.Metric("val_accuracy"), Color: plots.Palette[1], Dashed: true},
	})
	return plots.HStack("flowers-curves", 12, loss, acc)
}

// LogLossLabel is the y label of a loss axis drawn on a log scale.
const LogLossLabel = "loss (log scale)"
