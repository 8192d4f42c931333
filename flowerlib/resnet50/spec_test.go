package resnet50

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/weights"
)

// TestLoadPretrained: identity of random and file weights, and a file with a NaN refused
// with the tensor named (not blamed on the learning rate later).
func TestLoadPretrained(t *testing.T) {
	p, err := LoadPretrained("random:3", "", false, nil)
	if err != nil || p.ID != "random:3" || p.File == nil {
		t.Fatalf("random:3: %+v %v", p, err)
	}
	if _, err := LoadPretrained("random:x", "", false, nil); err == nil || !strings.Contains(err.Error(), "seed must be an integer") {
		t.Fatalf("random:x: %v", err)
	}
	dir := t.TempDir()
	w := RandomWeights(3, false)
	good := filepath.Join(dir, "good.h5")
	if err := weights.WriteH5(good, w); err != nil {
		t.Fatal(err)
	}
	p, err = LoadPretrained(good, dir, false, nil)
	if err != nil || !strings.HasPrefix(p.ID, "sha256:") || len(p.ID) != 7+64 {
		t.Fatalf("file: %+v %v", p, err)
	}
	w.Layer("conv3_block2_2_conv").Weights[0].Data[17] = float32(math.NaN())
	bad := filepath.Join(dir, "bad.h5")
	if err := weights.WriteH5(bad, w); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPretrained(bad, dir, false, nil); err == nil || !strings.Contains(err.Error(), "conv3_block2_2_conv/") ||
		!strings.Contains(err.Error(), "NaN at index 17") || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("NaN weights: %v", err)
	}
}
