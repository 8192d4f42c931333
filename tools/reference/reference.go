// Package reference holds the Python reference implementations flowerlib is checked
// against (tests only; the product needs no Python) and the Go tests that run them:
//
//   - keras_h5.py writes a seeded random-weights file in the exact Keras 2 ResNet50
//     layout with h5py, independently of the Go code;
//   - torch_resnet50.py is an independent PyTorch ResNet50 mirroring Keras's, reading a
//     Keras-layout .h5 and a uint8 .npy of photos, writing pooled features and
//     probabilities as .npy.
//
// They need Debian's /usr/bin/python3 with python3-h5py, python3-numpy and
// python3-torch. The tests skip with a message when those are missing, except with
// CI=true, where they fail.
package reference
