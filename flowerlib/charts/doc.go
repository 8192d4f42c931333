// Package charts draws the pictures of a run's steps and results as flowerlib/plots figures:
// the photos and their augmentation, training curves, the confusion matrix, prediction and
// CAM galleries, the learning-rate finder, embeddings, transferability and the comparison of
// the ways to use a network. The notebooks show them (flowerlib/nb), the playground redraws
// them, and the flowers command writes them to files; every figure carries SVG and PNG.
package charts
