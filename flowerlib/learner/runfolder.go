package learner

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// HeadInput says what the head sees for a pooling: the base's 7×7×2048 map or its pooled values.
func HeadInput(pooling string) string {
	switch pooling {
	case "avg":
		return "average-pooled 2048"
	case "max":
		return "max-pooled 2048"
	}
	return "7×7×2048 feature map"
}

// sayHeadChanged logs, for a run folder named after the settings (config.Run.Name), the runs
// of the same settings with another head: a changed head starts a new run, and says so.
func (l *Learner) sayHeadChanged() {
	const mark = "\x00"
	prefix, suffix, _ := strings.Cut(l.asGiven.Name(mark), mark)
	entries, err := os.ReadDir(filepath.Dir(l.RunDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && name != filepath.Base(l.RunDir) && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) &&
			len(name) > len(prefix)+len(suffix) {
			logf(l.Log, "the head changed (now %s, fingerprint %s): a new run in %s; the run of the previous head stays in %s\n",
				l.HeadName, l.Head.Fingerprint[:6], filepath.Base(l.RunDir), name)
		}
	}
}

// DescribeHead describes cfg's head on the base's output for cfg's image size and pooling,
// before any training: its layers (a Keras-like summary), parameters and fingerprint. The
// built-in head is described for the number of class folders of cfg's data.
func DescribeHead(cfg Config) (HeadInfo, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return HeadInfo{}, err
	}
	layers, err := resnet50.Layers(resnet50.Options{Height: c.ImageSize, Width: c.ImageSize, Pooling: poolingOf(c.Pooling)})
	if err != nil {
		return HeadInfo{}, err
	}
	dims := layers[len(layers)-1].OutputShape
	classes := 0
	if c.Head == nil {
		data, err := c.DataDir(c.Progress)
		if err != nil {
			return HeadInfo{}, err
		}
		split, _, err := prepare.FromFolder(data, prepare.Options{ValidFraction: c.ValidSplit, Seed: c.Seed})
		if err != nil {
			return HeadInfo{}, err
		}
		classes = len(split.Classes)
	}
	b, err := backend.New("go", nil) // describing runs nothing: the pure-Go backend always serves
	if err != nil {
		return HeadInfo{}, err
	}
	d, err := head.Describe(b, c.headFunc(classes), dims)
	if err != nil {
		return HeadInfo{}, err
	}
	return HeadInfo{Name: c.HeadName, BuiltIn: c.Head == nil, Pooling: c.Pooling, Input: d.Input, Fingerprint: d.Fingerprint,
		Layers: d.Layers}, nil
}

// Summary is the head's table as Keras' model.summary() prints it (head.Description.Summary).
func (h HeadInfo) Summary() string {
	return (&head.Description{Input: h.Input, Layers: h.Layers, Fingerprint: h.Fingerprint}).Summary()
}

// Params returns the head's trainable and non-trainable parameter counts.
func (h HeadInfo) Params() (trainable, nonTrainable int) {
	return (&head.Description{Layers: h.Layers}).Params()
}
