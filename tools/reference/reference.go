// Package reference holds the Python reference implementations flowerlib is checked and
// benchmarked against (tests and `flowers bench`; the product needs no Python) and the Go
// tests that run them:
//
//   - keras_h5.py writes a seeded random-weights file in the exact Keras 2 ResNet50
//     layout with h5py, independently of the Go code;
//   - torch_reference.py (TorchScript) is an independent PyTorch ResNet50 mirroring Keras's,
//     reading a Keras-layout .h5: `features` writes pooled features and probabilities of
//     photos as .npy (the parity test), `serve` answers `flowers bench` (forward, photos,
//     the article's head step, an augment-mode epoch);
//   - keras_reference.py (KerasScript) answers `flowers bench` with TensorFlow-Keras
//     (tf-keras' own ResNet50 and the article's head and ImageDataGenerator);
//   - benchutil.py holds what both `serve`s share (timing, CPU time and peak RSS).
//
// The PyTorch ones need Debian's /usr/bin/python3 with python3-h5py, python3-numpy,
// python3-torch and python3-torchvision; the Keras one the test-only virtual environment of
// .ci/venv.sh ($FLOWERS_PYTHON). The tests skip with a message when those are missing, except
// with CI=true, where they fail.
package reference

import (
	"embed"
	"os"
	"path/filepath"

	"github.com/pkg/errors"
)

// The scripts `flowers bench` runs, by file name (WriteScripts writes them).
const (
	// TorchScript is the PyTorch reference, run as `python3 DIR/torch_reference.py serve ...`.
	TorchScript = "torch_reference.py"
	// KerasScript is the TF-Keras reference, run as `python DIR/keras_reference.py serve ...`.
	KerasScript = "keras_reference.py"
)

// scripts are the reference scripts and benchutil.py, the module both import.
//
//go:embed torch_reference.py keras_reference.py benchutil.py
var scripts embed.FS

// WriteScripts writes the embedded reference scripts and the module they share into dir, so
// that a binary built from this repository runs them anywhere.
func WriteScripts(dir string) error {
	entries, err := scripts.ReadDir(".")
	if err != nil {
		return errors.Wrap(err, "the embedded reference scripts")
	}
	for _, e := range entries {
		b, err := scripts.ReadFile(e.Name())
		if err != nil {
			return errors.Wrapf(err, "the embedded %s", e.Name())
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			return errors.Wrapf(err, "writing the reference script %s", filepath.Join(dir, e.Name()))
		}
	}
	return nil
}
