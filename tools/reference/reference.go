// Package reference holds the Python reference implementations flowerlib is checked and
// benchmarked against (tests and `flowers bench`; the product needs no Python) and the Go
// tests that run them:
//
//   - keras_h5.py writes a seeded random-weights file in the exact Keras 2 ResNet50
//     layout with h5py, independently of the Go code;
//   - torch_reference.py (TorchScript) is an independent PyTorch ResNet50 mirroring Keras's,
//     reading a Keras-layout .h5: `features` writes pooled features and probabilities of
//     photos as .npy (the parity test), `serve` answers `flowers bench` (forward, photos,
//     the seed's head step, an augment-mode epoch);
//   - keras_reference.py (KerasScript) answers `flowers bench` with TensorFlow-Keras
//     (tf-keras' own ResNet50 and the seed's head and ImageDataGenerator).
//
// The PyTorch ones need Debian's /usr/bin/python3 with python3-h5py, python3-numpy,
// python3-torch and python3-torchvision; the Keras one the test-only virtual environment of
// .ci/venv.sh ($FLOWERS_PYTHON). The tests skip with a message when those are missing, except
// with CI=true, where they fail.
package reference

import _ "embed"

// TorchScript is torch_reference.py, run by `flowers bench` as `python3 -c TorchScript serve ...`.
//
//go:embed torch_reference.py
var TorchScript string

// KerasScript is keras_reference.py, run by `flowers bench` as `python -c KerasScript serve ...`.
//
//go:embed keras_reference.py
var KerasScript string
