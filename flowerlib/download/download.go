// Package download fetches files into a cache folder safely: to a temporary file, checked
// against a checksum, then renamed, so an interrupted download never leaves a file that
// looks complete; and it extracts .tar.gz archives so that no entry can escape the target.
package download

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/errors"
	"github.com/schollz/progressbar/v3"
)

// Options tune File. A nil *Options means no size check, no progress bar and
// http.DefaultClient with a connect timeout.
type Options struct {
	Size     int64     // expected size in bytes; 0 = unknown
	Progress io.Writer // progress bar destination (usually os.Stderr); nil = none
	Client   *http.Client
}

// SumSuffix is appended to a downloaded file's name for its recorded SHA-256 (trust on
// first use, when no checksum is pinned).
const SumSuffix = ".sha256"

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   30 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
}}

// parseChecksum splits "sha256:HEX" or "md5:HEX".
func parseChecksum(sum string) (algo, want string, h func() hash.Hash, err error) {
	if sum == "" {
		return "sha256", "", sha256.New, nil
	}
	algo, want, ok := strings.Cut(strings.ToLower(sum), ":")
	switch {
	case !ok:
		return "", "", nil, errors.Errorf("checksum %q: want \"sha256:HEX\" or \"md5:HEX\"", sum)
	case algo == "sha256" && len(want) == 64:
		return algo, want, sha256.New, nil
	case algo == "md5" && len(want) == 32:
		return algo, want, md5.New, nil
	}
	return "", "", nil, errors.Errorf("checksum %q: want \"sha256:\" + 64 hex digits or \"md5:\" + 32", sum)
}

// FileSum returns the hex digest of a file with algo "sha256" or "md5".
func FileSum(path, algo string) (string, error) {
	var h hash.Hash
	switch algo {
	case "sha256":
		h = sha256.New()
	case "md5":
		h = md5.New()
	default:
		return "", errors.Errorf("unknown checksum algorithm %q (want sha256 or md5)", algo)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", errors.Wrapf(err, "reading %q", path)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", errors.Wrapf(err, "reading %q", path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// File makes sure dest holds the file at url and returns nil when it does.
//
// checksum is "sha256:HEX" or "md5:HEX" (pinned: a file that does not match is an error,
// or re-downloaded when it was the cached copy), or "" for trust on first use: the
// SHA-256 of the first complete download is recorded in dest+".sha256" and every later
// call checks the file (and any re-download) against it. Either way the body goes to a
// temporary file in dest's folder, is checked (size when opts.Size > 0, then checksum),
// synced and renamed over dest.
//
// A second call with the file in place only re-checks it. Network errors name the URL.
func File(url, dest, checksum string, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	algo, want, newHash, err := parseChecksum(checksum)
	if err != nil {
		return err
	}
	recorded := ""
	if want == "" {
		recorded = recordedSum(dest)
	}
	if done, err := checkCached(dest, algo, want, recorded); done || err != nil {
		return err
	}
	h := newHash()
	tmp, err := fetch(url, dest, h, opts)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	got := hex.EncodeToString(h.Sum(nil))
	if err := checkDownload(url, dest, algo, got, want, recorded); err != nil {
		tmp.Close()
		return err
	}
	if err := install(tmp, dest); err != nil {
		return err
	}
	if want == "" && recorded == "" {
		return recordSum(dest, got)
	}
	return nil
}

// recordedSum returns the SHA-256 recorded in dest+SumSuffix at the first download, or ""
// when there is none.
func recordedSum(dest string) string {
	raw, err := os.ReadFile(dest + SumSuffix)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.Fields(string(raw) + " ")[0])
}

// checkCached reports whether dest is already there and matches the pinned checksum want
// or, under trust on first use, the recorded one; a copy with no checksum to check gets
// its SHA-256 recorded. A missing, corrupt or changed copy is not done: download it.
func checkCached(dest, algo, want, recorded string) (done bool, err error) {
	if _, err := os.Stat(dest); err != nil {
		return false, nil
	}
	got, err := FileSum(dest, algo)
	if err != nil {
		return false, err
	}
	switch {
	case want != "" && got == want, want == "" && recorded == got:
		return true, nil
	case want == "" && recorded == "":
		return true, recordSum(dest, got) // a copy the user put there: trust it from now on
	}
	return false, nil
}

// fetch downloads url into a new temporary file in dest's folder (created if needed),
// hashing it into h and checking its size against opts.Size; it returns the file open,
// or removes it on error.
func fetch(url, dest string, h hash.Hash, opts *Options) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, errors.Wrapf(err, "creating the cache folder for %q", dest)
	}
	client := opts.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Get(url)
	if err != nil {
		return nil, errors.Wrapf(err, "downloading %s", url)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.Errorf("downloading %s: HTTP %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return nil, errors.Wrapf(err, "creating a temporary file for %q", dest)
	}
	fail := func(err error) (*os.File, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	var w io.Writer = io.MultiWriter(tmp, h)
	if opts.Progress != nil {
		total := resp.ContentLength
		if opts.Size > 0 {
			total = opts.Size
		}
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("downloading "+filepath.Base(dest)), progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(250*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }))
		w = io.MultiWriter(w, bar)
		defer bar.Finish()
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fail(errors.Wrapf(err, "downloading %s (after %d bytes)", url, n))
	}
	if opts.Size > 0 && n != opts.Size {
		return fail(errors.Errorf("downloading %s: got %d bytes, want %d (interrupted or changed upstream)", url, n, opts.Size))
	}
	return tmp, nil
}

// checkDownload checks a download's checksum got against the pinned one (want) or, under
// trust on first use, the one recorded at the first download.
func checkDownload(url, dest, algo, got, want, recorded string) error {
	if want != "" && got != want {
		return errors.Errorf("downloading %s: %s %s does not match the pinned %s: the file is corrupt or was changed upstream", url, algo, got, want)
	}
	if want == "" && recorded != "" && got != recorded {
		return errors.Errorf("downloading %s: SHA-256 %s differs from the one recorded at the first download (%s in %q): the file changed upstream or was tampered with; delete %q to trust the new one",
			url, got, recorded, dest+SumSuffix, dest+SumSuffix)
	}
	return nil
}

// install syncs and closes the downloaded tmp and renames it over dest.
func install(tmp *os.File, dest string) error {
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return errors.Wrapf(err, "writing %q", tmp.Name())
	}
	if err := tmp.Close(); err != nil {
		return errors.Wrapf(err, "writing %q", tmp.Name())
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return errors.Wrapf(err, "moving the download into %q", dest)
	}
	return nil
}

func recordSum(dest, sum string) error {
	return errors.Wrapf(os.WriteFile(dest+SumSuffix, []byte(sum+"  "+filepath.Base(dest)+"\n"), 0o644),
		"recording the checksum of %q", dest)
}
