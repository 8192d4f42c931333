package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
)

// smallDataset writes perClass small JPEGs into root/a and root/b and returns the first.
func smallDataset(t *testing.T, root string, perClass int) string {
	t.Helper()
	jpg := imagestest.JPEG(imagestest.Pattern(40, 40))
	first := ""
	for _, c := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range perClass {
			p := filepath.Join(root, c, string(rune('0'+i))+".jpg")
			if err := os.WriteFile(p, jpg, 0o644); err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = p
			}
		}
	}
	return first
}

// unchanged fails unless path still holds want.
func unchanged(t *testing.T, path string, want []byte) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s was changed (%v)", path, err)
	}
}

// refused checks a refusal to replace a file: exit status 2 and a message naming the file
// and -force.
func refused(t *testing.T, out string, code int, path string) {
	t.Helper()
	if code != 2 || !strings.Contains(out, `"`+path+`" exists and is not`) || !strings.Contains(out, "-force") {
		t.Errorf("exit %d, want 2 naming %s and -force:\n%s", code, path, out)
	}
}

// TestLabelsOutNeverReplacesOthers (BAD_INPUTS 24): labels -out refuses a photo, inside the
// dataset or not, and a CSV it did not write (pandas' to_csv); it replaces its own CSV, and
// -force replaces the others (never a photo of the dataset).
func TestLabelsOutNeverReplacesOthers(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	photo := smallDataset(t, data, 2)
	jpg, _ := os.ReadFile(photo)
	out, code := flowers(t, dir, "labels", "-data", data, "-out", photo)
	if code != 2 || !strings.Contains(out, photo) {
		t.Errorf("-out a photo of the dataset: exit %d:\n%s", code, out)
	}
	unchanged(t, photo, jpg)
	out, code = flowers(t, dir, "labels", "-data", data, "-out", photo, "-force")
	if code != 2 || !strings.Contains(out, "is inside the dataset folder") {
		t.Errorf("-out a photo of the dataset with -force: exit %d:\n%s", code, out)
	}
	unchanged(t, photo, jpg)

	outside := filepath.Join(dir, "photo.csv")
	os.WriteFile(outside, jpg, 0o644)
	out, code = flowers(t, dir, "labels", "-data", data, "-out", outside)
	refused(t, out, code, outside)
	unchanged(t, outside, jpg)

	pandas := filepath.Join(dir, "flowers.csv")
	byPandas := []byte("images,labels\n" + photo + ",a\n")
	os.WriteFile(pandas, byPandas, 0o644)
	out, code = flowers(t, dir, "labels", "-data", data, "-out", pandas)
	refused(t, out, code, pandas)
	unchanged(t, pandas, byPandas)

	mine := filepath.Join(dir, "labels.csv")
	for i := range 2 { // written, then replaced: it is flowers'
		if out, code := flowers(t, dir, "labels", "-data", data, "-out", mine); code != 0 {
			t.Fatalf("labels -out %s (run %d): exit %d:\n%s", mine, i+1, code, out)
		}
	}
	if out, code := flowers(t, dir, "labels", "-data", data, "-out", pandas, "-force"); code != 0 {
		t.Errorf("-force: exit %d:\n%s", code, out)
	}
	if b, _ := os.ReadFile(pandas); bytes.Equal(b, byPandas) {
		t.Errorf("-force did not replace %s", pandas)
	}
	out, code = flowers(t, dir, "labels", "-data", data, "-out", filepath.Join(dir, "labels.txt"))
	if code != 2 || !strings.Contains(out, "must be a .csv file") {
		t.Errorf("-out labels.txt: exit %d:\n%s", code, out)
	}
}

// TestFeaturesCompanionNeverReplacesOthers (BAD_INPUTS 25): features -out X.npy also writes
// X.csv; a X.csv (or X.npy) it did not write stops it before any work, naming the file and
// -force; its own pair is replaced.
func TestFeaturesCompanionNeverReplacesOthers(t *testing.T) {
	dir := t.TempDir()
	photo := smallDataset(t, filepath.Join(dir, "data"), 1)
	npyPath, csvPath := filepath.Join(dir, "flowers.npy"), filepath.Join(dir, "flowers.csv")
	theirs := []byte("images,labels\n\"data/a/0.jpg\",\"a\"\n") // a labels table: not a row list
	os.WriteFile(csvPath, theirs, 0o644)
	args := []string{"features", "-weights", "random:1", "-size", "32", "-pooling", "avg", "-backend", "go", "-out", npyPath}
	out, code := flowers(t, dir, append(args, photo)...)
	refused(t, out, code, csvPath)
	unchanged(t, csvPath, theirs)
	if _, err := os.Stat(npyPath); !os.IsNotExist(err) {
		t.Errorf("%s was written although its row list was refused", npyPath)
	}
	if out, code := flowers(t, dir, append(args, "-force", photo)...); code != 0 {
		t.Fatalf("-force: exit %d:\n%s", code, out)
	}
	rows, _ := os.ReadFile(csvPath)
	if !strings.HasPrefix(string(rows), "row,images\n0,") {
		t.Errorf("row list:\n%s", rows)
	}
	if out, code := flowers(t, dir, append(args, photo)...); code != 0 { // its own pair: replaced
		t.Fatalf("again: exit %d:\n%s", code, out)
	}
	// A float32 .npy without flowers' row list beside it is someone else's.
	other := filepath.Join(dir, "other.npy")
	b, _ := os.ReadFile(npyPath)
	os.WriteFile(other, b, 0o644)
	out, code = flowers(t, dir, "features", "-weights", "random:1", "-size", "32", "-backend", "go", "-out", other, photo)
	refused(t, out, code, other)
}

// TestWeightsOutNeverReplacesOthers (BAD_INPUTS 26): weights -random -out refuses an existing
// .h5 that flowers did not write; it replaces one it wrote.
func TestWeightsOutNeverReplacesOthers(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.h5")
	theirs := []byte("\x89HDF\r\n\x1a\n someone's model")
	os.WriteFile(existing, theirs, 0o644)
	out, code := flowers(t, dir, "weights", "-random", "-out", existing)
	refused(t, out, code, existing)
	unchanged(t, existing, theirs)
	mine := filepath.Join(dir, "mine.h5")
	for i := range 2 {
		if out, code := flowers(t, dir, "weights", "-random", "-seed", "2", "-out", mine); code != 0 {
			t.Fatalf("weights -random -out %s (run %d): exit %d:\n%s", mine, i+1, code, out)
		}
	}
	if out, code := flowers(t, dir, "weights", "-random", "-out", existing, "-force"); code != 0 {
		t.Errorf("-force: exit %d:\n%s", code, out)
	}
}

// TestPictureMark: the pictures flowers writes carry its mark (a PNG "Software" text chunk,
// an SVG generator comment) and stay valid; a picture without it is refused as an output.
func TestPictureMark(t *testing.T) {
	dir := t.TempDir()
	plain := imagestest.PNG(imagestest.Pattern(8, 8))
	marked := markFigure(plain, false)
	if img, err := png.Decode(bytes.NewReader(marked)); err != nil || img.Bounds().Dx() != 8 {
		t.Fatalf("the marked PNG does not decode: %v", err)
	}
	for name, c := range map[string]struct {
		data []byte
		ours bool
	}{
		"marked.png": {marked, true}, "plain.png": {plain, false},
		"marked.svg": {markFigure([]byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), true), true},
		"plain.svg":  {[]byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`), false},
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, c.data, 0o644)
		if got := isFlowersFigure(path); got != c.ours {
			t.Errorf("%s: recognised as flowers' = %v, want %v", name, got, c.ours)
		}
		err := checkFigureOutput("out", path, false)
		if (err == nil) != c.ours {
			t.Errorf("%s as an output: %v", name, err)
		}
	}
}

// TestEveryInputGetsItsAnswer (BAD_INPUTS 29): predict and cam on a list of photos with a
// missing one, a folder and a named pipe among them answer every good photo, name each bad
// one with its reason, and only then fail (exit 1); cam still writes its picture.
func TestEveryInputGetsItsAnswer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	smallDataset(t, data, 4)
	run := filepath.Join(dir, "run")
	if out, code := flowers(t, dir, "train", "-data", data, "-weights", "random:1", "-run", run, "-size", "32", "-head", "avg",
		"-epochs", "1", "-batch", "4", "-backend", "go"); code != 0 {
		t.Fatalf("train: exit %d:\n%s", code, out)
	}
	good, _ := filepath.Glob(filepath.Join(data, "*", "*.jpg"))
	missing, folder, pipe := filepath.Join(dir, "missing.jpg"), filepath.Join(data, "a"), filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	list := append([]string{missing, folder, pipe}, good...)
	out, code := flowers(t, dir, append([]string{"predict", "-run", run, "-backend", "go"}, list...)...)
	answered := regexp.MustCompile(`(?m)^\S+\.jpg: (a|b) \d\.\d{3}, `).FindAllString(out, -1)
	if code != 1 || len(answered) != len(good) || !strings.Contains(out, missing+": skipped: does not exist\n") ||
		!strings.Contains(out, folder+": skipped: is a folder, not a photo\n") ||
		!strings.Contains(out, pipe+": skipped: is not a regular file (a named pipe): only regular files are read as photos\n") ||
		!strings.Contains(out, fmt.Sprintf("3 of the %d images could not be classified", len(list))) {
		t.Errorf("predict: exit %d, %d answered of %d:\n%s", code, len(answered), len(good), out)
	}
	png := filepath.Join(dir, "cam.png")
	out, code = flowers(t, dir, append([]string{"cam", "-run", run, "-backend", "go", "-out", png}, good[0], missing)...)
	if code != 1 || !strings.Contains(out, good[0]+": predicted ") || !strings.Contains(out, missing+": skipped: does not exist") {
		t.Errorf("cam: exit %d:\n%s", code, out)
	}
	if !isFlowersFigure(png) {
		t.Errorf("cam did not write %s", png)
	}
}

// TestProfileOutput: bench -cpuprofile replaces a CPU profile (runtime/pprof's) but not another
// file, gzip'd or not.
func TestProfileOutput(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.prof")
	f, _ := os.Create(prof)
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	pprof.StopCPUProfile()
	f.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello, a tarball"))
	zw.Close()
	other := filepath.Join(dir, "notes.gz")
	os.WriteFile(other, gz.Bytes(), 0o644)
	if err := checkOutput("cpuprofile", prof, profile, false, nil); err != nil {
		t.Errorf("a CPU profile: %v", err)
	}
	if err := checkOutput("cpuprofile", other, profile, false, nil); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Errorf("a gzip file: %v", err)
	}
}
