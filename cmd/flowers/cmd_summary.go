package main

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/defaults"
	"github.com/flowerlib/flowers/flowerlib/head"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

func init() {
	register("summary", "Keras-style summary table of ResNet50 (layers, output shapes, parameters)", runSummary)
}

func runSummary(args []string) error {
	fs := newFlags("summary", "[-top] [-pooling none|avg|max] [-head flatten|avg|max] [-size 224] [-frozen | -trainable-from conv5] [-connected=false]", "")
	top := fs.Bool("top", false, "include the 1000-class top (avg_pool, predictions)")
	pooling := fs.choiceFlag("pooling", "none", []string{"none", "avg", "max"}, "pooling after the last block without the top")
	size := fs.intFlag("size", defaults.ImageSize.Default, defaults.ImageSize.Min, defaults.ImageSize.Max, "input height and width")
	frozen := fs.Bool("frozen", false, "count every weight as non-trainable (base_model.trainable = False)")
	from := fs.String("trainable-from", "", "only layers from the first one with this name prefix are trainable (e.g. conv5)")
	connected := fs.Bool("connected", true, "show the 'Connected to' column")
	headKind := fs.String("head", "", "also the article's head on the frozen base (flatten: the article's; avg, max: on pooled features), as the article's model.summary() lists it")
	if err := fs.parse(args); err != nil {
		return err
	}
	p, err := resnet50.ParsePooling(*pooling)
	if err != nil {
		return errors.WithMessage(err, "-pooling")
	}
	if *headKind != "" {
		// The article's model: the base frozen (unless -trainable-from), pooled as the head needs.
		pool := config.PoolingOf(*headKind)
		if defaults.Pooling.Check(pool) != nil || *headKind == "none" {
			return usagef("-head %q: must be one of flatten, avg, max", *headKind)
		}
		if *top {
			return usagef("-head replaces the top: give one of -head and -top")
		}
		if p, err = resnet50.ParsePooling(pool); err != nil {
			return err
		}
		*frozen = *from == ""
	}
	opts := resnet50.Options{IncludeTop: *top, Pooling: p, Height: *size, Width: *size, Frozen: *frozen, TrainableFrom: *from}
	s, err := resnet50.Summary(opts, *connected)
	if err != nil {
		return err
	}
	fmt.Print(s)
	layers, _ := resnet50.Layers(opts)
	total, trainable, _ := resnet50.ParamCounts(opts)
	if *headKind == "" {
		fmt.Printf("summary: ResNet50 %d layers, %s params (%s trainable)\n", len(layers), commaInt(total), commaInt(trainable))
		return nil
	}
	b, err := backend.New("go", nil) // describing the head runs nothing
	if err != nil {
		return err
	}
	d, err := head.Describe(b, head.Article(defaults.Classes, nil, 0), layers[len(layers)-1].OutputShape)
	if err != nil {
		return err
	}
	fmt.Print(d.Summary())
	headTrainable, headFrozen := d.Params()
	fmt.Printf("summary: ResNet50 + %s head %d layers, %s params (%s trainable, %s non-trainable)\n", *headKind,
		len(layers)+len(d.Layers), commaInt(total+headTrainable+headFrozen), commaInt(trainable+headTrainable),
		commaInt(total-trainable+headFrozen))
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
