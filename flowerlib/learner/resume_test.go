package learner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// TestKillAndResume builds the flowers command, starts `flowers train` as a subprocess, kills
// it with SIGKILL once a checkpoint exists, restarts it, and checks that it resumes from the
// newest checkpoint (same step) and finishes with every file intact. While the first one runs,
// a second `flowers train` on the same run folder is refused with the first one's pid.
func TestKillAndResume(t *testing.T) {
	testdata.Slow(t, "builds the flowers command and trains twice")
	if testing.Short() {
		t.Skip("builds the flowers command and trains twice (~1 minute)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "flowers")
	build := exec.Command("go", "build", "-o", bin, "./cmd/flowers")
	build.Dir = testdata.RepoRoot()
	build.Env = append(os.Environ(), "GOEXPERIMENT=simd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building flowers: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 12, 40)
	runDir := filepath.Join(dir, "run")
	const epochs, stepsPerEpoch = 8, 6 // 60 images → 48 training → 6 steps of 8
	args := []string{"train", "-data", data, "-weights", "random:1", "-run", runDir, "-cache", filepath.Join(dir, "cache"),
		"-head", "avg", "-size", "32", "-epochs", strconv.Itoa(epochs), "-batch", "8", "-checkpoint-steps", "2", "-backend", "go", "-json"}

	var log1 bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr, cmd.Stdout = &log1, &log1
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		names, _ := trainer.ListCheckpoints(runDir)
		// Kill after the first epoch (6 steps) so the resume crosses an epoch boundary.
		if len(names) > 0 && names[0] >= filepath.Join(runDir, fmt.Sprintf("ckpt-%09d.flw", 8)) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 3 minutes:\n%s", log1.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A second process on the same run folder is refused at once, naming the first one.
	start := time.Now()
	second, err := exec.Command(bin, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(second), fmt.Sprintf("is in use by process %d", cmd.Process.Pid)) {
		t.Errorf("a second train on the same -run: %v\n%s", err, second)
	}
	if time.Since(start) > 60*time.Second {
		t.Errorf("the refusal took %v", time.Since(start))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the first run ended before the kill (%v): make it longer\n%s", err, log1.String())
	}
	// The newest complete checkpoint is what a resume must start from.
	names, _ := trainer.ListCheckpoints(runDir)
	var want trainer.State
	var newest string
	for _, n := range names {
		if st, err := trainer.ReadState(n); err == nil {
			want, newest = st, n
			break
		}
	}
	if newest == "" {
		t.Fatalf("no complete checkpoint after the kill: %v", names)
	}
	t.Logf("killed at checkpoint %s (step %d, epoch %d + %d steps)", filepath.Base(newest), want.Step, want.Epoch, want.StepInEpoch)

	var log2 bytes.Buffer
	cmd = exec.Command(bin, args...)
	cmd.Stderr, cmd.Stdout = &log2, &log2
	if err := cmd.Run(); err != nil {
		t.Fatalf("resumed run failed: %v\n%s", err, log2.String())
	}
	m := regexp.MustCompile(`resuming from (ckpt-\d+\.flw): step (\d+)`).FindStringSubmatch(log2.String())
	if m == nil {
		t.Fatalf("the second run did not resume:\n%s", log2.String())
	}
	if m[1] != filepath.Base(newest) || m[2] != strconv.FormatInt(want.Step, 10) {
		t.Fatalf("resumed from %s step %s, want %s step %d", m[1], m[2], filepath.Base(newest), want.Step)
	}
	// Finished: every checkpoint intact, the last one done at the final step, no temporary files.
	names, _ = trainer.ListCheckpoints(runDir)
	if len(names) == 0 || len(names) > 2 {
		t.Fatalf("checkpoints after the run: %v", names)
	}
	for i, n := range names {
		st, err := trainer.ReadState(n)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (!st.Done || st.Step != epochs*stepsPerEpoch || len(st.History) != epochs) {
			t.Fatalf("final checkpoint: done=%v step=%d epochs=%d, want done at step %d with %d epochs", st.Done, st.Step, len(st.History), epochs*stepsPerEpoch, epochs)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(runDir, ".*tmp*")); len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	h, err := trainer.LoadHistory(runDir)
	if err != nil || len(h) != epochs {
		t.Fatalf("history: %d epochs, %v", len(h), err)
	}
	for i, e := range h {
		if e.Epoch != i+1 {
			t.Fatalf("history epochs %v", h)
		}
	}
	if !strings.Contains(log2.String(), `"steps":48`) {
		t.Errorf("JSON summary missing or wrong:\n%s", log2.String())
	}
}
