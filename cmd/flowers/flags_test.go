package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the flowers command (FLOWERS_TEST_MAIN=1), so the
// table below runs real processes: exit codes and everything printed, panics included; and so
// that flowers bench can re-execute it for its child measurements (os.Executable is the test
// binary here).
func TestMain(m *testing.M) {
	if os.Getenv("FLOWERS_TEST_MAIN") == "1" || (os.Getenv(benchChildEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "bench") {
		main()
		os.Exit(0)
	}
	code := m.Run()
	removeExportFixture()
	os.Exit(code)
}

// flowers runs the command and returns its combined output and exit status.
func flowers(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FLOWERS_TEST_MAIN=1", "FLOWERS_CACHE="+filepath.Join(dir, "cache"), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running flowers %v: %v", args, err)
	}
	return string(out), code
}

// TestBadFlags runs every sub-command with bad values of its flags: each is refused with exit
// status 2 and a message naming the flag (or the stray argument), before any work, and nothing
// prints a panic.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.WriteFile(filepath.Join(dir, "x.jpg"), []byte("not really a photo"), 0o644)
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	train := func(extra ...string) []string {
		return append([]string{"train", "-data", dir, "-weights", "random", "-run", run}, extra...)
	}
	lrFind := func(extra ...string) []string {
		return append([]string{"lr-find", "-data", dir, "-weights", "random", "-run", run}, extra...)
	}
	cases := []struct {
		args []string
		want string // in the output
	}{
		{train("-epochs", "0"), "-epochs 0: must be 1 to"},
		{train("-epochs", "-1"), "-epochs -1: must be"},
		{train("-batch", "0"), "-batch 0: must be"},
		{train("-batch", "100000"), "-batch 100000: must be"},
		{train("-batch", "4000"), "-batch 4000: at size 224 a forward pass needs"},
		{train("-lr", "-1"), "-lr -1: must be a number > 0"},
		{train("-lr", "0"), "-lr 0: must be a number > 0"},
		{train("-lr", "NaN"), "-lr NaN: must be a number"},
		{train("-lr", "Inf"), "-lr +Inf: must be a number"},
		{train("-size", "0"), "-size 0: must be 32 to 1024"},
		{train("-size", "7"), "-size 7: must be 32 to 1024"},
		{train("-size", "100000"), "-size 100000: must be 32 to 1024"},
		{train("-dropout", "NaN"), "-dropout NaN: must be a number"},
		{train("-dropout", "1.5"), "-dropout 1.5: must be a number 0 to 0.99"},
		{train("-head", "dense"), `invalid value "dense" for flag -head: must be one of flatten, avg, max`},
		{train("-mode", "fast"), `-mode "fast": must be one of cached, augment`},
		{train("-augment-copies", "-1"), "-augment-copies -1: must be"},
		{train("-checkpoint-steps", "-1"), "-checkpoint-steps -1: must be"},
		{train("-early-stopping", "-3"), "-early-stopping -3: must be"},
		{train("-fine-tune-lr", "-1"), "-fine-tune-lr -1: must be a number > 0"},
		{train("-fine-tune-epochs", "0"), "-fine-tune-epochs 0: must be"},
		{train("-seed", "0"), "-seed 0: must be ≥ 1"},
		{train("-mode", "augment"), "mode augment: set augment"},
		{train("-valid", "1"), "-valid 1: must be a number > 0 and < 1"},
		{train("-epochs", "x"), `invalid value "x" for flag -epochs`},
		{[]string{"train", "-data", dir, "-run", run, "stray", "-epochs", "1"}, `unexpected argument "stray"`},
		{[]string{"train", "-data", dir}, "-run is required"},
		{[]string{"eval"}, "-run is required"},
		{[]string{"eval", "-run", run, "extra"}, `unexpected argument "extra"`},
		{[]string{"predict", "-run", run}, "give at least one image"},
		{[]string{"predict", "-run", run, "-top", "-1", "x.jpg"}, "-top -1: must be 1 to 1000"},
		{[]string{"predict", "-run", run, "-top", "0", "x.jpg"}, "-top 0: must be"},
		{[]string{"predict", "x.jpg"}, "-run is required"},
		{lrFind("-steps", "1"), "-steps 1: must be 2 to"},
		{lrFind("-start", "0"), "-start 0: must be a number > 0"},
		{lrFind("-end", "NaN"), "-end NaN: must be a number"},
		{lrFind("-start", "1", "-end", "0.1"), "-end 0.1 must be greater than -start 1"},
		{lrFind("-plot", filepath.Join(dir, "lr.gif")), "the picture must be a .png or .svg file"},
		{lrFind("-plot", filepath.Join(dir, "no-such-folder", "lr.png")), "does not exist"},
		{lrFind("-head", "dense"), `invalid value "dense" for flag -head: must be one of flatten, avg, max`},
		{lrFind("-size", "7"), "-size 7: must be 32 to 1024"},
		{lrFind("-batch", "0"), "-batch 0: must be"},
		{lrFind("-seed", "0"), "-seed 0: must be ≥ 1"},
		{lrFind("stray"), `unexpected argument "stray"`},
		{[]string{"cam", "-out", filepath.Join(dir, "cam.png")}, "-run is required"},
		{[]string{"cam", "-run", run}, "-out is required"},
		{[]string{"cam", "-run", run, "-out", filepath.Join(dir, "cam.jpg")}, "the picture must be a .png or .svg file"},
		{[]string{"cam", "-run", run, "-out", filepath.Join(dir, "cam.png"), "-n", "0"}, "-n 0: must be 1 to 1000"},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"`},

		// features: bounds, and outputs that would replace inputs.
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy"), "-batch", "0", "x.jpg"}, "-batch 0: must be"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy"), "-batch", "100000", "x.jpg"}, "-batch 100000: must be"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy"), "-size", "100000", "x.jpg"}, "-size 100000: must be"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy"), "-size", "7", "x.jpg"}, "-size 7: must be"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy"), "-pooling", "sum", "x.jpg"}, `-pooling "sum": must be one of`},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "x.jpg"), filepath.Join(dir, "x.jpg")}, "the output must be a .npy file"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.csv"), "x.jpg"}, "the output must be a .npy file"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "nodir", "f.npy"), "x.jpg"}, "does not exist"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "data", "f.npy"), "-data", filepath.Join(dir, "data")}, "is inside the dataset folder"},
		{[]string{"features", "-weights", "random", "x.jpg"}, "-out is required"},
		{[]string{"features", "-weights", "random", "-out", filepath.Join(dir, "f.npy")}, "give either -data DIR or a list of image files"},
		// weights, summary, labels, bench, setup.
		{[]string{"weights"}, "give exactly one of -download, -random, -inspect"},
		{[]string{"weights", "-random"}, "-random needs -out"},
		{[]string{"weights", "-random", "-out", filepath.Join(dir, "w.npy")}, "a weights file ends in .h5"},
		{[]string{"weights", "-inspect", "x.h5", "stray"}, `unexpected argument "stray"`},
		{[]string{"summary", "-size", "7"}, "-size 7: must be"},
		{[]string{"summary", "-pooling", "mean"}, `-pooling "mean": must be one of`},
		{[]string{"summary", "-head", "dense"}, `-head "dense"`},
		{[]string{"summary", "-head", "avg", "-top"}, "give one of -head and -top"},
		{[]string{"labels", "-data", dir, "-seed", "0"}, "-seed 0 is reserved"},
		{[]string{"labels", dir}, `unexpected argument`},
		{[]string{"bench", "-duration", "0s"}, "-duration 0s: must be positive"},
		{[]string{"bench", "-duration", "-1s"}, "must be positive"},
		{[]string{"bench", "-epochs", "0"}, "-epochs 0: must be"},
		{[]string{"bench", "-photos", "-1"}, "-photos -1: must be"},
		{[]string{"bench", "-threads", "0"}, "-threads 0: must be"},
		{[]string{"bench", "-size", "7"}, "-size 7: must be"},
		{[]string{"bench", "-batch", "0"}, `-batch: "0" is not a positive integer`},
		{[]string{"bench", "-batch", "x"}, "-batch:"},
		{[]string{"bench", "-tasks", "nap"}, `unknown task "nap"`},
		{[]string{"bench", "-conv", "slow"}, `-conv`},
		{[]string{"bench", "-memlimit-mib", "-5"}, "-memlimit-mib -5: must be"},
		{[]string{"setup", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		out, code := flowers(t, dir, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("flowers %s: exit %d, want 2 with %q:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
		if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
			t.Errorf("flowers %s panicked:\n%s", strings.Join(c.args, " "), out)
		}
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("a refused command created the run folder %s", run)
	}
}

// TestHelp: -h prints the flags and exits 0, with the flags' value names readable (help
// texts must not hold backquotes, which the flag package turns into value names).
func TestHelp(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"train", "eval", "predict", "features", "weights", "summary", "labels", "bench", "setup", "lr-find", "cam"} {
		out, code := flowers(t, dir, c, "-h")
		if code != 0 || !strings.Contains(out, "usage: flowers "+c) || strings.Contains(out, "-run flowers") {
			t.Errorf("flowers %s -h: exit %d:\n%s", c, code, out)
		}
	}
}

// TestRuntimeErrorsExit1: a well-formed command that fails (no such run) exits 1 with the
// reason.
func TestRuntimeErrorsExit1(t *testing.T) {
	dir := t.TempDir()
	out, code := flowers(t, dir, "eval", "-run", filepath.Join(dir, "nope"))
	if code != 1 || !strings.Contains(out, "is not a run folder of `flowers train`") {
		t.Errorf("eval of a missing run: exit %d:\n%s", code, out)
	}
}
