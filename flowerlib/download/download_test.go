package download

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/images/imagestest"
	"github.com/flowerlib/flowers/flowerlib/labels"
)

type entry struct {
	name, link string
	typ        byte
	data       []byte
}

func tgz(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data))}
		if e.typ == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil // not encodable (fuzzed names); callers check
		}
		if hdr.Size > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// server serves body at /file and counts requests.
func server(t *testing.T, body *[]byte) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		switch r.URL.Path {
		case "/file", "/flower_photos.tgz":
			_, _ = w.Write(*body)
		case "/cut":
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte("only a few bytes"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".part-") || strings.Contains(e.Name(), ".extract-") {
			t.Errorf("temporary %q left behind", e.Name())
		}
	}
}

func TestFileTrustOnFirstUse(t *testing.T) {
	body := []byte("first version of the file")
	srv, requests := server(t, &body)
	dir := t.TempDir()
	dest := filepath.Join(dir, "f.bin")
	if err := File(srv.URL+"/file", dest, "", nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	rec, _ := os.ReadFile(dest + SumSuffix)
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) || !strings.HasPrefix(string(rec), hex.EncodeToString(sum[:])+"  f.bin") {
		t.Fatalf("content %q, recorded %q", got, rec)
	}
	// A second call does nothing (no request).
	if err := File(srv.URL+"/file", dest, "", nil); err != nil || requests.Load() != 1 {
		t.Fatalf("second call: %v, %d requests", err, requests.Load())
	}
	// A corrupted cached copy is downloaded again and checked against the record.
	if err := os.WriteFile(dest, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := File(srv.URL+"/file", dest, "", nil); err != nil || requests.Load() != 2 {
		t.Fatalf("re-download: %v, %d requests", err, requests.Load())
	}
	// Upstream changed: refused, the recorded hash wins.
	body = []byte("tampered")
	_ = os.Remove(dest)
	err := File(srv.URL+"/file", dest, "", nil)
	if err == nil || !strings.Contains(err.Error(), "differs from the one recorded at the first download") {
		t.Fatalf("changed upstream: %v", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("a file failing its check was installed")
	}
	noTemps(t, dir)
}

func TestFilePinned(t *testing.T) {
	body := []byte("weights file")
	srv, _ := server(t, &body)
	dir := t.TempDir()
	s := sha256.Sum256(body)
	m := md5.Sum(body)
	for _, sum := range []string{"sha256:" + hex.EncodeToString(s[:]), "md5:" + hex.EncodeToString(m[:])} {
		dest := filepath.Join(dir, strings.Split(sum, ":")[0])
		if err := File(srv.URL+"/file", dest, sum, &Options{Size: int64(len(body))}); err != nil {
			t.Fatalf("%s: %v", sum, err)
		}
		if _, err := os.Stat(dest + SumSuffix); err == nil {
			t.Errorf("pinned checksum should not record a trust-on-first-use file")
		}
	}
	bad := []struct{ url, sum, want string }{
		{"/file", "md5:" + strings.Repeat("0", 32), "does not match the pinned"},
		{"/file", "sha1:abc", "want \"sha256:"},
		{"/missing", "", "HTTP 404"},
		{"/cut", "", "unexpected EOF"},
	}
	for _, b := range bad {
		dest := filepath.Join(dir, "bad")
		err := File(srv.URL+b.url, dest, b.sum, nil)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s %s: got %v, want %q", b.url, b.sum, err, b.want)
		}
		if _, err := os.Stat(dest); err == nil {
			t.Errorf("%s: file installed despite the error", b.url)
		}
	}
	if err := File(srv.URL+"/file", filepath.Join(dir, "sized"), "", &Options{Size: 5}); err == nil || !strings.Contains(err.Error(), "got 12 bytes, want 5") {
		t.Errorf("size check: %v", err)
	}
	noTemps(t, dir)
}

func TestFetchFlowers(t *testing.T) {
	img := imagestest.JPEG(imagestest.Smooth(16, 12))
	body := tgz(t, []entry{
		{name: "flower_photos/", typ: tar.TypeDir},
		{name: "flower_photos/LICENSE.txt", data: []byte("CC-BY\n\ndaisy/a.jpg CC-BY by X - https://example.org/a/\n")},
		{name: "flower_photos/daisy/a.jpg", data: img},
		{name: "flower_photos/roses/b.jpg", data: img},
		{name: "flower_photos/roses/c.jpg", data: img},
	})
	srv, requests := server(t, &body)
	cache := t.TempDir()
	a := Archive{URL: srv.URL + "/flower_photos.tgz", Top: "flower_photos", Size: int64(len(body))}
	var progress bytes.Buffer
	dir, err := a.Fetch(cache, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(cache, "flower_photos") || !strings.Contains(progress.String(), "extracting") {
		t.Errorf("dir %q, progress %q", dir, progress.String())
	}
	tab, rep, err := labels.Scan(dir, labels.Options{})
	if err != nil || len(tab.Rows) != 3 || rep.License == nil {
		t.Fatalf("scan of the extracted dataset: %v", err)
	}
	if again, err := a.Fetch(cache, nil); err != nil || again != dir || requests.Load() != 1 {
		t.Errorf("second Fetch: %v, %d requests", err, requests.Load())
	}
	noTemps(t, cache)

	// Offline: the error names the URL and the two ways to use a local copy.
	off := Archive{URL: "http://127.0.0.1:1/flower_photos.tgz", Top: "flower_photos"}
	_, err = off.Fetch(t.TempDir(), nil)
	for _, want := range []string{"http://127.0.0.1:1/flower_photos.tgz", "-data DIR", "FLOWERS_DATA=DIR", "connection refused"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("offline error %v lacks %q", err, want)
		}
	}
	t.Setenv(DataEnv, "/some/where")
	if got, _ := ResolveData("", "", nil); got != "/some/where" {
		t.Errorf("ResolveData with $%s: %q", DataEnv, got)
	}
	if got, _ := ResolveData("flag/dir", "", nil); got != "flag/dir" {
		t.Errorf("ResolveData with the flag: %q", got)
	}
}

func TestExtractRejectsEscapes(t *testing.T) {
	ok := entry{name: "flower_photos/daisy/a.jpg", data: []byte("x")}
	cases := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"dotdot", []entry{ok, {name: "../evil.txt", data: []byte("x")}}, `entry "../evil.txt" contains ".."`},
		{"inner dotdot", []entry{{name: "flower_photos/../../evil.txt", data: []byte("x")}}, `contains ".."`},
		{"absolute", []entry{{name: "/tmp/evil.txt", data: []byte("x")}}, "absolute"},
		{"symlink out", []entry{{name: "flower_photos/l", link: "../../etc", typ: tar.TypeSymlink}}, "points outside the target folder"},
		{"symlink abs", []entry{{name: "flower_photos/l", link: "/etc/passwd", typ: tar.TypeSymlink}}, "absolute path"},
		{"through symlink", []entry{{name: "flower_photos/l", link: "daisy", typ: tar.TypeSymlink}, {name: "flower_photos/l/x.jpg", data: []byte("x")}}, "through the symlink"},
		{"hard link", []entry{ok, {name: "flower_photos/h", link: "flower_photos/daisy/a.jpg", typ: tar.TypeLink}}, "hard link, device or FIFO"},
		{"device", []entry{{name: "flower_photos/dev", typ: tar.TypeChar}}, "hard link, device or FIFO"},
	}
	for _, c := range cases {
		top := t.TempDir()
		archive := filepath.Join(top, "a.tgz")
		if err := os.WriteFile(archive, tgz(t, c.entries), 0o644); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(top, "sub", "out")
		err := ExtractTarGz(archive, target)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
		for _, p := range []string{filepath.Join(top, "sub", "evil.txt"), filepath.Join(top, "evil.txt")} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s: %q was written outside the target", c.name, p)
			}
		}
	}
	// A symlink that stays inside is fine.
	top := t.TempDir()
	archive := filepath.Join(top, "a.tgz")
	_ = os.WriteFile(archive, tgz(t, []entry{ok, {name: "flower_photos/alias", link: "daisy/a.jpg", typ: tar.TypeSymlink}}), 0o644)
	if err := ExtractTarGz(archive, filepath.Join(top, "out")); err != nil {
		t.Errorf("inner symlink: %v", err)
	}
	// Not gzip at all.
	_ = os.WriteFile(archive, []byte("<html>captive portal</html>"), 0o644)
	if err := ExtractTarGz(archive, filepath.Join(top, "out2")); err == nil || !strings.Contains(err.Error(), "not gzip-compressed") {
		t.Errorf("non-gzip: %v", err)
	}
}
