package nb

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/pkg/errors"
)

// Experiments are the settings of transfer_experiments.ipynb that a run does not have; the
// data, weights, head and training come from its config.Run. Declared in the settings cell:
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

// Dir is the folder of the experiments of the settings: <Work>/experiments/<the settings'
// run name>, so other data, weights, head or training settings get other folders. The name
// carries the built-in head's fingerprint (its dropout, the classes), as learner.New's run
// folders do: the experiments' run folders are named ones, which refuse another head.
func (e Experiments) Dir(s config.Run) (string, error) {
	info, err := learner.DescribeHead(learner.Config{Run: s, Progress: os.Stderr}) // a first download shows its bar
	if err != nil {
		return "", err
	}
	work, err := s.WorkDir()
	return filepath.Join(work, "experiments", s.Name(info.Name+"-"+info.Fingerprint[:6])), err
}

// Config is the learner configuration of the settings (the built-in head) for the experiment
// name, in its own run folder Dir(s)/name, with the progress bars shown in place in a notebook
// and the lines of the log on stdout.
func (e Experiments) Config(s config.Run, name string) (learner.Config, error) {
	dir, err := e.Dir(s)
	s.RunDir = filepath.Join(dir, name)
	cfg := learner.Config{Run: s, Log: Out, Progress: os.Stderr}
	if IsNotebook() {
		cfg.Progress = NewProgress("")
	}
	return cfg, err
}

// CompareConfig is the configuration and budget of learner.Compare: the settings at
// CompareSize, CompareEpochs with FreezeEpochs frozen, in Dir(s)/compare-….
func (e Experiments) CompareConfig(s config.Run) (learner.Config, learner.CompareOptions, error) {
	e = e.Defaults()
	cfg, err := e.Config(s, fmt.Sprintf("compare-s%d-e%d-f%d", e.CompareSize, e.CompareEpochs, e.FreezeEpochs))
	cfg.ImageSize = e.CompareSize
	return cfg, learner.CompareOptions{Epochs: e.CompareEpochs, FreezeEpochs: e.FreezeEpochs}, err
}

// EmbeddingMaps draws the embedding maps (method learner.EmbedPCA or EmbedTSNE) of the
// settings' photos side by side: with random weights, and with the settings' pre-trained
// weights. Where those are random too (offline: no ImageNet weights), the second panel says
// what it needs. It prints each map's nearest-neighbour accuracy.
func (e Experiments) EmbeddingMaps(s config.Run, method string) (*plots.Figure, error) {
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
			panels = append(panels, plots.Placeholder(plots.Chart{Title: "ImageNet weights", Width: 400, Height: 340}, charts.NeedsImageNet))
			continue
		}
		cfg.Weights = w
		em, err := learner.Embed(cfg, learner.EmbedOptions{Method: method})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(Out, "%s weights, %s of %d photos: nearest-neighbour accuracy %.0f%% in the 2048 features, %.0f%% in the map (chance about %.0f%%), %.1fs\n",
			charts.WeightsLabel(w), method, len(em.Paths), 100*em.NeighbourAccuracy, 100*em.MapNeighbourAccuracy, 100/float64(len(em.Classes)), em.Seconds)
		panels = append(panels, charts.Embedding(em))
	}
	return plots.HStack("flowers-embedding-maps", 12, panels...), nil
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
