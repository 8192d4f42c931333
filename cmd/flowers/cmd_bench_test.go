package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// benchStdout runs flowers bench with args and returns its stdout.
func benchStdout(t *testing.T, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	runErr := runBench(args)
	os.Stdout = old
	w.Close()
	return <-done, runErr
}

func TestBenchJSON(t *testing.T) {
	args := []string{"-batch", "1,2", "-size", "64", "-duration", "200ms", "-json", "-backends", "go"}
	withTorch := exec.Command("/usr/bin/python3", "-c", "import torch").Run() == nil
	if !withTorch {
		args = append(args, "-torch=false")
		t.Log("no /usr/bin/python3 with torch: PyTorch not measured")
	}
	out, err := benchStdout(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var got []benchResult
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r benchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", sc.Text(), err)
		}
		got = append(got, r)
		// The documented keys are all present.
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		for _, k := range []string{"backend", "batch", "images_per_sec", "torch_images_per_sec", "ratio", "peak_rss_mib"} {
			if _, ok := m[k]; !ok {
				t.Errorf("key %q missing in %s", k, sc.Text())
			}
		}
	}
	if len(got) != 2 || got[0].Batch != 1 || got[1].Batch != 2 {
		t.Fatalf("want one measurement per batch (1, 2), got %+v", got)
	}
	for _, r := range got {
		if r.Backend != "go" || r.ConvPath != "fast" || r.ImagesPerSec <= 0 || r.PeakRSSMiB <= 0 || r.Iterations < 1 {
			t.Errorf("implausible measurement %+v", r)
		}
		if withTorch {
			if r.TorchPerSec == nil || *r.TorchPerSec <= 0 || r.Ratio == nil ||
				*r.Ratio < 0.999*r.ImagesPerSec / *r.TorchPerSec || *r.Ratio > 1.001*r.ImagesPerSec / *r.TorchPerSec {
				t.Errorf("torch figures missing or inconsistent: %+v", r)
			}
		} else if r.TorchPerSec != nil || r.Ratio != nil {
			t.Errorf("torch figures without torch: %+v", r)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-batch", "0"}, {"-batch", "x"}, {"-size", "16"}, {"-conv", "gpu"}, {"extra"}} {
		if _, err := benchStdout(t, append(args, "-torch=false")...); err == nil {
			t.Errorf("flowers bench %v: no error", args)
		}
	}
}
