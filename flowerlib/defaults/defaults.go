// Package defaults is the one place where flowerlib's default settings are written: the seed
// article's choices (迁移学习理论与实践: 224×224 photos, random_state=42, an 80/20 split,
// he_normal(seed=42), 30 epochs, Keras' Adam() and batch size) and the limits every entry point
// checks. Packages, the flowers command's flags, the notebook settings and the docs all take
// their values from here, so they cannot drift apart.
package defaults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

const (
	// ImageSize is the side the photos are resized to (the article's 224×224, ResNet50's ImageNet size).
	ImageSize = 224
	// Seed is the article's random_state=42: the split, the shuffles, the head's initialisation.
	Seed int64 = 42
	// ValidFraction is train_test_split(test_size=0.2).
	ValidFraction = 0.2
	// Epochs is fit_generator(epochs=30).
	Epochs = 30
	// BatchSize is Keras' default batch size (the article's generators use 32).
	BatchSize = 32
	// LearningRate is keras.optimizers.Adam()'s default.
	LearningRate = 1e-3
	// Classes is the number of flower classes of flower_photos.
	Classes = 5
	// FineTuneLearningRate and FineTuneEpochs are the fine-tuning phase's (Keras' transfer
	// learning guide fine-tunes at 1e-5).
	FineTuneLearningRate = 1e-5
	FineTuneEpochs       = 5
	// Monitor is what early stopping and restore-best watch, as Keras' EarlyStopping default.
	Monitor = "val_loss"

	// MinImageSize is the smallest image side ResNet50 takes (its last stage needs a pixel).
	MinImageSize = 32
	// MaxImageSize bounds -size: 1024² images through ResNet50 already need ~2 GB per image in
	// training; beyond that a typo is likelier than intent.
	MaxImageSize = 1024
	// MaxBatchSize bounds -batch whatever the memory (see MaxBatch).
	MaxBatchSize = 4096
)

// Hidden returns the article's hidden Dense widths, Dense(2048) then Dense(1024).
func Hidden() []int { return []int{2048, 1024} }

// ForwardBytes estimates the memory one ResNet50 forward pass needs for batch images of
// size×size: about 600 float32 values per input pixel (measured peak: 2.5 GiB at batch 32,
// 224², on the go backend).
func ForwardBytes(batch, size int) int64 {
	return int64(batch) * int64(size) * int64(size) * 600 * 4
}

// MaxBatch returns the largest batch whose ResNet50 forward at size×size fits in this
// machine's memory (at least 1, at most MaxBatchSize).
func MaxBatch(size int) int {
	if size < 1 {
		size = 1
	}
	n := MemoryBytes() / ForwardBytes(1, size)
	return int(max(1, min(n, MaxBatchSize)))
}

// MemoryBytes is the machine's physical memory (MemTotal of /proc/meminfo; 16 GiB where it
// cannot be read).
func MemoryBytes() int64 {
	memOnce.Do(func() {
		memTotal = 16 << 30
		data, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil && kb > 0 {
					memTotal = kb << 10
				}
			}
		}
	})
	return memTotal
}

var (
	memOnce  sync.Once
	memTotal int64
)

// CacheEnv overrides CacheDir.
const CacheEnv = "FLOWERS_CACHE"

// CacheDir returns the one cache folder every flowerlib step shares (dataset, weights,
// features): $FLOWERS_CACHE, else $XDG_CACHE_HOME/flowers or ~/.cache/flowers.
func CacheDir() string {
	if dir := os.Getenv(CacheEnv); dir != "" {
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "flowers")
	}
	return filepath.Join(os.TempDir(), "flowers-cache")
}

// WeightsDir is where downloaded and converted ResNet50 weights live in a cache folder, and
// FeaturesDir the frozen features: the one layout every command and notebook uses.
func WeightsDir(cacheDir string) string  { return filepath.Join(cacheDir, "weights") }
func FeaturesDir(cacheDir string) string { return filepath.Join(cacheDir, "features") }
