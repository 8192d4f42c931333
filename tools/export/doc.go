// Package export holds the tests that check flowerlib/export's files with the runtimes they are
// for: the Keras .h5 loaded by tf-keras' and Keras 3's load_model, the ONNX model run by ONNX
// Runtime, each on the 200 sample photos against the run's own probabilities (learner's
// Predict, what `flowers predict` prints). The Python side is check.py, run with
// $FLOWERS_PYTHON (the test-only environment of .ci/venv.sh, pinned in
// .ci/requirements-test.txt); it imports nothing of flowerlib. The product needs no Python.
package export
