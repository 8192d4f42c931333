package learner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// smallConfig is a quick run: the built-in head on avg-pooled features, 32×32, random weights,
// the go backend.
func smallConfig(dir, data string, epochs int, log *bytes.Buffer) Config {
	return Config{Run: config.Run{Data: data, Weights: "random:1", RunDir: filepath.Join(dir, "run"), Cache: filepath.Join(dir, "cache"), Pooling: "avg", ImageSize: 32, Backend: "go", Epochs: epochs, BatchSize: 8}, Log: log}
}

// TestRefusedResumeKeepsRunJSON: a resume with other photos, or another image size, is refused
// with what changed, and the run folder (run.json, checkpoints) is left exactly as it was.
func TestRefusedResumeKeepsRunJSON(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	var log bytes.Buffer
	cfg := smallConfig(dir, data, 1, &log)
	if _, err := Run(cfg); err != nil {
		t.Fatal(err)
	}
	runJSON := filepath.Join(cfg.RunDir, RunInfoFile)
	before, _ := os.ReadFile(runJSON)
	ckpts, _ := trainer.ListCheckpoints(cfg.RunDir)

	// Replace 5 photos by 5 others.
	for i, class := range []string{"blue", "checker", "hstripes", "red", "vstripes"} {
		old := filepath.Join(data, class, "aa.png")
		b, _ := os.ReadFile(old)
		os.Remove(old)
		os.WriteFile(filepath.Join(data, class, "new"+string(rune('0'+i))+".png"), b, 0o644)
	}
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "5 added") || !strings.Contains(err.Error(), "5 removed") ||
		!strings.Contains(err.Error(), `"blue/aa.png"`) || !strings.Contains(err.Error(), "another -run folder") {
		t.Fatalf("resume with other photos: %v", err)
	}
	cfg2 := smallConfig(dir, data, 1, &log)
	cfg2.ImageSize = 48
	if _, err := New(cfg2); err == nil || !strings.Contains(err.Error(), "image size 32, now 48") {
		t.Fatalf("resume at another size: %v", err)
	}
	after, _ := os.ReadFile(runJSON)
	if !bytes.Equal(before, after) {
		t.Errorf("run.json changed by a refused resume")
	}
	if now, _ := trainer.ListCheckpoints(cfg.RunDir); strings.Join(now, ",") != strings.Join(ckpts, ",") {
		t.Errorf("checkpoints changed: %v, were %v", now, ckpts)
	}
}

// TestPathsSurvive: a relative -data is stored absolute, and a file name that is not UTF-8
// survives run.json byte for byte, so evaluating from another folder finds the same photos.
func TestPathsSurvive(t *testing.T) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	odd := filepath.Join(dir, "data", "red", "caf\xe9 \u00e9t\u00e9.png") // Latin-1 é, then UTF-8
	b, _ := os.ReadFile(filepath.Join(dir, "data", "red", "aa.png"))
	if err := os.WriteFile(odd, b, 0o644); err != nil {
		t.Skipf("this file system refuses non-UTF-8 names: %v", err)
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	var log bytes.Buffer
	cfg := smallConfig("rel", "data", 1, &log) // relative run, cache and data
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := LoadRunInfo(filepath.Join(dir, "rel", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Data != filepath.Join(dir, "data") || !filepath.IsAbs(info.CacheDir) {
		t.Errorf("run.json data %q, cache %q: want absolute paths", info.Data, info.CacheDir)
	}
	found := false
	for _, p := range append(append(Paths{}, info.Split.Train...), info.Split.Valid...) {
		found = found || p == odd
	}
	if !found {
		t.Errorf("the non-UTF-8 name did not survive run.json")
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "rel", "run", RunInfoFile))
	if !bytes.Contains(raw, []byte(`"base64":`)) || !json.Valid(raw) {
		t.Errorf("run.json does not store the odd name as base64")
	}
	os.Chdir(t.TempDir()) // elsewhere
	m, err := Open(filepath.Join(dir, "rel", "run"), OpenOptions{Backend: "go", Head: cfg.Head, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.Evaluate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.N != res.Eval.N || r.Accuracy != res.Eval.Accuracy {
		t.Errorf("evaluation from another folder: %d photos at %.3f, training run: %d at %.3f", r.N, r.Accuracy, res.Eval.N, res.Eval.Accuracy)
	}
}

// TestDroppedPhotosNamed: a photo that cannot be decoded is left out and named, in cached and
// in augment mode (which trains on the others instead of aborting).
func TestDroppedPhotosNamed(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	bad := filepath.Join(data, "blue", "broken.png")
	b, _ := os.ReadFile(filepath.Join(data, "blue", "aa.png"))
	os.WriteFile(bad, b[:len(b)/3], 0o644) // truncated PNG: the scan sees a PNG, the decoder fails
	for _, mode := range []string{ModeCached, ModeAugment} {
		var log bytes.Buffer
		cfg := smallConfig(filepath.Join(dir, mode), data, 1, &log)
		cfg.Mode = mode
		cfg.Augment = 1
		res, err := Run(cfg)
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, log.String())
		}
		if !strings.Contains(log.String(), `left out (cannot be decoded): "`+bad+`"`) {
			t.Errorf("%s: the broken photo is not named:\n%s", mode, log.String())
		}
		if len(res.Dropped) != 1 || res.Dropped[0].Path != bad {
			t.Errorf("%s: dropped %v", mode, res.Dropped)
		}
	}
}
