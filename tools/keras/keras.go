// Package keras holds the tests that use Keras itself (tf-keras 2.21, Keras 3, and the
// Keras-Preprocessing 1.1.2 of the article's Keras 2 era) as flowerlib's oracle, in both directions:
// Keras loads flowerlib-written ResNet50 weights and flowerlib reads Keras-written ones (same
// outputs on the 200 sample photos), preprocess_input, ImageDataGenerator's warp with the
// parameters Keras drew, the article's head trained for 20 Adam steps on the same batches, and
// model.summary(). The Keras side is oracle.py, run once per test process with $FLOWERS_PYTHON
// (the test-only environment of .ci/venv.sh); seed_article.py is the article's own code, runnable
// on the sample. The product needs no Python; README.md lists what still differs from Keras,
// with the command that measured each difference.
package keras
