package learner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/weights"
)

// TestRunInfoFormat (BAD_INPUTS 31): run.json carries its format version; one from a newer
// flowers is refused saying so; a truncated one is named as damaged without advice to delete
// the run folder (its checkpoints are intact), and the way out it gives (move it aside, train
// again with the same settings) resumes from the checkpoint and writes it anew.
func TestRunInfoFormat(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	var log bytes.Buffer
	cfg := smallConfig(dir, data, 1, &log)
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.RunDir, RunInfoFile)
	raw, _ := os.ReadFile(path)
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil || fields["format"] != float64(RunInfoFormat) {
		t.Errorf("run.json format %v, want %d", fields["format"], RunInfoFormat)
	}

	newer := bytes.Replace(raw, []byte(fmt.Sprintf(`"format": %d,`, RunInfoFormat)), []byte(`"format": 7,`), 1)
	os.WriteFile(path, newer, 0o644)
	if _, err := LoadRunInfo(cfg.RunDir); err == nil || !strings.Contains(err.Error(), "format 7") || !strings.Contains(err.Error(), "newer flowers") {
		t.Errorf("a newer format: %v", err)
	}

	// Format 1 (the head by kind, before heads were functions) opens as the built-in head.
	fields["format"] = 1
	fields["head"] = map[string]any{"kind": "avg", "classes": 5, "hidden": []int{2048, 1024}, "init_seed": 42}
	old, _ := json.Marshal(fields)
	os.WriteFile(path, old, 0o644)
	if m, err := Open(cfg.RunDir, OpenOptions{Backend: "go"}); err != nil {
		t.Errorf("a format 1 run.json: %v", err)
	} else {
		if h := m.Info.Head; !h.BuiltIn || h.Pooling != "avg" || len(h.Input) != 1 || h.Input[0] != 2048 {
			t.Errorf("format 1's head read as %+v", h)
		}
		if _, err := m.Evaluate(nil); err != nil {
			t.Errorf("evaluating a format 1 run: %v", err)
		}
		m.Close()
	}

	os.WriteFile(path, raw[:len(raw)/2], 0o644)
	_, err = Open(cfg.RunDir, OpenOptions{Backend: "go"})
	if err == nil || !strings.Contains(err.Error(), path+" is damaged") || strings.Contains(err.Error(), "delete") ||
		!strings.Contains(err.Error(), "its checkpoints are not affected") {
		t.Fatalf("a truncated run.json: %v", err)
	}
	os.Rename(path, path+".damaged")
	log.Reset()
	again, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Resumed == "" || again.Steps != res.Steps || !strings.Contains(log.String(), "resuming from ") {
		t.Errorf("not resumed: %+v\n%s", again, log.String())
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, raw) {
		t.Errorf("run.json written anew differs:\n%s\nwas\n%s", now, raw)
	}
}

// TestRelativeWeightsStoredAbsolute (BAD_INPUTS 32): a relative weights file is stored in
// run.json as an absolute path, so the run is evaluated from any folder.
func TestRelativeWeightsStoredAbsolute(t *testing.T) {
	dir := t.TempDir()
	writeClassImages(t, filepath.Join(dir, "data"), 6, 32)
	if err := weights.WriteH5(filepath.Join(dir, "w.h5"), resnet50.RandomWeights(1, false)); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	var log bytes.Buffer
	cfg := smallConfig(dir, "data", 1, &log)
	cfg.Weights = "w.h5"
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := LoadRunInfo(cfg.RunDir)
	if err != nil || info.Weights != filepath.Join(dir, "w.h5") {
		t.Fatalf("run.json weights %q (%v), want %s", info.Weights, err, filepath.Join(dir, "w.h5"))
	}
	os.Chdir(t.TempDir())
	m, err := Open(cfg.RunDir, OpenOptions{Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.Evaluate(nil)
	if err != nil || r.Accuracy != res.Eval.Accuracy {
		t.Errorf("evaluated from another folder: %v, %v (training run: %v)", r, err, res.Eval.Accuracy)
	}
}
