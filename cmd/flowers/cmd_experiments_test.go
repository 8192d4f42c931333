package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLRFindAndCAMCommands runs the commands end to end on 20 sample photos (random weights,
// 32×32, avg head): lr-find prints the curve and a suggestion and writes its chart, a train
// in the same run folder starts at that rate, and cam explains the validation photos in a
// PNG gallery, one line per photo.
func TestLRFindAndCAMCommands(t *testing.T) {
	photos := samplePhotos(t, 200)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	for i, p := range photos {
		if i%10 != 0 { // 4 photos of each class
			continue
		}
		dst := filepath.Join(data, filepath.Base(filepath.Dir(p)), filepath.Base(p))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := filepath.Join(dir, "run")
	common := []string{"-data", data, "-weights", "random:1", "-run", run, "-size", "32", "-head", "avg", "-batch", "4", "-backend", "go"}
	out, code := flowers(t, dir, append([]string{"lr-find", "-steps", "40", "-plot", filepath.Join(dir, "lr.svg")}, common...)...)
	m := regexp.MustCompile(`suggested learning rate (\S+) \(steepest descent`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "learning rate  loss") || !strings.Contains(out, "flowers train -run "+run+" -lr ") {
		t.Fatalf("lr-find: exit %d:\n%s", code, out)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "lr.svg"))
	if err != nil || !bytes.Contains(svg, []byte(`class="flowers-xy-chart"`)) || !bytes.Contains(svg, []byte("suggested (steepest): ")) {
		t.Fatalf("lr-find chart: %v\n%.300s", err, svg)
	}
	if names, _ := filepath.Glob(filepath.Join(run, "ckpt-*")); len(names) > 0 {
		t.Errorf("lr-find left checkpoints: %v", names)
	}
	out, code = flowers(t, dir, append([]string{"train", "-epochs", "2", "-lr", m[1]}, common...)...)
	if code != 0 {
		t.Fatalf("train after lr-find: exit %d:\n%s", code, out)
	}
	out, code = flowers(t, dir, "cam", "-run", run, "-out", filepath.Join(dir, "cam.png"), "-backend", "go")
	lines := regexp.MustCompile(`(?m)^\S+\.jpg: (MISTAKE: )?true \w+, predicted \w+ \d+% \(CAM: strongest at row \d, column \d of 1×1\)$`).FindAllString(out, -1)
	var info struct {
		Split struct {
			Valid []string `json:"valid"`
		} `json:"split"`
	}
	if b, err := os.ReadFile(filepath.Join(run, "run.json")); err != nil || json.Unmarshal(b, &info) != nil || len(info.Split.Valid) == 0 {
		t.Fatalf("run.json: %v", err)
	}
	if code != 0 || len(lines) != len(info.Split.Valid) {
		t.Fatalf("cam: exit %d, %d photo lines, want %d (the validation photos):\n%s", code, len(lines), len(info.Split.Valid), out)
	}
	f, err := os.Open(filepath.Join(dir, "cam.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < len(lines)*128 {
		t.Fatalf("cam.png: %v, %v", err, img.Bounds())
	}
	// A photo given by name, and one that is not a photo.
	one, _ := filepath.Abs(photos[0])
	bad := filepath.Join(dir, "notes.jpg")
	_ = os.WriteFile(bad, []byte("not a photo"), 0o644)
	out, code = flowers(t, dir, "cam", "-run", run, "-out", filepath.Join(dir, "one.svg"), "-backend", "go", one, bad)
	if code != 1 || !strings.Contains(out, one+": predicted ") || !strings.Contains(out, bad+": skipped: ") ||
		!strings.Contains(out, "1 of the 2 photos could not be explained") {
		t.Fatalf("cam of two files: exit %d:\n%s", code, out)
	}
}
