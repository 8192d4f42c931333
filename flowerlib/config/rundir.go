package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/defaults"
)

// RunFolder is the run's folder: RunDir when set, else <Work>/run/<Name(head)>, absolute.
func (s Run) RunFolder(head string) (string, error) {
	if s.RunDir != "" {
		return filepath.Abs(s.RunDir)
	}
	work, err := s.WorkDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(work, "run", s.Name(head)), nil
}

// Name names a run after what it was trained on and with: the data, the weights, the head
// (its name and fingerprint, given: the built-in head's dropout is in it), the mode and the
// hyperparameters that change the result.
// The same settings and head again (or more epochs) resume that run; a changed head, learning
// rate, batch size, dropout, augmentation, data or weights starts another.
func (s Run) Name(head string) string {
	s = s.Resolve(nil)
	data := s.Data
	if data != "sample" && data != "download" && data != "embedded" {
		data = filepath.Base(filepath.Clean(data))
	}
	weights := s.Weights
	if weights != "random" && weights != "imagenet" {
		weights = strings.TrimSuffix(filepath.Base(weights), filepath.Ext(weights))
	}
	name := fmt.Sprintf("%s-%s-%s-%s-%s-lr%g-b%d", data, weights, head, HeadName(s.Pooling), s.Mode, s.LearningRate, s.BatchSize)
	if s.PerClass > 0 {
		name += fmt.Sprintf("-n%d", s.PerClass)
	}
	if s.Mode == "augment" {
		name += fmt.Sprintf("-aug%g", s.Augment)
	}
	if s.Schedule != "" && s.Schedule != "constant" {
		name += "-" + s.Schedule
		if s.WarmupSteps > 0 {
			name += fmt.Sprintf("%d", s.WarmupSteps)
		}
	}
	if s.LabelSmoothing > 0 {
		name += fmt.Sprintf("-ls%g", s.LabelSmoothing)
	}
	if s.ClassWeight != "" {
		name += "-cw" + strings.ReplaceAll(s.ClassWeight, ",", "_")
	}
	if s.ImageSize != defaults.ImageSize.Default {
		name += fmt.Sprintf("-s%d", s.ImageSize)
	}
	if s.Seed != int64(defaults.Seed.Default) {
		name += fmt.Sprintf("-seed%d", s.Seed)
	}
	return name
}
