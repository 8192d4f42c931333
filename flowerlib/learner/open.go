package learner

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/config"
	"github.com/flowerlib/flowers/flowerlib/trainer"
	"github.com/pkg/errors"
)

// What Open needs besides the run folder, so that a finished run can be shared: copied
// elsewhere, or mounted read-only, and used by another user. Open writes nothing in the run
// folder; the features it computes and the weights it converts go to a cache folder of the
// user's: $FLOWERS_CACHE when set, else the run's own cache folder when it can be written
// here, else the user's default one (the cache setting's default, defaults.CacheDir). The
// cache is keyed by content, so any of them gives the same numbers.

// cacheFor returns the cache folder Open uses for a run whose run.json names runCache.
func cacheFor(runCache string, log io.Writer) string {
	own := config.Run{}.Defaults().Cache // $FLOWERS_CACHE, else the user's cache folder
	if os.Getenv(config.EnvName("cache")) != "" || runCache == "" {
		return own
	}
	if writable(runCache) {
		return runCache
	}
	logf(log, "the run's cache folder %s cannot be written here: using %s\n", runCache, own)
	return own
}

// writable reports whether a file can be created in dir (created when missing).
func writable(dir string) bool {
	if os.MkdirAll(dir, 0o755) != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".flowers-write-check-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// damagedNewest is Open's error for a run folder dir whose newest checkpoint (names[0], the
// list newest first) cannot be used: an older one is not evaluated in its place unasked, as
// neither Keras' load_weights nor fastai's learn.load would; the error names the newest one
// that verifies and how to use it.
func damagedNewest(runDir string, names []string, cause error) error {
	newest := names[0]
	head := fmt.Sprintf("run %s: its newest checkpoint %s cannot be used (%v)", runDir, filepath.Base(newest), cause)
	for _, older := range names[1:] {
		st, err := trainer.ReadState(older)
		if err != nil {
			continue
		}
		return errors.Errorf("%s; the newest one that verifies is %s (%s, step %d), but an older model is not evaluated in its place unasked. "+
			"To use it, move the damaged file aside: mv %s %s%s (flowers train -run %s does that itself, then trains the lost epochs again)",
			head, filepath.Base(older), count(len(st.History), "epoch"), st.Step, newest, newest, trainer.CorruptSuffix, runDir)
	}
	return errors.Errorf("%s, and no older checkpoint verifies: train again (flowers train -run %s moves the damaged files aside)", head, runDir)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
