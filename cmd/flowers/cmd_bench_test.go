package main

import (
	"bufio"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/flowerlib/flowers/internal/testdata"
)

// benchStdout runs flowers bench with args and returns its stdout.
func benchStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return captureStdout(t, func() error { return runBench(args) })
}

// benchRefs returns the references this machine can run (-refs), skipping (failing with
// CI=true) when one is missing.
func benchRefs(t *testing.T) []string {
	var refs []string
	if exec.Command("/usr/bin/python3", "-c", "import torch, torchvision, h5py").Run() == nil {
		refs = append(refs, "torch")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("/usr/bin/python3 lacks torch, torchvision or h5py (.ci/apt-packages.txt)")
	}
	if py := os.Getenv("FLOWERS_PYTHON"); py != "" && exec.Command(py, "-c", "import tensorflow, tf_keras").Run() == nil {
		refs = append(refs, "keras")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("$FLOWERS_PYTHON lacks tensorflow or tf_keras (source .ci/venv.sh)")
	}
	if len(refs) < 2 {
		t.Logf("references measured: %v", refs)
	}
	return refs
}

// TestBenchEveryTask runs every task of flowers bench briefly (small images, few photos, the
// pooled head) on every backend and reference this machine has, and checks the JSON lines:
// one per implementation and case, plausible figures, ratios consistent with the PyTorch row.
func TestBenchEveryTask(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts PyTorch and TensorFlow, trains two epochs")
	}
	testdata.Slow(t, "every bench task on every backend and reference")
	refs := benchRefs(t)
	backends := []string{"go"}
	if x := backend.Choose(""); x != "go" {
		backends = append(backends, x)
	}
	// The photos: the 200-photo sample where there, else the embedded 50 (10 are used).
	args := []string{"-rounds", "1", "-data", testdata.Photos(t), "-batch", "1,2", "-size", "64", "-duration", "200ms", "-photos", "10", "-epochs", "1",
		"-head-kinds", "pooled", "-json", "-backends", strings.Join(backends, ","), "-refs", strings.Join(refs, ",")}
	out, err := benchStdout(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	impls := len(backends) + len(refs)
	got := map[string][]benchResult{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r benchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", sc.Text(), err)
		}
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		for _, k := range []string{"task", "case", "impl", "images_per_sec", "cpu_seconds_per_image", "peak_rss_mib", "vs_torch", "vs_keras"} {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing in %s", k, sc.Text())
			}
		}
		got[r.Task+" "+r.Case] = append(got[r.Task+" "+r.Case], r)
	}
	for _, cas := range []string{"forward batch 1", "forward batch 2", "photos 10 photos", "head pooled", "augment 8+2 photos", "finetune conv5 + head, 8+2 photos"} {
		rs := got[cas]
		if len(rs) != impls {
			t.Errorf("%s: %d results, want one per implementation (%d): %+v", cas, len(rs), impls, rs)
			continue
		}
		var torch *benchResult
		for i, r := range rs {
			if r.ImagesPerSec <= 0 || r.CPUPerImage <= 0 || r.PeakRSSMiB <= 0 {
				t.Errorf("%s: implausible measurement %+v", cas, r)
			}
			if r.Impl == "PyTorch" {
				torch = &rs[i]
			}
		}
		for _, r := range rs {
			if torch == nil {
				if r.VsTorch != nil {
					t.Errorf("%s: a ratio to PyTorch without PyTorch: %+v", cas, r)
				}
			} else if r.VsTorch == nil || *r.VsTorch < 0.999*r.ImagesPerSec/torch.ImagesPerSec || *r.VsTorch > 1.001*r.ImagesPerSec/torch.ImagesPerSec {
				t.Errorf("%s: ratio to PyTorch missing or inconsistent: %+v", cas, r)
			}
		}
	}
}

func TestBenchForwardOnlyGo(t *testing.T) {
	out, err := benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "go", "-refs", "", "-rounds", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| images/s, median of 2 rounds [range] (× PyTorch [range]) | flowerlib go |",
		"| ResNet50 forward, batch 1 | ", "| ResNet50 forward, batch 1 | flowerlib go | ",
		"frozen base: " + resnet50.BasePath(true, false) + "; vector paths: MatMul (heads, fine-tuning) " + matmulVectorPath() + ", host Adam " + string(trainer.AdamVectorPath()),
		"2 rounds: each implementation measured once per round per task"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Markdown tables lack %q:\n%s", want, out)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-batch", "0"}, {"-batch", "x"}, {"-size", "16"}, {"-conv", "gpu"}, {"extra"},
		{"-tasks", "train"}, {"-tasks", ""}, {"-head-kinds", "max"}, {"-epochs", "0"}, {"-rounds", "0"},
		{"-xla-flags", "--xla_cpu_enable_fast_math=false", "-in-process"}, {"-xla-graph-base", "-in-process"}} {
		if _, err := benchStdout(t, append(args, "-refs", "")...); err == nil {
			t.Errorf("flowers bench %v: no error", args)
		}
	}
}

// TestBenchRoundsSummary: per-round results fold into medians and [min, max] ranges, ratios
// are taken within each round, and a comparison whose rounds fall on both sides of 1 is
// undecided while one whose rounds all agree is not.
func TestBenchRoundsSummary(t *testing.T) {
	var rs []benchResult
	for i, v := range [][3]float64{{10, 8, 12}, {12, 12, 10}, {11, 9, 10}} { // go, PyTorch, TF-Keras per round
		rs = append(rs,
			benchResult{Task: "forward", Case: "batch 1", Impl: "flowerlib go", ImagesPerSec: v[0], CPUPerImage: 0.1 * float64(i+1), Round: i + 1},
			benchResult{Task: "forward", Case: "batch 1", Impl: "PyTorch", ImagesPerSec: v[1], Round: i + 1},
			benchResult{Task: "forward", Case: "batch 1", Impl: "TF-Keras", ImagesPerSec: v[2], Round: i + 1})
	}
	fillRoundRatios(rs)
	sum := summarize(rs)
	if len(sum) != 3 {
		t.Fatalf("%d summaries, want 3: %+v", len(sum), sum)
	}
	g := sum[0]
	near := func(a, b float64) bool { return a > b-1e-9 && a < b+1e-9 }
	// go/PyTorch per round: 1.25, 1.0, 1.2222; go/TF-Keras: 0.8333, 1.2, 1.1.
	if g.Impl != "flowerlib go" || g.Rounds != 3 || g.ImagesPerSec != 11 || g.ImagesPerSecRange[0] != 10 || g.ImagesPerSecRange[1] != 12 ||
		!near(g.CPUPerImage, 0.2) || !near(*g.VsTorch, 11.0/9) || !near(g.VsTorchRange[0], 1) || !near(g.VsTorchRange[1], 1.25) ||
		!near(*g.VsKeras, 1.1) || !near(g.VsKerasRange[0], 10.0/12) || !near(g.VsKerasRange[1], 1.2) {
		t.Errorf("summary of go: %+v (VsTorch %v, VsKeras %v)", g, *g.VsTorch, *g.VsKeras)
	}
	// 1.0 is the low end of go vs PyTorch: a tie in one round leaves it undecided, as TF-Keras.
	if want := []string{"PyTorch", "TF-Keras"}; !slices.Equal(g.Undecided, want) {
		t.Errorf("undecided %v, want %v", g.Undecided, want)
	}
	rs[4].ImagesPerSec = 11 // round 2's PyTorch: go now ahead in every round
	for i := range rs {
		rs[i].VsTorch, rs[i].VsKeras = nil, nil
	}
	fillRoundRatios(rs)
	if g := summarize(rs)[0]; !slices.Equal(g.Undecided, []string{"TF-Keras"}) {
		t.Errorf("undecided %v, want [TF-Keras] (go ahead of PyTorch in every round: %v)", g.Undecided, g.VsTorchRange)
	}
	var b strings.Builder
	printBenchTables(&b, summarize(rs), undecidedNotes(summarize(rs)))
	for _, want := range []string{"| ResNet50 forward, batch 1 | 11 [10–12] (1.22× [1.09–1.25]) | 9 [8–11] | 10 [10–12] (1.11× [0.91–1.50] ≈) |",
		"flowerlib go vs TF-Keras, ResNet50 forward, batch 1: 0.83×–1.20× over 3 rounds"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, b.String())
		}
	}
}

// TestBenchRoundOrder: the implementations rotate by one each round; each -xla-flags setting
// is one more implementation of the XLA backends only.
func TestBenchRoundOrder(t *testing.T) {
	c := &benchConfig{refs: []*refProc{{Name: "PyTorch"}}}
	order := func(round int) string {
		var names []string
		for _, impl := range c.roundOrder([]string{"go", "xla:cpu"}, round) {
			names = append(names, impl.name())
		}
		return strings.Join(names, ", ")
	}
	var got []string
	for round := 1; round <= 3; round++ {
		got = append(got, order(round))
	}
	if want := []string{"flowerlib go, flowerlib xla:cpu, PyTorch", "flowerlib xla:cpu, PyTorch, flowerlib go",
		"PyTorch, flowerlib go, flowerlib xla:cpu"}; !slices.Equal(got, want) {
		t.Errorf("round orders %q, want %q", got, want)
	}
	c.xlaFlags = []string{"--xla_cpu_enable_fast_math=false"}
	if got, want := order(2), "flowerlib xla:cpu, flowerlib xla:cpu (XLA flags 1), PyTorch, flowerlib go"; got != want {
		t.Errorf("with -xla-flags, round 2: %q, want %q", got, want)
	}
	c.xlaFlags, c.xlaGraph = nil, true
	if got, want := order(1), "flowerlib go, flowerlib xla:cpu, flowerlib xla:cpu (base in XLA), PyTorch"; got != want {
		t.Errorf("with -xla-graph-base, round 1: %q, want %q", got, want)
	}
}

// TestBenchXLAGraphBase measures xla:cpu with its frozen base on flowerlib's GEMM (the
// default) and in XLA's graph in the same rounds: two columns, and the notes saying which is
// which. It needs XLA's CPU plugin.
func TestBenchXLAGraphBase(t *testing.T) {
	if !backend.HasXLACPU() {
		testdata.Need(t, "no XLA CPU PJRT plugin: PJRT_PLUGIN_LIBRARY_PATH (source .ci/venv.sh) or flowers setup")
	}
	out, err := benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "xla:cpu",
		"-refs", "", "-rounds", "1", "-xla-graph-base")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| flowerlib xla:cpu | flowerlib xla:cpu (base in XLA) |",
		"| ResNet50 forward, batch 1 | flowerlib xla:cpu (base in XLA) | ",
		"flowerlib xla:cpu: random Keras-layout weights (seed 1), conv path XLA's native convolution; frozen base: " + resnet50.BasePath(false, true),
		"base in XLA: the XLA backends with " + resnet50.EnvBase + "=graph"} {
		if !strings.Contains(out, want) {
			t.Errorf("the tables lack %q:\n%s", want, out)
		}
	}
	// Where each column's base ran, from the -json objects.
	out, err = benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "xla:cpu",
		"-refs", "", "-rounds", "1", "-xla-graph-base", "-json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"flowerlib xla:cpu": map[bool]string{true: "host", false: "graph"}[resnet50.BasePath(false, true) != "graph"],
		"flowerlib xla:cpu (base in XLA)": "graph"}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r benchResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got[r.Impl] = r.FrozenBase
	}
	if !maps.Equal(got, want) {
		t.Errorf("frozen bases %v, want %v", got, want)
	}
}

// TestBenchXLAFlagsVariant measures xla:cpu with and without an XLA_FLAGS setting in the same
// rounds: two columns, and the note naming the setting. It needs XLA's CPU plugin.
func TestBenchXLAFlagsVariant(t *testing.T) {
	if backend.Choose("") == "go" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no XLA PJRT plugin (source .ci/venv.sh)")
		}
		t.Skip("no XLA PJRT plugin: PJRT_PLUGIN_LIBRARY_PATH (source .ci/venv.sh) or flowers setup")
	}
	flags := "--xla_cpu_enable_fast_min_max=false"
	out, err := benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "xla:cpu",
		"-refs", "", "-rounds", "1", "-xla-flags", flags)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| flowerlib xla:cpu | flowerlib xla:cpu (XLA flags 1) |",
		"| ResNet50 forward, batch 1 | flowerlib xla:cpu (XLA flags 1) | ", `XLA flags 1: the XLA backends with XLA_FLAGS="` + flags + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the tables lack %q:\n%s", want, out)
		}
	}
}

// TestBenchISAEnvNote: variables that limit the vector extensions (here ATen's and oneDNN's)
// are listed under the tables, and the references report the code they then run.
func TestBenchISAEnvNote(t *testing.T) {
	t.Setenv("ATEN_CPU_CAPABILITY", "avx2")
	t.Setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
	refs := benchRefs(t)
	out, err := benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "go",
		"-refs", strings.Join(refs, ","), "-rounds", "1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vector extensions limited by the environment, for every implementation started by this run: ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2"}
	if slices.Contains(refs, "torch") {
		want = append(want, "vector code: ATen AVX2")
	}
	if slices.Contains(refs, "keras") {
		want = append(want, "oneDNN max ISA AVX2")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the notes lack %q:\n%s", w, out)
		}
	}
}
