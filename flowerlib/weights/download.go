package weights

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/pkg/errors"
)

// Official Keras ResNet50 ImageNet weights (keras.applications.resnet) and the md5
// checksums Keras verifies them with.
const (
	NoTopURL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
	NoTopMD5 = "4d473c1dd8becc155b73f8504c6f6626"
	TopURL   = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5"
	TopMD5   = "2cb95161c43110f7111970584f804107"
)

// The older keras-applications-era ResNet50 ImageNet weights (resnet50.py of keras-applications
// ≤ 1.0.7, released with github.com/fchollet/deep-learning-models v0.2): the same file names as
// today's, but layer names conv1, bn_conv1, res2a_branch2a, …, fc1000 and a network with
// BatchNormalization epsilon 1e-3. flowerlib refuses them (resnet50.LegacyError says why and
// names today's files); the constants are here so that the message can.
const (
	LegacyNoTopURL = "https://github.com/fchollet/deep-learning-models/releases/download/v0.2/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
	LegacyNoTopMD5 = "a268eb855778b3df3c7506639542a6af"
	LegacyTopURL   = "https://github.com/fchollet/deep-learning-models/releases/download/v0.2/resnet50_weights_tf_dim_ordering_tf_kernels.h5"
	LegacyTopMD5   = "a7b3fe01876f51b976af0dea6bc144eb"
)

// EnvWeights names the environment variable that points at a local weights file,
// used when no -weights flag is given (see Resolve).
const EnvWeights = "FLOWERS_WEIGHTS"

// URL returns the official URL, file name and md5 of the no-top or with-top weights.
func URL(top bool) (url, fileName, md5sum string) {
	if top {
		return TopURL, filepath.Base(TopURL), TopMD5
	}
	return NoTopURL, filepath.Base(NoTopURL), NoTopMD5
}

// Download returns the path of the official ResNet50 ImageNet weights under cacheDir,
// downloading them first when absent or when the present file fails its md5 check.
// The download goes to a temporary file, is verified against the Keras md5, then
// renamed, so cacheDir never holds a partial file under the final name. It does
// nothing (beyond verifying the md5) when the file is already there.
func Download(cacheDir string, top bool) (string, error) {
	url, name, sum := URL(top)
	return DownloadURL(cacheDir, url, name, sum, os.Stderr)
}

// DownloadURL is Download for any URL: it fetches url into cacheDir/fileName, checking
// md5sum (hex), and reports progress to progress (may be nil).
func DownloadURL(cacheDir, url, fileName, md5sum string, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", errors.Wrapf(err, "creating weights cache folder %q", cacheDir)
	}
	path := filepath.Join(cacheDir, fileName)
	if _, err := os.Stat(path); err == nil {
		got, err := fileMD5(path)
		if err != nil {
			return "", err
		}
		if got == md5sum {
			return path, nil
		}
		fmt.Fprintf(progress, "%s: md5 %s, want %s: downloading it again\n", path, got, md5sum)
	}
	offline := func(err error) error {
		return errors.Errorf("downloading %s failed: %v\n"+
			"If this machine is offline, copy %s (md5 %s) from a machine with internet access into %s, "+
			"or point at a local copy with -weights FILE or the environment variable %s=FILE",
			url, err, fileName, md5sum, cacheDir, EnvWeights)
	}
	client := &http.Client{Timeout: 30 * time.Minute}
	resp, err := client.Get(url)
	if err != nil {
		return "", offline(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", offline(errors.Errorf("HTTP %s", resp.Status))
	}
	tmp, err := os.CreateTemp(cacheDir, "."+fileName+".download-*")
	if err != nil {
		return "", errors.Wrapf(err, "creating a temporary file in %q", cacheDir)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := md5.New()
	pw := &progressWriter{w: progress, total: resp.ContentLength, name: fileName, start: time.Now()}
	n, err := io.Copy(io.MultiWriter(tmp, h, pw), resp.Body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", offline(err)
	}
	fmt.Fprintf(progress, "\r%s: %d bytes in %.1fs\n", fileName, n, time.Since(pw.start).Seconds())
	if got := hex.EncodeToString(h.Sum(nil)); got != md5sum {
		return "", errors.Errorf("downloaded %s: md5 %s, want %s (corrupt or changed file; nothing was saved)", url, got, md5sum)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", errors.Wrapf(err, "saving %q", path)
	}
	return path, nil
}

// Resolve picks the weights file: the explicit path (a -weights flag) when given and
// not "imagenet"; else $FLOWERS_WEIGHTS when set; else the official file under
// cacheDir, downloaded if needed.
func Resolve(path, cacheDir string, top bool) (string, error) {
	if path != "" && path != "imagenet" {
		if _, err := os.Stat(path); err != nil {
			return "", errors.Wrapf(err, "weights file %q", path)
		}
		return path, nil
	}
	if env := os.Getenv(EnvWeights); env != "" {
		if _, err := os.Stat(env); err != nil {
			return "", errors.Wrapf(err, "weights file %q from $%s", env, EnvWeights)
		}
		return env, nil
	}
	return Download(cacheDir, top)
}

func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", errors.Wrapf(err, "reading %q", path)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", errors.Wrapf(err, "reading %q", path)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type progressWriter struct {
	w         io.Writer
	total, n  int64
	lastPrint time.Time
	start     time.Time
	name      string
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if time.Since(p.lastPrint) > time.Second {
		p.lastPrint = time.Now()
		if p.total > 0 {
			fmt.Fprintf(p.w, "\r%s: %5.1f%% of %.1f MB", p.name, 100*float64(p.n)/float64(p.total), float64(p.total)/1e6)
		} else {
			fmt.Fprintf(p.w, "\r%s: %.1f MB", p.name, float64(p.n)/1e6)
		}
	}
	return len(b), nil
}
