package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

// TestWeightsRandomInspect writes random weights with the command, reads them back,
// and checks the NOT-ImageNet note and the argument errors.
func TestWeightsRandomInspect(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.h5")
	if err := runWeights([]string{"-random", "-seed", "3", "-out", out}); err != nil {
		t.Fatal(err)
	}
	w, err := weights.ReadH5(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Equal(resnet50.RandomWeights(3, false), w); err != nil {
		t.Fatalf("file differs from resnet50.RandomWeights(3): %v", err)
	}
	attrs, err := weights.RootAttrs(out)
	if err != nil || !strings.Contains(attrs[weights.NoteAttr], "NOT ImageNet") {
		t.Fatalf("note attribute = %q, %v", attrs[weights.NoteAttr], err)
	}
	if err := runWeights([]string{"-inspect", out}); err != nil {
		t.Fatal(err)
	}
	if err := runWeights([]string{"-random"}); err == nil || !strings.Contains(err.Error(), "-out") {
		t.Errorf("want '-random needs -out', got %v", err)
	}
	if err := runWeights([]string{"-inspect", out, "-random"}); err == nil {
		t.Errorf("two modes accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.h5")
	os.WriteFile(bad, []byte("<html>not found</html>"), 0o644)
	if err := runWeights([]string{"-inspect", bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("want an error naming %s, got %v", bad, err)
	}
}

// TestWeightsRandomKeras3: -out F.weights.h5 writes Keras 3's layout (what Keras 3's
// model.load_weights reads), holding the same weights; -inspect recognises it.
func TestWeightsRandomKeras3(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.weights.h5")
	if err := runWeights([]string{"-random", "-seed", "3", "-top", "-out", out}); err != nil {
		t.Fatal(err)
	}
	w, err := weights.ReadH5(out)
	if err != nil {
		t.Fatal(err)
	}
	if w.Format != weights.FormatKeras3 {
		t.Fatalf("format %s, want Keras 3", w.Format)
	}
	mapped, _, err := resnet50.MapWeights(w, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Equal(resnet50.RandomWeights(3, true), mapped); err != nil {
		t.Fatalf("file differs from resnet50.RandomWeights(3, top): %v", err)
	}
	if err := runWeights([]string{"-inspect", out}); err != nil {
		t.Fatal(err)
	}
}
