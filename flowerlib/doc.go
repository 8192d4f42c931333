// Package flowerlib is transfer learning in Go: the article's pipeline
// (labels from class folders → decode/resize/augment → frozen ImageNet ResNet50 →
// a new head → training, metrics and plots) as one package per stage, built on GoMLX.
package flowerlib
