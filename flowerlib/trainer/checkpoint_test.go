package trainer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/internal/container/containertest"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// trainSteps trains a small head in dir for the given epochs (2 steps each) and returns the
// trainer's log.
func trainSteps(t *testing.T, dir string, epochs int) string {
	t.Helper()
	var log bytes.Buffer
	tr := newHeadTrainer(t, dir, headCfg{Hidden: []int{8, 8}}, trainer.Options{Epochs: epochs, BatchSize: 16, Log: &log})
	if _, err := tr.Fit(syntheticFeatures(32, 1), nil); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	return log.String()
}

func names(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// TestCorruptCheckpointMovedAside: a corrupt newest checkpoint is moved to *.corrupt with a
// warning, the older one is resumed from, and retention never deletes the good ones nor the
// corrupt one.
func TestCorruptCheckpointMovedAside(t *testing.T) {
	dir := t.TempDir()
	trainSteps(t, dir, 2) // checkpoints at steps 2 and 4
	if got := names(t, dir, "ckpt-*.flw"); len(got) != 2 {
		t.Fatalf("checkpoints %v", got)
	}
	newest := filepath.Join(dir, "ckpt-000000004.flw")
	if err := os.Truncate(newest, 100); err != nil {
		t.Fatal(err)
	}
	log := trainSteps(t, dir, 3)
	if !strings.Contains(log, "ckpt-000000004.flw.corrupt") || !strings.Contains(log, "is corrupt or incomplete") {
		t.Errorf("no warning about the corrupt checkpoint:\n%s", log)
	}
	// Resumed at step 2 (the older one): epochs 2 and 3 trained again → steps 4, 6.
	if got := names(t, dir, "ckpt-*.flw"); strings.Join(got, " ") != "ckpt-000000004.flw ckpt-000000006.flw" {
		t.Errorf("checkpoints after resuming from the older one: %v", got)
	}
	if got := names(t, dir, "*.corrupt"); len(got) != 1 {
		t.Errorf("corrupt files: %v", got)
	}
	st, err := trainer.ReadState(filepath.Join(dir, "ckpt-000000006.flw"))
	if err != nil || !st.Done || len(st.History) != 3 {
		t.Errorf("final state: %+v %v", st, err)
	}
}

// TestInterruptedRetention: a run killed after writing a checkpoint but before removing the
// oldest leaves KeepCheckpoints+1 of them; the resumed run removes the extra one at its first save.
func TestInterruptedRetention(t *testing.T) {
	dir := t.TempDir()
	trainSteps(t, dir, 2) // checkpoints at steps 2 and 4
	old, err := os.ReadFile(filepath.Join(dir, "ckpt-000000002.flw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ckpt-000000001.flw"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	trainSteps(t, dir, 3) // resumes at step 4, saves step 6
	if got := names(t, dir, "ckpt-*.flw"); strings.Join(got, " ") != "ckpt-000000004.flw ckpt-000000006.flw" {
		t.Errorf("checkpoints after the resumed run: %v, want the 2 newest", got)
	}
}

// TestAllCheckpointsCorrupt: when none verifies, training starts over with a warning, the
// corrupt files stay (moved aside), and the new checkpoints are kept.
func TestAllCheckpointsCorrupt(t *testing.T) {
	dir := t.TempDir()
	trainSteps(t, dir, 2)
	for _, n := range names(t, dir, "ckpt-*.flw") {
		p := filepath.Join(dir, n)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	log := trainSteps(t, dir, 1)
	if !strings.Contains(log, "none of the 2 checkpoints") || !strings.Contains(log, "starts again from step 0") {
		t.Errorf("no warning that training starts over:\n%s", log)
	}
	if got := names(t, dir, "*.corrupt"); len(got) != 2 {
		t.Errorf("corrupt files: %v", got)
	}
	if got := names(t, dir, "ckpt-*.flw"); len(got) != 1 || got[0] != "ckpt-000000002.flw" {
		t.Errorf("new checkpoints: %v", got)
	}
	if _, err := trainer.ReadState(filepath.Join(dir, "ckpt-000000002.flw")); err != nil {
		t.Errorf("the new checkpoint: %v", err)
	}
}

// TestCraftedCheckpointHeader: a checkpoint whose checksums are right but whose header says a
// tensor has dims [-1] is refused as corrupt (no panic) and the older checkpoint is used.
func TestCraftedCheckpointHeader(t *testing.T) {
	dir := t.TempDir()
	trainSteps(t, dir, 1) // step 2
	hdr := `{"meta":{"step":9},"tensors":[{"name":"/dense/kernel","dtype":"float32","dims":[-1],"offset":0}]}`
	if err := containertest.Craft(filepath.Join(dir, "ckpt-000000009.flw"), trainer.CheckpointMagic, make([]byte, 8), hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := trainer.ReadState(filepath.Join(dir, "ckpt-000000009.flw")); err == nil || !trainer.IsCorrupt(err) {
		t.Fatalf("crafted header: %v", err)
	}
	var log bytes.Buffer
	tr := newHeadTrainer(t, dir, headCfg{Hidden: []int{8, 8}}, trainer.Options{Epochs: 1, Log: &log})
	if filepath.Base(tr.Resumed) != "ckpt-000000002.flw" || tr.State.Step != 2 {
		t.Fatalf("resumed from %q at step %d:\n%s", tr.Resumed, tr.State.Step, log.String())
	}
}
