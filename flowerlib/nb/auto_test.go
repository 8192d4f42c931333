package nb

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/metrics"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

func TestResolveOffline(t *testing.T) {
	t.Setenv(OfflineEnv, "1")
	t.Setenv(download.DataEnv, "")
	t.Setenv(weights.EnvWeights, "")
	cache := t.TempDir()
	var log bytes.Buffer
	s := Settings{Cache: cache}.Resolve(&log)
	if s.Data != "embedded" || s.Weights != "random" {
		t.Errorf("offline auto chose Data %q, Weights %q; want embedded, random", s.Data, s.Weights)
	}
	if s.Auto != "auto → Data: the 50 embedded photos; Weights: random, so the accuracy means nothing; offline: $FLOWERS_OFFLINE=1" {
		t.Errorf("Auto %q", s.Auto)
	}
	if log.Len() != 0 {
		t.Errorf("offline on purpose printed %q", log.String())
	}
	if !strings.Contains(s.Banner(), "means nothing") {
		t.Errorf("random weights without a banner: %q", s.Banner())
	}
	// Explicit choices are kept, and ImageNet weights have no banner.
	if s := (Settings{Data: "sample", Weights: "imagenet", Cache: cache}).Resolve(nil); s.Data != "sample" || s.Weights != "imagenet" || s.Auto != "" || s.Banner() != "" {
		t.Errorf("explicit settings changed: %+v", s)
	}
	// The embedded sample is a dataset folder under the cache.
	dir, err := s.DataDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	tab, _, err := labels.Scan(dir, labels.Options{})
	if err != nil || len(tab.Rows) != 50 || !strings.HasPrefix(dir, cache) {
		t.Errorf("embedded data %q: %v rows, %v", dir, len(tab.Rows), err)
	}
}

func TestResolveCached(t *testing.T) {
	t.Setenv(OfflineEnv, "")
	t.Setenv(download.DataEnv, "")
	t.Setenv(weights.EnvWeights, "")
	cache := t.TempDir()
	// What Fetch and the weights download leave behind.
	os.MkdirAll(filepath.Join(cache, "flower_photos", "daisy"), 0o755)
	os.WriteFile(filepath.Join(cache, ".flower_photos.complete"), []byte("x\n"), 0o644)
	os.MkdirAll(filepath.Join(cache, "weights"), 0o755)
	os.WriteFile(filepath.Join(cache, "weights", filepath.Base(weights.NoTopURL)), []byte("h5"), 0o644)
	start := time.Now()
	s := Settings{Cache: cache}.Resolve(nil)
	if s.Data != "download" || s.Weights != "imagenet" || s.Auto != "auto → Data: flower_photos; Weights: ImageNet" {
		t.Errorf("cached auto: %q %q %q", s.Data, s.Weights, s.Auto)
	}
	if _, err := os.Stat(filepath.Join(cache, ".offline")); err == nil || time.Since(start) > time.Second {
		t.Error("probed the network although everything was cached")
	}
	if d, err := s.DataDir(nil); err != nil || d != filepath.Join(cache, "flower_photos") {
		t.Errorf("DataDir %q, %v", d, err)
	}
}

func TestReachable(t *testing.T) {
	t.Setenv(OfflineEnv, "")
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			t.Errorf("probe used %s", r.Method)
		}
	}))
	defer ok.Close()
	cache := t.TempDir()
	if up, why, probed := reachable(ok.URL, cache); !up || why != "" || !probed {
		t.Errorf("reachable server: %v %q %v", up, why, probed)
	}
	missing := httptest.NewServer(http.NotFoundHandler())
	defer missing.Close()
	if up, why, _ := reachable(missing.URL, cache); up || why != "HTTP 404 Not Found" {
		t.Errorf("404: %v %q", up, why)
	}
	// Remembered: the next check does not probe, and says why.
	if up, why, probed := reachable(ok.URL, cache); up || probed || why != "HTTP 404 Not Found" {
		t.Errorf("remembered failure: %v %q %v", up, why, probed)
	}
	// A server that never answers costs ProbeTimeout, not more.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * ProbeTimeout):
		}
	}))
	defer hang.Close()
	start := time.Now()
	up, why, _ := reachable(hang.URL, t.TempDir())
	if took := time.Since(start); up || why != "no answer within 3s" || took > ProbeTimeout+time.Second {
		t.Errorf("hanging server: %v %q after %s", up, why, took)
	}
	// Offline for real (nothing listens on the port): a quick, clear reason.
	l := httptest.NewServer(http.NotFoundHandler())
	url := l.URL
	l.Close()
	if up, why, _ := reachable(url, t.TempDir()); up || !strings.Contains(why, "connection refused") {
		t.Errorf("closed port: %v %q", up, why)
	}
}

func TestProgressLines(t *testing.T) {
	p := &Progress{}
	p.feed([]byte("features  10% |██        | (2/20)\r\x1b[2Kfeatures  50% |█████     | (10/20)"))
	done, cur := p.Lines()
	if len(done) != 0 || cur != "features  50% |█████     | (10/20)" {
		t.Errorf("after redraw: %q %q", done, cur)
	}
	p.feed([]byte("\rfeatures 100% (20/20)\ndecoded 20 images\n"))
	done, cur = p.Lines()
	if strings.Join(done, "|") != "features 100% (20/20)|decoded 20 images" || cur != "" {
		t.Errorf("finished lines %q, current %q", done, cur)
	}
	var lines []string
	for i := range 9 {
		lines = append(lines, strings.Repeat("x", i+1))
	}
	h := progressText("decode", lines, "now <b>")
	if !strings.Contains(h, "<b>decode</b>") || !strings.Contains(h, "… 3 earlier lines") || strings.Contains(h, "\nxx\n") ||
		!strings.Contains(h, "xxxxxxxxx\nnow &lt;b&gt;") {
		t.Errorf("progress block:\n%s", h)
	}
}

func TestFigureBundle(t *testing.T) {
	fig := plots.BarChart(plots.Chart{Title: "images per class", Width: 300, Height: 200}, []plots.Bar{{Label: "daisy", Value: 3}})
	d, err := figureData(fig, "id-1")
	if err != nil {
		t.Fatal(err)
	}
	svg, _ := d.Data[protocol.MIMEImageSVG].(string)
	raw, _ := d.Data[protocol.MIMEImagePNG].([]byte)
	if !strings.HasPrefix(svg, "<svg ") || d.Data[protocol.MIMETextPlain] != "[images per class]" || d.DisplayID != "id-1" {
		t.Errorf("bundle %v", d.Data[protocol.MIMETextPlain])
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	size := d.Metadata[string(protocol.MIMEImagePNG)].(map[string]int)
	if img.Bounds().Dx() != 600 || img.Bounds().Dy() != 400 || size["width"] != 300 || size["height"] != 200 {
		t.Errorf("PNG %v shown at %v, want 600×400 shown at 300×200", img.Bounds(), size)
	}
	b := plots.WithBanner(fig, "random weights")
	if b.Height != 230 || !strings.Contains(b.SVG(), `fill="#8a1c00" font-weight="bold">random weights</text>`) || !strings.Contains(b.Title, "random weights") {
		t.Errorf("banner figure %d high, title %q:\n%s", b.Height, b.Title, b.SVG())
	}
	// A long banner wraps to the figure's width.
	long := plots.WithBanner(fig, strings.Repeat("accuracy means nothing ", 6))
	if n := strings.Count(long.SVG(), `class="banner" fill`); n < 3 || long.Height < 200+16*n {
		t.Errorf("long banner: %d lines, figure %d high", n, long.Height)
	}
}

func TestPhotoPrediction(t *testing.T) {
	dir, err := Settings{Data: "embedded", Cache: t.TempDir()}.DataDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "roses"))
	photo := filepath.Join(dir, "roses", entries[0].Name())
	f, err := PhotoPrediction(photo, 96, []metrics.Guess{{Class: "roses", Probability: 0.7}, {Class: "tulips", Probability: 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	s := f.SVG()
	if !strings.Contains(s, `class="flowers-image-grid"`) || !strings.Contains(s, `class="flowers-bar-chart"`) || !strings.Contains(s, ">70<") {
		t.Errorf("photo prediction figure: %.300s", s)
	}
	if _, err := PhotoPrediction(filepath.Join(dir, "nope.jpg"), 96, nil); err == nil || !strings.Contains(err.Error(), "nope.jpg") {
		t.Errorf("missing photo: %v", err)
	}
}
