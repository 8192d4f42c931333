package weights

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/download"
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
func Download(cacheDir string, top bool, progress io.Writer) (string, error) {
	url, name, sum := URL(top)
	return DownloadURL(cacheDir, url, name, sum, progress)
}

// DownloadURL is Download for any URL: it fetches url into cacheDir/fileName, checking
// md5sum (hex), through download.File (temporary file, checksum, rename), with a progress bar
// on progress (nil: none).
func DownloadURL(cacheDir, url, fileName, md5sum string, progress io.Writer) (string, error) {
	path := filepath.Join(cacheDir, fileName)
	err := download.File(url, path, "md5:"+md5sum, &download.Options{Progress: progress})
	if err == nil {
		return path, nil
	}
	if strings.Contains(err.Error(), "does not match the pinned") {
		return "", errors.WithMessage(err, "nothing was saved")
	}
	return "", errors.Errorf("%v\nIf this machine is offline, copy %s (md5 %s) from a machine with internet access into %s, "+
		"or point at a local copy with -weights FILE or the environment variable %s=FILE",
		err, fileName, md5sum, cacheDir, EnvWeights)
}

// isKeyword reports a weights setting that names no file ("auto", "imagenet", "random[:SEED]"):
// $FLOWERS_WEIGHTS holds one when it sets the notebooks' setting (flowerlib/config).
func isKeyword(s string) bool {
	return s == "auto" || s == "imagenet" || s == "random" || strings.HasPrefix(s, "random:")
}

// Resolve picks the weights file: the explicit path (a -weights flag) when given and
// not "imagenet"; else $FLOWERS_WEIGHTS when it names a file; else the official file under
// cacheDir, downloaded if needed (a progress bar on progress; nil: none).
func Resolve(path, cacheDir string, top bool, progress io.Writer) (string, error) {
	if path != "" && path != "imagenet" {
		if _, err := os.Stat(path); err != nil {
			return "", errors.Wrapf(err, "weights file %q", path)
		}
		return path, nil
	}
	if env := os.Getenv(EnvWeights); env != "" && !isKeyword(env) {
		if _, err := os.Stat(env); err != nil {
			return "", errors.Wrapf(err, "weights file %q from $%s", env, EnvWeights)
		}
		return env, nil
	}
	return Download(cacheDir, top, progress)
}
