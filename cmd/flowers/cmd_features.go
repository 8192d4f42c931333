package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/flowerlib/flowers/flowerlib/defaults"

	"github.com/flowerlib/flowers/flowerlib/npy"

	"github.com/pkg/errors"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

func init() {
	register("features", "ResNet50 features of photos (a folder of class folders, or files) to a float32 .npy", runFeatures)
}

func runFeatures(args []string) error {
	fs := newFlags("features", "-weights imagenet|FILE.h5|random[:SEED] [-pooling avg|max|none] [-top] [-batch 32] [-size 224] -out F.npy [-force] (-data DIR | IMAGE…)", "IMAGE…")
	weightsFlag := fs.String("weights", "imagenet", "imagenet (download the Keras file, cached), a Keras .h5 weights file, or random[:SEED] (offline demo, NOT ImageNet)")
	pooling := fs.choiceFlag("pooling", "avg", []string{"none", "avg", "max"}, "none ([n,7,7,2048]), avg or max ([n,2048])")
	top := fs.Bool("top", false, "run the 1000-class ImageNet top instead: rows are class probabilities [n,1000] (needs with-top weights)")
	batch := fs.intFlag("batch", defaults.BatchSize.Default, defaults.BatchSize.Min, defaults.BatchSize.Max, "images per forward pass")
	size := fs.intFlag("size", defaults.ImageSize.Default, defaults.ImageSize.Min, defaults.ImageSize.Max, "images are resized to size×size")
	out := fs.String("out", "", "output .npy file (float32); a .csv next to it lists the image of each row: columns row,images (,labels with -data) (required)")
	data := fs.String("data", "", "dataset folder with one sub-folder per class: rows follow its labels table (seed 42)")
	cacheDir := fs.String("cache", defaultCacheDir(), "where downloaded weights are kept")
	backendName := fs.String("backend", "", "GoMLX backend (default: $GOMLX_BACKEND, else XLA when installed, else go)")
	force := fs.forceFlag()
	fs.require("out")
	fs.checkBatch(batch, size)
	if err := fs.parse(args); err != nil {
		return err
	}
	if (*data == "") == (fs.NArg() == 0) {
		return usagef("give either -data DIR or a list of image files (not both)")
	}
	csvPath := rowListOf(*out)
	// Outputs never replace inputs, and a folder that cannot be written fails now, not after
	// the long work.
	inputs := fs.Args()
	if *weightsFlag != "imagenet" {
		inputs = append(inputs, *weightsFlag)
	}
	if err := checkNotInside("out", *out, *data); err != nil {
		return err
	}
	if err := checkOutput("out", *out, featuresNPY, *force, inputs); err != nil {
		return err
	}
	if err := checkOutput("out", csvPath, rowsCSV, *force, inputs); err != nil {
		return usagef("-out %q: its row list: %v", *out, err)
	}
	debug.SetMemoryLimit(featuresMemoryLimit)
	p, err := resnet50.ParsePooling(*pooling)
	if err != nil {
		return errors.WithMessage(err, "-pooling")
	}
	opts := resnet50.Options{IncludeTop: *top, Pooling: p, Height: *size, Width: *size}

	// Rows: the labels table of -data, or the files as listed.
	var paths, rowLabels []string
	if *data != "" {
		table, report, err := labels.Scan(*data, labels.Options{})
		if err != nil {
			return err
		}
		if len(report.Skipped) > 0 {
			fmt.Fprintln(os.Stderr, report.Summary())
		}
		for _, r := range table.Rows {
			paths = append(paths, r.Path)
			rowLabels = append(rowLabels, r.Label)
		}
	} else {
		paths = fs.Args()
	}

	w, err := resnet50.LoadWeights(*weightsFlag, *cacheDir, *top, os.Stderr)
	if err != nil {
		if *weightsFlag == "imagenet" {
			err = errors.WithMessage(err, "-weights imagenet: cannot get the Keras ImageNet weights (pass a local .h5 with -weights FILE, or -weights random for an offline demo)")
		}
		return err
	}
	be, err := backend.New(*backendName, os.Stderr)
	if err != nil {
		return err
	}
	ex, err := resnet50.NewBase(be, w, opts)
	if err != nil {
		return errors.WithMessagef(err, "weights %q", *weightsFlag)
	}
	defer ex.Finalize()

	return extractToFiles(ex, paths, rowLabels, *size, *batch, *out, weightsLabel(*weightsFlag), *data == "")
}

// extractToFiles runs ex over the photos and writes the rows of those that could be used to
// out (.npy) and its row list. Every photo gets its answer: a bad one is named with its
// reason, and when the photos were listed by the user (listed), any bad one makes the command
// fail once the others are written.
func extractToFiles(ex *resnet50.Base, paths, rowLabels []string, size, batch int, out, what string, listed bool) error {
	start := time.Now()
	rowShape := ex.OutputShape(1, size, size)[1:]
	var feats []float32
	var rows []int
	failures, err := features.Extract(ex, paths, features.Options{Size: size, BatchSize: batch, Progress: os.Stderr},
		func(indices []int, f []float32) error {
			feats = append(feats, f...)
			rows = append(rows, indices...)
			return nil
		})
	if err != nil {
		return err
	}
	for _, f := range failures {
		fmt.Fprintf(os.Stderr, "skipped %s: %s\n", f.Path, f.Reason)
	}
	if len(rows) == 0 {
		return errors.Errorf("no image could be used (%d skipped, listed above): nothing written", len(failures))
	}
	secs := time.Since(start).Seconds()
	shape := append([]int{len(rows)}, rowShape...)
	if err := npy.WriteFloat32(out, shape, feats); err != nil {
		return err
	}
	csvPath := rowListOf(out)
	if err := writeRowsCSV(csvPath, paths, rowLabels, rows); err != nil {
		return err
	}
	fmt.Printf("features: wrote %s float32 %v to %s (rows listed in %s; %d skipped) in %.1fs, %.1f images/s\n",
		what, shape, out, csvPath, len(failures), secs, float64(len(rows))/secs)
	if listed && len(failures) > 0 {
		return errors.Errorf("%d of the %d images could not be used (listed above); the others were written", len(failures), len(paths))
	}
	return nil
}

func defaultCacheDir() string { return defaults.CacheDir() }

// featuresMemoryLimit is the Go soft memory limit of a features run: the go backend allocates
// a fresh buffer per op, and without a limit the heap grows to twice the live set before
// collecting (flowers bench measured 1792 MiB to keep a batch-32 forward under 2 GiB).
const featuresMemoryLimit = 1792 << 20

func weightsLabel(spec string) string {
	if strings.HasPrefix(spec, "random") {
		return "RANDOM-weight (not ImageNet)"
	}
	return "ResNet50"
}

// writeRowsCSV lists the row number, image (and label, with -data) of each feature row; the
// "row" column also tells it from a labels table (see rowListRows).
func writeRowsCSV(path string, paths, rowLabels []string, rows []int) error {
	var sb strings.Builder
	cw := csv.NewWriter(&sb)
	cw.Write(rowListHeader[min(len(rowLabels), 1)])
	for r, i := range rows {
		rec := []string{strconv.Itoa(r), paths[i]}
		if rowLabels != nil {
			rec = append(rec, rowLabels[i])
		}
		cw.Write(rec)
	}
	cw.Flush()
	return writeFileAtomic(path, []byte(sb.String()))
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}
