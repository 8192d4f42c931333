package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/export/runner"
	"github.com/flowerlib/flowers/flowerlib/learner"
)

func init() {
	register("export", "write a trained run as one executable (-format go), a Keras .h5 or an ONNX model", runExport)
}

// exportFormats: the executable, the Keras full-model file, the ONNX model.
var exportFormats = []string{"go", "keras", "onnx"}

// exportKinds are the outputs of each format: an existing one is replaced only with -force
// (none carries a mark of flowers that the command checks).
var exportKinds = map[string]outputKind{
	"go":    {"an exported executable", nil, func(string) bool { return false }},
	"keras": {"a Keras model", []string{".h5"}, func(string) bool { return false }},
	"onnx":  {"an ONNX model", []string{".onnx"}, func(string) bool { return false }},
}

func runExport(args []string) error {
	fs := newFlags("export", "-run DIR -format go|keras|onnx -out PATH", "")
	runDir := fs.String("run", "", "run folder written by flowers train (required)")
	format := fs.choiceFlag("format", "go", exportFormats,
		"go: one executable that classifies and serves photos; keras: a .h5 model for tf-keras/Keras 3 load_model; onnx: an ONNX model")
	out := fs.String("out", "", "output file (required); an existing file is replaced only with -force")
	force := fs.forceFlag()
	fs.require("run", "out")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := checkOutput("out", *out, exportKinds[*format], *force, nil); err != nil {
		return err
	}
	start := time.Now()
	// The run is opened on the pure-Go backend: exporting runs no graph, and it must not need
	// a plugin.
	m, err := learner.Open(*runDir, learner.OpenOptions{Backend: "go", Log: os.Stderr})
	if err != nil {
		return err
	}
	desc, err := export.FromRun(m, os.Stderr)
	m.Close()
	if err != nil {
		return err
	}
	desc.Source = fmt.Sprintf("flowers run %s, %s", *runDir, desc.Source)
	switch *format {
	case "go":
		// A copy of this binary: runner's init runs the model appended to it instead of flowers.
		err = runner.WriteExecutable(*out, desc)
	case "keras":
		err = export.WriteKeras(*out, desc)
	case "onnx":
		err = export.WriteONNX(*out, desc)
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Fprintf(os.Stderr, "exported %s (%d classes, %d×%d photos, %d head layers) as %s: %s, %.1f MB in %.1fs\n",
		*runDir, len(desc.Classes), desc.ImageSize, desc.ImageSize, len(desc.Head), *format, abs, float64(st.Size())/1e6, time.Since(start).Seconds())
	if *format == "go" {
		fmt.Fprintf(os.Stderr, "run it: %s photo.jpg … | %s -json photo.jpg … | %s serve -addr 127.0.0.1:8080\n", *out, *out, *out)
	}
	return nil
}
