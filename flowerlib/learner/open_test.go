package learner

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/trainer"
)

// TestNewestCheckpointDamaged (BAD_INPUTS 33): when the newest checkpoint of a run is damaged,
// Open does not quietly evaluate an older one (Keras' load_weights and fastai's learn.load
// raise on a damaged file): it refuses, naming the damaged file and the newest one that
// verifies, with the way to use it; once the damaged file is moved aside, that one is used.
func TestNewestCheckpointDamaged(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	var log bytes.Buffer
	if _, err := Run(smallConfig(dir, data, 2, &log)); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	names, _ := trainer.ListCheckpoints(runDir)
	if len(names) != 2 {
		t.Fatalf("checkpoints %v, want 2", names)
	}
	b, _ := os.ReadFile(names[0])
	b[len(b)/2] ^= 0x20
	os.WriteFile(names[0], b, 0o644)
	_, err := Open(runDir, OpenOptions{Backend: "go"})
	want := fmt.Sprintf("run %s: its newest checkpoint %s cannot be used (", runDir, filepath.Base(names[0]))
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "the newest one that verifies is "+filepath.Base(names[1])+" (1 epoch,") ||
		!strings.Contains(err.Error(), "mv "+names[0]+" "+names[0]+".corrupt") {
		t.Fatalf("a damaged newest checkpoint: %v", err)
	}
	os.Rename(names[0], names[0]+".corrupt")
	m, err := Open(runDir, OpenOptions{Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Checkpoint != names[1] || len(m.State.History) != 1 {
		t.Errorf("opened %s with %d epochs, want %s with 1", m.Checkpoint, len(m.State.History), names[1])
	}
}

// TestShareableRun: a finished run folder copied elsewhere and made read-only is evaluated and
// predicted from with another cache folder ($FLOWERS_CACHE), giving the training run's
// figures, and neither the copy nor the original cache is changed. As root (for whom chmod
// does not forbid anything) the same is also run as user nobody, who can write neither.
func TestShareableRun(t *testing.T) {
	if os.Getenv("FLOWERS_SHARE_CHILD") != "" {
		shareChild(t)
		return
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // the other user must reach it
	os.Chmod(dir, 0o755)
	data := filepath.Join(dir, "data")
	writeClassImages(t, data, 6, 32)
	var log bytes.Buffer
	cfg := smallConfig(dir, data, 1, &log)
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "shared", "run")
	os.MkdirAll(filepath.Dir(shared), 0o755)
	if out, err := exec.Command("cp", "-r", cfg.RunDir, shared).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	exec.Command("chmod", "-R", "a-w", shared).Run()
	exec.Command("chmod", "-R", "a-w", cfg.Cache).Run()
	defer exec.Command("chmod", "-R", "u+w", shared, cfg.Cache).Run()
	before := tree(t, dir)
	photo := filepath.Join(data, "red", "aa.png")
	want := fmt.Sprintf("%d %.6f", res.Eval.N, res.Eval.Accuracy)

	mine := filepath.Join(dir, "my-cache")
	t.Setenv("FLOWERS_CACHE", mine)
	if got := evalAndPredict(t, shared, photo); got != want {
		t.Errorf("evaluated the shared run: %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(mine, "features")); err != nil {
		t.Errorf("the features were not cached in $FLOWERS_CACHE: %v", err)
	}
	if os.Getuid() == 0 {
		theirs := filepath.Join(dir, "nobody-cache")
		os.Mkdir(theirs, 0o755)
		os.Chown(theirs, 65534, 65534)
		bin := filepath.Join(theirs, "learner.test") // the build folder is private
		if out, err := exec.Command("cp", os.Args[0], bin).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		cmd := exec.Command(bin, "-test.run", "^TestShareableRun$", "-test.v")
		cmd.Dir = theirs
		cmd.Env = append(os.Environ(), "FLOWERS_SHARE_CHILD="+shared, "FLOWERS_SHARE_PHOTO="+photo, "FLOWERS_SHARE_WANT="+want,
			"FLOWERS_CACHE="+theirs, "HOME="+theirs, "GOCACHE="+theirs, "TMPDIR="+theirs)
		cmd.SysProcAttr = nobody()
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Errorf("as user nobody: %v\n%s", err, out)
		}
		delete(before, "nobody-cache")
	}
	after := tree(t, dir)
	for name, st := range before {
		if strings.HasPrefix(name, "my-cache") || strings.HasPrefix(name, "nobody-cache") {
			continue
		}
		if after[name] != st {
			t.Errorf("%s changed: %s, was %s", name, after[name], st)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && !strings.HasPrefix(name, "my-cache") && !strings.HasPrefix(name, "nobody-cache") {
			t.Errorf("%s was created", name)
		}
	}
}

// shareChild is TestShareableRun's other user.
func shareChild(t *testing.T) {
	if got, want := evalAndPredict(t, os.Getenv("FLOWERS_SHARE_CHILD"), os.Getenv("FLOWERS_SHARE_PHOTO")), os.Getenv("FLOWERS_SHARE_WANT"); got != want {
		t.Errorf("as uid %d: %s, want %s", os.Getuid(), got, want)
	}
}

// evalAndPredict opens runDir, evaluates it and predicts photo, returning "N accuracy".
func evalAndPredict(t *testing.T, runDir, photo string) string {
	t.Helper()
	m, err := Open(runDir, OpenOptions{Backend: "go"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, err := m.Evaluate(nil)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := m.Predict([]string{photo}, 1)
	if err != nil || preds[0].Err != "" || len(preds[0].Top) != 1 {
		t.Fatalf("predict: %+v %v", preds, err)
	}
	return fmt.Sprintf("%d %.6f", r.N, r.Accuracy)
}

// tree maps every file and folder under root to its size, mode and modification time.
func tree(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out[rel] = fmt.Sprintf("%d %v %d", info.Size(), info.Mode(), info.ModTime().UnixNano())
		}
		return nil
	})
	return out
}
