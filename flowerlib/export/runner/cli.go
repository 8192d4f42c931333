// Package runner is the program of an exported model (export.WriteExecutable): the flowers
// binary with a model appended runs Main instead of its commands. It classifies photos
// (`NAME photo.jpg…`, `-json`), serves them over HTTP (`NAME serve`), load-tests that server
// (`NAME bench`) and describes itself (`NAME info`), on the pure-Go backend with nothing
// installed, or on XLA when a PJRT plugin is (see flowerlib/backend).
//
// Photos are decoded, oriented (EXIF) and resized by flowerlib/images exactly as in training
// and `flowers predict`; the model (export.Model) runs as one GoMLX graph, ResNet50 built by
// flowerlib/resnet50, so the probabilities equal `flowers predict`'s.
package runner

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/export"
	"github.com/flowerlib/flowers/flowerlib/features"
	"github.com/flowerlib/flowers/flowerlib/metrics"
)

// init makes every program that links this package a runner: started as an exported model
// (the program with a model appended, see WriteExecutable), it runs the model's command line and
// exits before main. That is what lets the flowers binary, or a notebook cell's program, copy
// itself into an exported model. A program without a model pays one read of its last 24 bytes.
func init() {
	if code, ok := RunEmbedded(); ok {
		os.Exit(code)
	}
}

// WriteExecutable writes out, the running program with m appended (export.WriteExecutable):
// started, it is m's program (Main), needing nothing beside it.
func WriteExecutable(out string, m *export.Model) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program's executable (the exported program is a copy of it): %w", err)
	}
	return export.WriteExecutable(exe, out, m)
}

// RunEmbedded runs Main when the running executable carries a model, and returns its exit
// status with ok true; otherwise (a plain flowers binary) it returns ok false at the cost of
// reading the executable's last 24 bytes.
func RunEmbedded() (code int, ok bool) {
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	off, size, has, err := export.Embedded(exe)
	if err == nil && !has {
		return 0, false
	}
	name := filepath.Base(os.Args[0])
	var m *export.Model
	if err == nil {
		m, err = export.LoadModel(exe, off, size)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1, true
	}
	return Main(m, name, os.Args[1:], os.Stdout, os.Stderr), true
}

// Main runs the exported model's command line; name is the program's name in messages.
// Exit status: 0 done, 1 failed (or no photo could be classified), 2 bad command line.
func Main(m *export.Model, name string, args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveMain(m, name, args[1:], stderr)
	case "bench":
		err = benchMain(m, name, args[1:], stdout, stderr)
	case "info":
		var b []byte
		if b, err = export.Describe(m); err == nil {
			fmt.Fprintf(stdout, "%s\n", b)
		}
	default:
		err = classifyMain(m, name, args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case err == flag.ErrHelp:
		return 0
	case isUsage(err):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// usageError is a bad command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func isUsage(err error) bool { _, ok := err.(usageError); return ok }

// parse parses a flag set, turning its errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// Result is the answer for one photo: its top classes, or why it could not be classified.
type Result struct {
	Path  string          `json:"path,omitempty"`
	Top   []metrics.Guess `json:"top,omitempty"`
	Error string          `json:"error,omitempty"`
}

func classifyMain(m *export.Model, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print one JSON object per photo: {\"path\", \"top\": [{\"class\", \"probability\"}…]} or {\"path\", \"error\"}")
	top := fs.Int("top", 3, fmt.Sprintf("how many classes to print per photo (1 to %d)", len(m.Classes)))
	backendName := fs.String("backend", "", "GoMLX backend: go, xla:cpu, xla:cuda (default: $GOMLX_BACKEND or the best installed)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-json] [-top K] PHOTO…     classify photos\n", name)
		fmt.Fprintf(stderr, "       %s serve [-addr 127.0.0.1:8080] serve POST /predict and GET /healthz (%s serve -h)\n", name, name)
		fmt.Fprintf(stderr, "       %s bench PHOTO…                 requests/s and latency of serve under load (%s bench -h)\n", name, name)
		fmt.Fprintf(stderr, "       %s info                         the model: classes, image size, head\n\n", name)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *top < 1 || *top > len(m.Classes) {
		return usagef("-top %d: must be 1 to %d (the model has %d classes)", *top, len(m.Classes), len(m.Classes))
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usagef("give at least one photo to classify")
	}
	b, err := backend.New(*backendName, stderr)
	if err != nil {
		return err
	}
	p, err := NewPredictor(b, m)
	if err != nil {
		return err
	}
	defer p.Finalize()
	paths := fs.Args()
	results := make([]Result, len(paths))
	failures, err := features.Extract(p, paths, features.Options{Size: m.ImageSize, BatchSize: 16},
		func(indices []int, probs []float32) error {
			c := len(m.Classes)
			for k, i := range indices {
				results[i].Top = metrics.TopK(m.Classes, probs[k*c:(k+1)*c], *top)
			}
			return nil
		})
	if err != nil {
		return err
	}
	for _, f := range failures {
		results[f.Index].Error = f.Reason
	}
	enc := json.NewEncoder(stdout)
	for i := range results {
		results[i].Path = paths[i]
		r := results[i]
		switch {
		case *jsonOut:
			if err := enc.Encode(r); err != nil {
				return err
			}
		case r.Error != "":
			fmt.Fprintf(stdout, "%s: skipped: %s\n", r.Path, r.Error)
		default:
			fmt.Fprintf(stdout, "%s: %s\n", r.Path, metrics.FormatTopK(r.Top))
		}
	}
	if len(failures) == len(paths) {
		return fmt.Errorf("no photo could be classified")
	}
	return nil
}
