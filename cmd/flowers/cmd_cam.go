package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
)

func init() {
	register("cam", "where a trained run looks: class activation maps over photos (CAM, Grad-CAM)", runCAM)
}

func runCAM(args []string) error {
	fs := newFlags("cam", "-run DIR -out FILE.png|.svg [-force] [-n N] [IMAGE…]", "IMAGE…")
	runDir := fs.String("run", "", "run folder written by flowers train (required)")
	out := fs.String("out", "", "write the gallery of maps over the photos to this .png or .svg file (required)")
	n := fs.intFlag("n", 12, 1, 1000, "without IMAGE arguments: the first N validation photos of the run (mistakes shown first)")
	backendName := fs.String("backend", "", "GoMLX backend (default: $GOMLX_BACKEND or the best installed)")
	jsonOut := fs.Bool("json", false, "print the maps as one JSON array on stdout")
	force := fs.forceFlag()
	fs.require("run", "out")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkFigureOutput("out", *out, *force); err != nil {
		return err
	}
	m, err := learner.Open(*runDir, learner.OpenOptions{Backend: *backendName, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer m.Close()
	var cams []learner.CAMResult
	if fs.NArg() > 0 {
		cams, err = m.CAM(fs.Args())
	} else {
		cams, err = m.ValidationCAM(*n)
	}
	if err != nil {
		return err
	}
	classes := m.Classes()
	explained := 0
	for _, c := range cams {
		if c.Err != "" {
			fmt.Fprintf(os.Stderr, "%s: skipped: %s\n", c.Path, c.Err)
			continue
		}
		explained++
		if *jsonOut {
			continue
		}
		peak := 0
		for k, v := range c.Map {
			if v > c.Map[peak] {
				peak = k
			}
		}
		truth := ""
		if c.True >= 0 {
			truth = fmt.Sprintf("true %s, ", classes[c.True])
			if c.Wrong() {
				truth = "MISTAKE: " + truth
			}
		}
		fmt.Printf("%s: %spredicted %s %.0f%% (%s: strongest at row %d, column %d of %d×%d)\n", c.Path, truth,
			classes[c.Predicted], 100*c.Probability, c.Method, peak/c.W+1, peak%c.W+1, c.H, c.W)
	}
	if explained == 0 {
		return fmt.Errorf("none of the %d photos could be decoded (listed above)", len(cams))
	}
	fig, err := charts.CAMGallery(cams, classes, len(cams), m.Info.ImageSize)
	if err != nil {
		return err
	}
	if err := writeFigure(*out, fig); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d maps\n", *out, explained)
	if *jsonOut {
		if err := json.NewEncoder(os.Stdout).Encode(cams); err != nil {
			return err
		}
	}
	// Photos named on the command line each had their answer; any that could not be used
	// makes the command fail (the validation photos of -n are the run's, reported only).
	if fs.NArg() > 0 && explained < len(cams) {
		return fmt.Errorf("%d of the %d photos could not be explained (listed above); the others are in %s", len(cams)-explained, len(cams), *out)
	}
	return nil
}

// writeFigure writes fig as SVG or PNG by the file's extension, marked as flowers' (see
// markFigure), through a temporary file renamed into place (a reader never sees half a
// picture).
func writeFigure(path string, fig *plots.Figure) error {
	var data []byte
	svg := strings.EqualFold(filepath.Ext(path), ".svg")
	if svg {
		data = []byte(fig.SVG())
	} else {
		png, err := fig.PNG()
		if err != nil {
			return err
		}
		data = png
	}
	return writeFileAtomic(path, markFigure(data, svg))
}
