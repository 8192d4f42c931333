package nb

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// Experiments are the settings of transfer_experiments.ipynb that the walkthrough does not
// have; the data, weights, head and training come from its Settings. Declared in the
// settings cell:
//
//	var experiments = nb.Experiments{CompareSize: 96, CompareEpochs: 3, FreezeEpochs: 1, Photos: 12}.FromEnv()
type Experiments struct {
	// CompareSize is the image size of the three ways of using the network (Compare trains
	// ResNet50 itself, from scratch and fine-tuned): default 96, which keeps them to minutes on
	// a 2-core CPU; 224 (the weights' size) on a GPU.
	CompareSize int `env:"FLOWERS_COMPARE_SIZE"`
	// CompareEpochs is the budget: the epochs every way trains (default 3).
	CompareEpochs int `env:"FLOWERS_COMPARE_EPOCHS"`
	// FreezeEpochs of the fine-tuned way train the head alone before conv5 is unfrozen
	// (default 1, as fastai's fine_tune).
	FreezeEpochs int `env:"FLOWERS_FREEZE_EPOCHS"`
	// Photos is how many validation photos the CAM and top-losses galleries show (default 12).
	Photos int `env:"FLOWERS_PHOTOS"`
}

// Defaults fills zero fields.
func (e Experiments) Defaults() Experiments {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&e.CompareSize, 96)
	def(&e.CompareEpochs, learner.DefaultCompareEpochs)
	def(&e.FreezeEpochs, learner.DefaultFreezeEpochs)
	def(&e.Photos, 12)
	return e
}

// FromEnv overrides fields with the FLOWERS_* variables of their tags (the tests' small runs)
// and fills the defaults; a malformed value stops the cell naming the variable.
func (e Experiments) FromEnv() Experiments {
	e, err := e.fromEnv(os.LookupEnv)
	Check(err)
	return e.Defaults()
}

func (e Experiments) fromEnv(lookup func(string) (string, bool)) (Experiments, error) {
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Tag.Get("env")
		val, ok := lookup(name)
		if name == "" || !ok || val == "" {
			continue
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return e, errors.Errorf("$%s=%q: want a positive integer", name, val)
		}
		v.Field(i).SetInt(int64(n))
	}
	return e, nil
}

// String lists the settings, one per line.
func (e Experiments) String() string {
	var b strings.Builder
	v := reflect.ValueOf(e)
	for i := range v.NumField() {
		fmt.Fprintf(&b, "%-13s %v\n", v.Type().Field(i).Name, v.Field(i).Interface())
	}
	return b.String()
}

// Dir is the folder of the experiments under the settings: <Work>/experiments/<the run's
// name>, so other data, weights, head or training settings get other folders.
func (e Experiments) Dir(s Settings) string {
	return filepath.Join(s.WorkDir(), "experiments", filepath.Base(s.RunDir()))
}

// Config is the learner configuration of the settings for the experiment name, in its own run
// folder Dir(s)/name, with the progress bars shown in place in a notebook and the lines of
// the log on stdout.
func (e Experiments) Config(s Settings, name string) (learner.Config, error) {
	var progress io.Writer = os.Stderr
	if IsNotebook() {
		progress = NewProgress("")
	}
	cfg, err := s.Config(progress, os.Stdout)
	if err != nil {
		return cfg, err
	}
	cfg.RunDir = filepath.Join(e.Dir(s), name)
	return cfg, nil
}

// CompareConfig is the configuration and budget of learner.Compare: the settings at
// CompareSize, CompareEpochs with FreezeEpochs frozen, in Dir(s)/compare-….
func (e Experiments) CompareConfig(s Settings) (learner.Config, learner.CompareOptions, error) {
	e = e.Defaults()
	cfg, err := e.Config(s, fmt.Sprintf("compare-s%d-e%d-f%d", e.CompareSize, e.CompareEpochs, e.FreezeEpochs))
	cfg.ImageSize = e.CompareSize
	return cfg, learner.CompareOptions{Epochs: e.CompareEpochs, FreezeEpochs: e.FreezeEpochs}, err
}

// Fit trains l's head (learner.Learner.Fit) with the live progress, curves and epoch table of
// a Monitor in a notebook (under banner, when set), and returns the history.
func Fit(l *learner.Learner, title, banner string) (trainer.History, error) {
	previous := l.Trainer.State.History
	m := NewMonitor(title, l.Epochs, previous)
	m.Banner = banner
	l.Trainer.OnStep, l.Trainer.OnEpoch = m.OnStep, m.OnEpoch
	h, err := l.Fit()
	if err != nil {
		return nil, err
	}
	m.Done(h)
	return h, nil
}

// LRFinderChart draws a learning-rate range test: the loss of each step (grey) and its
// smoothed curve against the rate on a log axis, with the suggested rate (steepest descent)
// and the minimum marked, as fastai's lr_find plot.
func LRFinderChart(r *trainer.LRFindResult) *plots.Figure {
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

// weightsLabel names a weights spec in a picture: "ImageNet", "random", or the file's name.
func weightsLabel(spec string) string {
	switch {
	case spec == "imagenet":
		return "ImageNet"
	case spec == "random" || strings.HasPrefix(spec, "random:"):
		return "random"
	}
	return filepath.Base(spec)
}

// EmbeddingChart draws an embedding map: one point per photo coloured by class, validation
// photos as rings, the file name as each point's tooltip.
func EmbeddingChart(e *learner.Embedding) *plots.Figure {
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
	title := fmt.Sprintf("%s weights: nearest neighbour %.0f%%", weightsLabel(e.Weights), 100*e.NeighbourAccuracy)
	return plots.Scatter(plots.Chart{Title: title, XLabel: xl, YLabel: yl, Width: 400, Height: 340}, groups)
}

// NeedsImageNet is what a panel that needs the ImageNet weights says where they cannot be had.
const NeedsImageNet = "This panel needs Keras' ImageNet ResNet50 weights (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, 94 MB), " +
	"which this machine cannot download. Set Weights to \"imagenet\" in the settings cell (downloaded once into the cache), " +
	"or point $FLOWERS_WEIGHTS at a copy of the file, and run this cell again."

// EmbeddingMaps draws the embedding maps (method learner.EmbedPCA or EmbedTSNE) of the
// settings' photos side by side: with random weights, and with the settings' pre-trained
// weights. Where those are random too (offline: no ImageNet weights), the second panel says
// what it needs. It prints each map's nearest-neighbour accuracy.
func (e Experiments) EmbeddingMaps(s Settings, method string) (*plots.Figure, error) {
	s = s.Resolve(nil)
	cfg, err := e.Config(s, "embedding")
	if err != nil {
		return nil, err
	}
	random := fmt.Sprintf("random:%d", s.Seed)
	pretrained := s.WeightsSpec()
	var panels []*plots.Figure
	for _, w := range []string{random, pretrained} {
		if w == random && len(panels) == 1 { // the settings' weights are random too
			panels = append(panels, plots.Placeholder(plots.Chart{Title: "ImageNet weights", Width: 400, Height: 340}, NeedsImageNet))
			continue
		}
		cfg.Weights = w
		em, err := learner.Embed(cfg, learner.EmbedOptions{Method: method})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(Out, "%s weights, %s of %d photos: nearest-neighbour accuracy %.0f%% in the 2048 features, %.0f%% in the map (chance about %.0f%%), %.1fs\n",
			weightsLabel(w), method, len(em.Paths), 100*em.NeighbourAccuracy, 100*em.MapNeighbourAccuracy, 100/float64(len(em.Classes)), em.Seconds)
		panels = append(panels, EmbeddingChart(em))
	}
	return plots.HStack("flowers-embedding-maps", 12, panels...), nil
}

// TransferChart draws the validation accuracy of each stage's linear probe, early stages
// (general features) on the left, with the accuracy of always answering the most frequent
// class.
func TransferChart(t *learner.Transfer) *plots.Figure {
	var bars []plots.Bar
	for _, s := range t.Stages {
		stage, _, _ := strings.Cut(s.Layer, "_")
		bars = append(bars, plots.Bar{Label: fmt.Sprintf("%s\n%d ch · %d×%d", stage, s.Channels, s.Grid, s.Grid), Value: 100 * s.ValAccuracy})
	}
	return plots.LevelBarChart(plots.Chart{Title: "a linear probe on each stage (general → specific)", YLabel: "validation accuracy (%)",
		Width: 812, Height: 340, YMax: 100}, bars, []plots.Level{{Y: 100 * t.Chance, Label: fmt.Sprintf("most frequent class %.0f%%", 100*t.Chance)}})
}

// TransferTable lists the probes: layer, channels, grid, training and validation accuracy.
func TransferTable(t *learner.Transfer) string {
	var rows [][]string
	for _, s := range t.Stages {
		rows = append(rows, []string{s.Layer, fmt.Sprint(s.Channels), fmt.Sprintf("%d×%d", s.Grid, s.Grid),
			pct(s.TrainAccuracy), pct(s.ValAccuracy), fmt.Sprintf("%.3f", s.ValLoss)})
	}
	return Table([]string{"layer", "channels", "grid", "train accuracy", "val accuracy", "val loss"}, rows)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

// CompareChart draws the three ways' validation accuracy and loss per epoch side by side,
// with the epoch after which the fine-tuned way unfroze the base marked.
func CompareChart(c *learner.Comparison) *plots.Figure {
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

// CompareTable lists the three ways: what trains, trainable parameters, validation accuracy
// (last epoch and best) and time.
func CompareTable(c *learner.Comparison) string {
	what := map[string]string{
		learner.WayScratch:   "all of ResNet50 (random initial weights) and the head",
		learner.WayFrozen:    "the head, on the frozen base's cached outputs",
		learner.WayFineTuned: fmt.Sprintf("the head (%d epoch), then %s onwards with it", c.FreezeEpoch, c.Stage),
	}
	var rows [][]string
	for _, w := range c.Ways {
		t := fmt.Sprintf("%.0f s", w.Seconds)
		if w.FeatureSeconds >= 1 {
			t += fmt.Sprintf(" (+ %.0f s features, once)", w.FeatureSeconds)
		}
		rows = append(rows, []string{w.Name, what[w.Name], commas(w.Trainable), pct(w.Final().ValAccuracy), pct(w.Best()), t,
			fmt.Sprintf("%.1f s", w.Seconds/float64(max(1, len(w.History))))})
	}
	return Table([]string{"way", "trains", "trainable params", "val accuracy", "best", "time", "per epoch"}, rows)
}
