package config

import "github.com/flowerlib/flowers/flowerlib/defaults"

// WeightsDir is the folder of downloaded and converted ResNet50 weights in the run's cache
// folder (Cache as it is set, not made absolute): defaults.WeightsDir, the one layout every
// command and notebook uses.
func (s Run) WeightsDir() string { return defaults.WeightsDir(s.Cache) }

// FeaturesDir is the folder of the frozen features in the run's cache folder (Cache as it is
// set): defaults.FeaturesDir.
func (s Run) FeaturesDir() string { return defaults.FeaturesDir(s.Cache) }
