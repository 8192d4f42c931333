package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

func init() {
	register("weights", "ResNet50 weights files: -download the Keras ImageNet file, write -random ones, -inspect one", runWeights)
}

func runWeights(args []string) error {
	fs := newFlags("weights", "(-download | -random [-seed 1] -out F.h5 [-force] | -inspect F.h5) [-top] [-cache DIR]", "")
	download := fs.Bool("download", false, "download the official Keras ResNet50 ImageNet weights into -cache (md5-checked; no-op when present)")
	random := fs.Bool("random", false, "write seeded RANDOM weights in the exact Keras layout (NOT ImageNet: for offline demos and tests)")
	seed := fs.Int64("seed", 1, "seed for -random")
	out := fs.String("out", "", "output for -random: F.h5 (Keras 2 layout, tf-keras load_weights) or F.weights.h5 (Keras 3 layout)")
	inspect := fs.String("inspect", "", "list the layers, weight shapes and totals of a Keras weights .h5")
	top := fs.Bool("top", false, "the with-top variant (1000-class predictions layer)")
	cacheDir := fs.String("cache", defaultCacheDir(), "where downloaded weights and their converted cache are kept")
	force := fs.forceFlag()
	if err := fs.parse(args); err != nil {
		return err
	}
	modes := 0
	for _, b := range []bool{*download, *random, *inspect != ""} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return usagef("give exactly one of -download, -random, -inspect F.h5")
	}
	switch {
	case *download:
		start := time.Now()
		url, name, sum := weights.URL(*top)
		fmt.Fprintf(os.Stderr, "weights: %s (md5 %s)\n", url, sum)
		path, err := weights.Download(*cacheDir, *top, os.Stderr)
		if err != nil {
			return err
		}
		w, err := weights.Load(path, *cacheDir) // also builds the fast-loading cache
		if err != nil {
			return err
		}
		if err := resnet50.CheckWeights(w, *top); err != nil {
			return errors.WithMessagef(err, "%s", path)
		}
		fmt.Printf("%s ready at %s (%d tensors, md5 verified) in %.1fs\n", name, path, countTensors(w), time.Since(start).Seconds())
	case *random:
		if *out == "" {
			return usagef("-random needs -out F.h5 (Keras 2 layout) or -out F.weights.h5 (Keras 3)")
		}
		if !strings.HasSuffix(strings.ToLower(*out), ".h5") {
			return usagef("-out %q: a weights file ends in .h5 (or .weights.h5)", *out)
		}
		if err := checkOutput("out", *out, weightsH5, *force, nil); err != nil {
			return err
		}
		start := time.Now()
		w := resnet50.RandomWeights(*seed, *top)
		note := fmt.Sprintf("RANDOM weights (seed %d) written by 'flowers weights -random': NOT ImageNet weights", *seed)
		fmt.Fprintf(os.Stderr, "WARNING: %s. Predictions and features from them are meaningless; they exist to run the pipeline offline.\n", note)
		write := weights.WriteH5
		if strings.HasSuffix(*out, ".weights.h5") { // Keras 3 saves weights only under this suffix
			k3, err := resnet50.ToKeras3(w, *top)
			if err != nil {
				return err
			}
			w, write = k3, weights.WriteKeras3
		}
		if err := write(*out, w, weights.Attr{Name: weights.NoteAttr, Value: note}); err != nil {
			return err
		}
		st, _ := os.Stat(*out)
		fmt.Printf("wrote %s: %d layers, %d parameters, %.1f MB of RANDOM (not ImageNet) weights in %.1fs\n",
			*out, len(w.Layers), countParams(w), float64(st.Size())/1e6, time.Since(start).Seconds())
	default:
		return inspectWeights(*inspect)
	}
	return nil
}

func inspectWeights(path string) error {
	start := time.Now()
	w, err := weights.ReadH5(path)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	attrs, err := weights.RootAttrs(path)
	if err != nil {
		return err
	}
	fmt.Print(weights.Describe(w))
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		if k != "layer_names" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("attribute %s = %q\n", k, attrs[k])
	}
	if note, ok := attrs[weights.NoteAttr]; ok && strings.Contains(note, "RANDOM") {
		fmt.Fprintf(os.Stderr, "WARNING: %s\n", note)
	}
	// With the top if it loads with the top (whatever the top layer's name), else without.
	verdict := "matches Keras ResNet50 (with top)"
	var mismatch error
	mapped, rep, err := resnet50.MapWeights(w, true)
	if err != nil {
		verdict = "matches Keras ResNet50 (no top)"
		if mapped, rep, mismatch = resnet50.MapWeights(w, false); mismatch != nil {
			verdict = "does NOT match Keras ResNet50: " + mismatch.Error()
		}
	}
	fmt.Printf("%s (%s): %d layers, %d tensors, %d parameters, read in %.2fs; %s\n",
		path, w.Format, len(w.Layers), countTensors(w), countParams(w), elapsed.Seconds(), verdict)
	if rep != nil {
		for _, n := range rep.Notes() {
			fmt.Printf("note: %s\n", n)
		}
	}
	if mismatch != nil {
		return fmt.Errorf("%s cannot be used as ResNet50 weights (see above)", path)
	}
	if w.Integrity.Verified {
		fmt.Printf("verified: %s\n", w.Integrity.How)
		return nil
	}
	if err := resnet50.CheckStatistics(mapped); err != nil {
		return fmt.Errorf("%s cannot be used as ResNet50 weights: unverified (%s), and %v", path, w.Integrity.How, err)
	}
	fmt.Printf("UNVERIFIED: %s; its statistics are sane (finite, BatchNorm variances positive)\n", w.Integrity.How)
	return nil
}

func countTensors(w *weights.File) int {
	n := 0
	for _, l := range w.Layers {
		n += len(l.Weights)
	}
	return n
}

func countParams(w *weights.File) int {
	n := 0
	for _, l := range w.Layers {
		for _, t := range l.Weights {
			n += len(t.Data)
		}
	}
	return n
}
