package learner

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
)

// HeadInput says what the head sees for a pooling: the base's 7×7×2048 map or its pooled values.
func HeadInput(pooling string) string {
	switch pooling {
	case "avg":
		return "average-pooled 2048"
	case "max":
		return "max-pooled 2048"
	}
	return "7×7×2048 feature map"
}

// checkRunOutsideData refuses a run folder inside the dataset folder: its files would be
// scanned as photos (or as a class folder) the next time.
func checkRunOutsideData(runDir, data string) error {
	rel, err := filepath.Rel(data, runDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	return errors.Errorf("run folder %q is inside the dataset folder %q: its files would be read as photos; put the run elsewhere", runDir, data)
}

// sayHeadChanged logs, for a run folder named after the settings (config.Run.Name), the runs
// of the same settings with another head: a changed head starts a new run, and says so.
func (l *Learner) sayHeadChanged() {
	const mark = "\x00"
	prefix, suffix, _ := strings.Cut(l.Name(mark), mark)
	entries, err := os.ReadDir(filepath.Dir(l.RunDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && name != filepath.Base(l.RunDir) && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) &&
			len(name) > len(prefix)+len(suffix) {
			logf(l.Log, "the head changed (now %s, fingerprint %s): a new run in %s; the run of the previous head stays in %s\n",
				l.HeadName, l.Head.Fingerprint[:6], filepath.Base(l.RunDir), name)
		}
	}
}
