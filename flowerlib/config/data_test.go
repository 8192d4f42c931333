package config

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowerlib/flowers/flowerlib/download"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/weights"
	"github.com/flowerlib/flowers/internal/testdata"
)

func TestResolveOffline(t *testing.T) {
	t.Setenv(OfflineEnv, "1")
	t.Setenv(download.DataEnv, "")
	t.Setenv(weights.EnvWeights, "")
	cache := t.TempDir()
	var log bytes.Buffer
	s := Run{Cache: cache}.Resolve(&log)
	if s.Data != "embedded" || s.Weights != "random" {
		t.Errorf("offline auto chose Data %q, Weights %q; want embedded, random", s.Data, s.Weights)
	}
	if s.Auto != "auto → Data: the 50 embedded photos; Weights: random, so the accuracy means nothing; offline: $FLOWERS_OFFLINE=1" {
		t.Errorf("Auto %q", s.Auto)
	}
	if log.Len() != 0 {
		t.Errorf("offline on purpose printed %q", log.String())
	}
	if !s.Random() {
		t.Error("random weights not reported as random")
	}
	if !strings.Contains(s.String(), "(auto)            auto → Data: the 50 embedded photos;") {
		t.Errorf("the settings do not say what auto chose:\n%s", s)
	}
	// Explicit choices are kept, and ImageNet weights are not random.
	if s := (Run{Data: "sample", Weights: "imagenet", Cache: cache}).Resolve(nil); s.Data != "sample" || s.Weights != "imagenet" || s.Auto != "" || s.Random() {
		t.Errorf("explicit settings changed: %+v", s)
	}
	if !(Run{Weights: "random:3"}).Random() || (Run{Weights: "/w/random.h5"}).Random() {
		t.Error("Random of random:3 or of a file named random.h5")
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

// TestResolveOfflineSays: a fallback found by probing says so once, on the log.
func TestResolveOfflineSays(t *testing.T) {
	t.Setenv(OfflineEnv, "")
	t.Setenv(download.DataEnv, "")
	t.Setenv(weights.EnvWeights, "")
	cache := t.TempDir()
	// What a failed probe leaves: remembered, so this run does not wait for the network.
	os.WriteFile(filepath.Join(cache, ".offline"), []byte("dial tcp: lookup storage.googleapis.com: no such host\n"), 0o644)
	var log bytes.Buffer
	s := Run{Cache: cache, Weights: "random"}.Resolve(&log)
	if s.Data != "embedded" || s.Weights != "random" || log.Len() != 0 ||
		s.Auto != "auto → Data: the 50 embedded photos; offline: dial tcp: lookup storage.googleapis.com: no such host" {
		t.Errorf("remembered offline: %+v, log %q", s, log.String())
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
	s := Run{Cache: cache}.Resolve(nil)
	if s.Data != "download" || s.Weights != "imagenet" || s.Auto != "auto → Data: flower_photos; Weights: ImageNet" {
		t.Errorf("cached auto: %q %q %q", s.Data, s.Weights, s.Auto)
	}
	if _, err := os.Stat(filepath.Join(cache, ".offline")); err == nil || time.Since(start) > time.Second {
		t.Error("probed the network although everything was cached")
	}
	if d, err := s.DataDir(nil); err != nil || d != filepath.Join(cache, "flower_photos") {
		t.Errorf("DataDir %q, %v", d, err)
	}
	if got := s.WeightsSpec(); got != "imagenet" {
		t.Errorf("WeightsSpec %q", got)
	}
}

// TestEnvKeywords: $FLOWERS_DATA and $FLOWERS_WEIGHTS are both the settings' variables
// (FromEnv: "auto", "download", "imagenet", …) and where flowerlib looks for a copy of
// flower_photos or of the weights file: a keyword there is a setting, not a folder.
func TestEnvKeywords(t *testing.T) {
	t.Setenv(OfflineEnv, "1")
	cache := t.TempDir()
	// What Fetch leaves behind: flower_photos in the cache.
	os.MkdirAll(filepath.Join(cache, "flower_photos", "daisy"), 0o755)
	os.WriteFile(filepath.Join(cache, ".flower_photos.complete"), []byte("x\n"), 0o644)
	for _, kw := range []string{"download", "auto"} {
		t.Setenv(download.DataEnv, kw)
		t.Setenv(weights.EnvWeights, kw)
		s := Run{Data: "download", Weights: "auto", Cache: cache}.Resolve(nil)
		if s.Weights != "random" {
			t.Errorf("$FLOWERS_WEIGHTS=%s counted as cached weights: %q", kw, s.Weights)
		}
		if d, err := s.DataDir(nil); err != nil || d != filepath.Join(cache, "flower_photos") {
			t.Errorf("$FLOWERS_DATA=%s: DataDir %q, %v", kw, d, err)
		}
	}
	// A folder there is still where flower_photos is.
	other := t.TempDir()
	t.Setenv(download.DataEnv, other)
	if d, err := (Run{Data: "download", Weights: "random", Cache: cache}).DataDir(nil); err != nil || d != other {
		t.Errorf("$FLOWERS_DATA=%s: DataDir %q, %v", other, d, err)
	}
	if s := (Run{Weights: "random", Cache: t.TempDir()}).Resolve(nil); s.Data != "download" {
		t.Errorf("$FLOWERS_DATA=%s: auto chose %q", other, s.Data)
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
	// Offline on purpose: no probe.
	t.Setenv(OfflineEnv, "1")
	if up, why, probed := reachable(ok.URL, t.TempDir()); up || probed || why != "$FLOWERS_OFFLINE=1" {
		t.Errorf("$FLOWERS_OFFLINE=1: %v %q %v", up, why, probed)
	}
}

func TestDataDirSubset(t *testing.T) {
	sample := testdata.RequireSample(t)
	work := t.TempDir()
	s := Run{Data: sample, Work: work, PerClass: 3}
	dir, err := s.DataDir(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(work, "data-"+filepath.Base(sample)+"-3"); dir != want {
		t.Errorf("subset folder %q, want %q", dir, want)
	}
	tab, rep, err := labels.Scan(dir, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 15 || len(tab.Classes) != 5 {
		t.Fatalf("%d rows, %d classes, want 15 and 5", len(tab.Rows), len(tab.Classes))
	}
	for _, c := range tab.Counts() {
		if c.Count != 3 {
			t.Errorf("class %s has %d photos, want 3", c.Class, c.Count)
		}
	}
	if rep.License == nil {
		t.Error("LICENSE.txt not copied")
	}
	// Times are kept (the feature cache keys on them) and a second call changes nothing.
	p := tab.Rows[0].Path
	st1, _ := os.Stat(p)
	orig, _ := os.Stat(filepath.Join(sample, tab.Rows[0].Label, filepath.Base(p)))
	if !st1.ModTime().Equal(orig.ModTime()) {
		t.Errorf("copy time %v, original %v", st1.ModTime(), orig.ModTime())
	}
	time.Sleep(10 * time.Millisecond)
	if _, err := s.DataDir(nil); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(p); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second DataDir rewrote the copy")
	}
	if _, err := (Run{Data: filepath.Join(work, "nope"), Work: work, PerClass: 2}).DataDir(nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing folder: %v", err)
	}
	// "sample" is the same folder.
	t.Setenv(SampleEnv, sample)
	if d, err := (Run{Data: "sample"}).DataDir(nil); err != nil || d != sample {
		t.Errorf("Data sample: %q, %v", d, err)
	}
}
