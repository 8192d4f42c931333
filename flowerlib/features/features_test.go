package features

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/backend"
	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"github.com/flowerlib/flowers/flowerlib/internal/container"
	"github.com/flowerlib/flowers/flowerlib/resnet50"
)

// writePNG writes a size×size image filled with c plus a diagonal stripe.
func writePNG(t *testing.T, path string, c color.RGBA, size int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if (x+y)%8 < 3 {
				img.Set(x, y, color.RGBA{255 - c.R, 255 - c.G, 255 - c.B, 255})
			} else {
				img.Set(x, y, c)
			}
		}
	}
	imagestest.WritePNG(t, path, img)
}

// TestCacheRebuild runs the real (random-weights) ResNet50 on small images: the first Build
// computes, the second reuses, changing one image or corrupting the file rebuilds.
func TestCacheRebuild(t *testing.T) {
	b := backend.MustNew("go", nil)
	ex, err := resnet50.NewBase(b, resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	dir := t.TempDir()
	var paths []string
	for i, c := range []color.RGBA{{200, 30, 30, 255}, {30, 200, 30, 255}, {30, 30, 200, 255}} {
		p := filepath.Join(dir, "img"+string(rune('a'+i))+".png")
		writePNG(t, p, c, 40)
		paths = append(paths, p)
	}
	var log strings.Builder
	opts := Options{CacheDir: filepath.Join(dir, "cache"), Paths: paths, Size: 32, Pooling: "avg", WeightsID: "random:1", BatchSize: 2, Log: &log}
	s1, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The log says the figures that matter, not the cache file's hashed name (Set.Path).
	if got := log.String(); !regexp.MustCompile(`^features: computed 3×\[2048\] in \d+\.\ds \(\d+\.\d images/s\), cached\n$`).MatchString(got) {
		t.Errorf("first build's log %q", got)
	}
	log.Reset()
	if !s1.Rebuilt || s1.N != 3 || !slices.Equal(s1.Dims, []int{2048}) {
		t.Fatalf("first build: rebuilt=%v n=%d dims=%v", s1.Rebuilt, s1.N, s1.Dims)
	}
	row1 := slices.Clone(s1.Row(1))
	s1.Close()

	s2, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Rebuilt || s2.Path != s1.Path || !slices.Equal(s2.Row(1), row1) {
		t.Fatalf("second build should reuse the cache: rebuilt=%v", s2.Rebuilt)
	}
	if got := log.String(); got != "features: 3×[2048] from the cache\n" {
		t.Errorf("second build's log %q", got)
	}
	s2.Close()

	// Change one input image: another key, recomputed features for it.
	writePNG(t, paths[1], color.RGBA{240, 240, 20, 255}, 40)
	s3, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s3.Rebuilt || s3.Path == s1.Path {
		t.Fatalf("changed input: want a rebuild into a new file, got rebuilt=%v path=%s", s3.Rebuilt, s3.Path)
	}
	if slices.Equal(s3.Row(1), row1) {
		t.Fatal("changed input: the features of the changed image did not change")
	}
	path3 := s3.Path
	s3.Close()

	// Other weights → other key.
	if k1, _ := Key(opts); func() bool { o := opts; o.WeightsID = "random:2"; k2, _ := Key(o); return k1 == k2 }() {
		t.Fatal("weights id is not part of the key")
	}

	// Corrupt one data byte: detected and rebuilt.
	f, err := os.OpenFile(path3, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x7f}, 16+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(path3, ""); err == nil {
		t.Fatal("Open accepted a corrupt file")
	}
	s4, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s4.Rebuilt {
		t.Fatal("corrupt cache was reused")
	}
	s4.Close()
	tmps, _ := filepath.Glob(filepath.Join(opts.CacheDir, ".*tmp*"))
	if len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

// TestCraftedHeaderRebuilt: a cache file with valid checksums but impossible header values
// (negative image indices, rows that disagree with the data) is refused as corrupt, never
// read, and Build rebuilds it.
func TestCraftedHeaderRebuilt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.f32")
	for name, h := range map[string]header{
		"negative index": {Key: "k", N: 1, Dims: []int{2}, Indices: []int{-5}},
		"rows":           {Key: "k", N: 3, Dims: []int{2}, Indices: []int{0, 1, 2}},
		"dims":           {Key: "k", N: 1, Dims: []int{-2}, Indices: []int{0}},
	} {
		err := container.Write(path, Magic, 0o644, func(w *container.Writer) error {
			if err := w.AddFloat32("features", []int{1, 2}, []float32{1, 2}); err != nil {
				return err
			}
			return w.SetMeta(h)
		})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := Open(path, ""); err == nil || !container.IsCorrupt(err) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: want a corrupt-file error, got %v", name, err)
		}
	}
}

// sameSize pads the shorter of two PNG files with bytes after IEND (which decoders ignore)
// so that both have the same size.
func sameSize(t *testing.T, a, b string) {
	t.Helper()
	ba, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	for _, f := range []struct {
		path string
		data []byte
		n    int
	}{{a, ba, len(bb)}, {b, bb, len(ba)}} {
		if len(f.data) < f.n {
			os.WriteFile(f.path, append(f.data, make([]byte, f.n-len(f.data))...), 0o644)
		}
	}
}

// TestCacheKeyedByContent (BAD_INPUTS 27): a photo replaced by another of the same size with
// the same modification time (touch -r, cp -p, rsync -t, an archive) gets new features; the
// same photos under other names (a copied dataset) reuse the cache, their failures named by
// their new paths.
func TestCacheKeyedByContent(t *testing.T) {
	b := backend.MustNew("go", nil)
	ex, err := resnet50.NewBase(b, resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	dir := t.TempDir()
	a, other, bad := filepath.Join(dir, "a.png"), filepath.Join(dir, "other.png"), filepath.Join(dir, "bad.png")
	writePNG(t, a, color.RGBA{200, 30, 30, 255}, 40)
	writePNG(t, other, color.RGBA{30, 30, 200, 255}, 40)
	os.WriteFile(bad, []byte("not a picture"), 0o644)
	sameSize(t, a, other)
	opts := Options{CacheDir: filepath.Join(dir, "cache"), Paths: []string{a, bad}, Size: 32, Pooling: "avg", WeightsID: "random:1"}
	s1, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	row := slices.Clone(s1.Row(0))
	s1.Close()

	st, _ := os.Stat(a)
	replacement, _ := os.ReadFile(other)
	os.WriteFile(a, replacement, 0o644)
	os.Chtimes(a, st.ModTime(), st.ModTime())
	if now, _ := os.Stat(a); now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) {
		t.Fatalf("the replacement differs in size or time: %d %v, was %d %v", now.Size(), now.ModTime(), st.Size(), st.ModTime())
	}
	s2, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !s2.Rebuilt || slices.Equal(s2.Row(0), row) {
		t.Errorf("a replaced photo of the same size and time: rebuilt=%v, features unchanged=%v", s2.Rebuilt, slices.Equal(s2.Row(0), row))
	}
	s2.Close()

	copied := filepath.Join(dir, "copy")
	os.Mkdir(copied, 0o755)
	var paths []string
	for _, p := range opts.Paths {
		data, _ := os.ReadFile(p)
		q := filepath.Join(copied, filepath.Base(p))
		os.WriteFile(q, data, 0o644)
		paths = append(paths, q)
	}
	opts.Paths = paths
	s3, err := Build(ex, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if s3.Rebuilt || len(s3.Failures) != 1 || s3.Failures[0].Path != paths[1] {
		t.Errorf("a copied dataset: rebuilt=%v, failures %+v (want %s)", s3.Rebuilt, s3.Failures, paths[1])
	}
}

// TestExtractEveryInputAnswered (BAD_INPUTS 29): a list of photos with a missing file, a
// folder and a named pipe among them gives the good ones their features and each bad one its
// reason, in input order; nothing aborts, and the pipe is never opened (it would block).
func TestExtractEveryInputAnswered(t *testing.T) {
	b := backend.MustNew("go", nil)
	ex, err := resnet50.NewBase(b, resnet50.RandomWeights(1, false), resnet50.Options{Pooling: resnet50.PoolingAvg})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	dir := t.TempDir()
	good1, good2 := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	writePNG(t, good1, color.RGBA{200, 30, 30, 255}, 40)
	writePNG(t, good2, color.RGBA{30, 200, 30, 255}, 40)
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{good1, filepath.Join(dir, "missing.jpg"), dir, fifo, good2}
	var got []int
	failures, err := Extract(ex, paths, Options{Size: 32}, func(indices []int, feats []float32) error {
		got = append(got, indices...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 4}) {
		t.Errorf("features for %v, want [0 4]", got)
	}
	want := []Failure{
		{Index: 1, Path: paths[1], Reason: "does not exist"},
		{Index: 2, Path: dir, Reason: "is a folder, not a photo"},
		{Index: 3, Path: fifo, Reason: "is not a regular file (a named pipe): only regular files are read as photos"},
	}
	if !slices.Equal(failures, want) {
		t.Errorf("failures:\n%+v\nwant\n%+v", failures, want)
	}
}
