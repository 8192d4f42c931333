package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
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
	args := []string{"-data", testdata.Photos(t), "-batch", "1,2", "-size", "64", "-duration", "200ms", "-photos", "10", "-epochs", "1",
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
	out, err := benchStdout(t, "-tasks", "forward", "-batch", "1", "-size", "64", "-duration", "100ms", "-backends", "go", "-refs", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| images/s (× PyTorch) | flowerlib go |", "| ResNet50 forward, batch 1 | ", "| ResNet50 forward, batch 1 | flowerlib go | "} {
		if !strings.Contains(out, want) {
			t.Errorf("the Markdown tables lack %q:\n%s", want, out)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-batch", "0"}, {"-batch", "x"}, {"-size", "16"}, {"-conv", "gpu"}, {"extra"},
		{"-tasks", "train"}, {"-tasks", ""}, {"-head-kinds", "max"}, {"-epochs", "0"}} {
		if _, err := benchStdout(t, append(args, "-refs", "")...); err == nil {
			t.Errorf("flowers bench %v: no error", args)
		}
	}
}
