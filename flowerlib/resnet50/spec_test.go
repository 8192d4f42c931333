package resnet50

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
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

// TestWeightsIntegrity (BAD_INPUTS 28): LoadPretrained refuses a flowers-written file with one
// flipped byte inside a tensor; a file nobody vouches for (no flowers checksum, not Keras'
// published md5: here rewritten by h5py) loads with a note that it is unverified once its
// statistics pass, and is refused when a BatchNorm variance is not positive.
func TestWeightsIntegrity(t *testing.T) {
	dir := t.TempDir()
	w := RandomWeights(3, false)
	path := filepath.Join(dir, "w.h5")
	if err := weights.WriteH5(path, w); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	p, err := LoadPretrained(path, filepath.Join(dir, "cache"), false, &log)
	if err != nil || !p.Integrity.Verified || strings.Contains(log.String(), "unverified") {
		t.Fatalf("intact file: %+v, %v\n%s", p, err, log.String())
	}
	b, _ := os.ReadFile(path)
	kernel := w.Layer("conv4_block3_2_conv").Weights[0].Data
	raw := make([]byte, 4*64)
	for i, v := range kernel[:64] {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	at := bytes.Index(b, raw)
	if at < 0 {
		t.Fatal("kernel not found in the file")
	}
	b[at+4*(len(kernel)/2)] ^= 0x10
	flipped := filepath.Join(dir, "flipped.h5")
	os.WriteFile(flipped, b, 0o644)
	if _, err := LoadPretrained(flipped, filepath.Join(dir, "cache"), false, nil); err == nil ||
		!strings.Contains(err.Error(), flipped) || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("a flipped byte: %v", err)
	}

	if exec.Command("/usr/bin/python3", "-c", "import h5py").Run() != nil {
		t.Skip("/usr/bin/python3 with h5py not available")
	}
	strip := func(path string, variance float32) {
		script := "import h5py, sys\nwith h5py.File(sys.argv[1], 'a') as f:\n    del f.attrs['" + weights.ChecksumAttr + "']\n" +
			"    d = f['conv2_block1_1_bn/conv2_block1_1_bn/moving_variance:0']\n    v = d[()]\n    v[5] = float(sys.argv[2])\n    d[...] = v\n"
		if out, err := exec.Command("/usr/bin/python3", "-c", script, path, fmt.Sprint(variance)).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	plain := filepath.Join(dir, "plain.h5")
	if err := weights.WriteH5(plain, w); err != nil {
		t.Fatal(err)
	}
	strip(plain, 0.5)
	log.Reset()
	p, err = LoadPretrained(plain, filepath.Join(dir, "cache"), false, &log)
	if err != nil || p.Integrity.Verified || !strings.Contains(log.String(), "weights "+plain+" are unverified (neither a file Keras published") ||
		!strings.Contains(log.String(), "their statistics are sane") {
		t.Fatalf("unverified file: %v\n%s", err, log.String())
	}
	negative := filepath.Join(dir, "negative.h5")
	if err := weights.WriteH5(negative, w); err != nil {
		t.Fatal(err)
	}
	strip(negative, -1)
	if _, err := LoadPretrained(negative, filepath.Join(dir, "cache"), false, nil); err == nil || !strings.Contains(err.Error(), negative) ||
		!strings.Contains(err.Error(), "conv2_block1_1_bn/moving_variance:0 holds -1 at index 5: a BatchNorm variance must be positive") {
		t.Fatalf("a negative variance: %v", err)
	}
}
