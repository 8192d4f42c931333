package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/internal/testdata"

	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
)

// captureStdout runs f with os.Stdout redirected and returns what it printed.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	ferr := f()
	os.Stdout = old
	w.Close()
	return string(<-done), ferr
}

// sampleDir finds the shared sample photos or skips.
func sampleDir(t *testing.T) string { return testdata.RequireSample(t) }

func TestLabelsCommandSample(t *testing.T) {
	dir := sampleDir(t)
	csv := filepath.Join(t.TempDir(), "labels.csv")
	out, err := captureStdout(t, func() error { return runLabels([]string{"-data", dir, "-out", csv}) })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"images      labels\n0  ", "\ntulips          40\n", "total          200\n",
		"LICENSE.txt: file at the dataset root", "labels: 200 images in 5 classes from ", ", 1 skipped, seed 42\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Count(strings.SplitN(out, "\n\n", 2)[0], "\n") + 1; lines != 6 {
		t.Errorf("head printed %d lines, want header + 5", lines)
	}
	raw, err := os.ReadFile(csv)
	if err != nil || !bytes.HasPrefix(raw, []byte("images,labels\n")) || bytes.Count(raw, []byte("\n")) != 201 {
		t.Errorf("CSV: %v, %d lines", err, bytes.Count(raw, []byte("\n")))
	}
}

func TestLabelsCommandErrors(t *testing.T) {
	top := t.TempDir()
	jpg := imagestest.JPEG(imagestest.Smooth(8, 8))
	for _, p := range []string{"flower_photos/daisy/a.jpg", "flower_photos/roses/b.jpg"} {
		_ = os.MkdirAll(filepath.Join(top, filepath.Dir(p)), 0o755)
		_ = os.WriteFile(filepath.Join(top, p), jpg, 0o644)
	}
	cases := [][2]string{
		{top, "did you mean " + filepath.Join(top, "flower_photos") + "?"},
		{filepath.Join(top, "nope"), "does not exist"},
	}
	for _, c := range cases {
		_, err := captureStdout(t, func() error { return runLabels([]string{"-data", c[0]}) })
		if err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("-data %s: got %v, want %q", c[0], err, c[1])
		}
	}
	if _, err := captureStdout(t, func() error { return runLabels([]string{"-data", top, "extra"}) }); err == nil {
		t.Errorf("stray argument accepted")
	}
}
