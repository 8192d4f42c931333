package main

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

func init() {
	register("summary", "Keras-style summary table of ResNet50 (layers, output shapes, parameters)", runSummary)
}

func runSummary(args []string) error {
	fs := newFlags("summary", "[-top] [-pooling none|avg|max] [-size 224] [-frozen | -trainable-from conv5] [-connected=false]", "")
	top := fs.Bool("top", false, "include the 1000-class top (avg_pool, predictions)")
	pooling := fs.String("pooling", "none", "pooling after the last block without the top: none, avg or max")
	size := fs.Int("size", resnet50.DefaultSize, "input height and width")
	frozen := fs.Bool("frozen", false, "count every weight as non-trainable (base_model.trainable = False)")
	from := fs.String("trainable-from", "", "only layers from the first one with this name prefix are trainable (e.g. conv5)")
	connected := fs.Bool("connected", true, "show the 'Connected to' column")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.Errorf("unexpected arguments %q", fs.Args())
	}
	p, err := resnet50.ParsePooling(*pooling)
	if err != nil {
		return errors.WithMessage(err, "-pooling")
	}
	opts := resnet50.Options{IncludeTop: *top, Pooling: p, Height: *size, Width: *size, Frozen: *frozen, TrainableFrom: *from}
	s, err := resnet50.Summary(opts, *connected)
	if err != nil {
		return err
	}
	fmt.Print(s)
	layers, _ := resnet50.Layers(opts)
	total, trainable, _ := resnet50.ParamCounts(opts)
	fmt.Printf("summary: ResNet50 %d layers, %s params (%s trainable)\n", len(layers), commaInt(total), commaInt(trainable))
	return nil
}

// commaInt formats n with thousands separators.
func commaInt(n int) string {
	s := fmt.Sprint(n)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
