package learner

import (
	"path/filepath"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/prepare"
	"github.com/pkg/errors"
)

// checkFolders refuses a run folder inside the dataset folder (or equal to it): the next scan
// would meet its checkpoints and run.json as a stray class folder (or stray files), and a
// class folder holding a run would mix its files with the photos. Symbolic links are resolved
// where the folders exist, so a link cannot hide it.
func (c Config) checkFolders() error {
	run, data := resolved(c.RunDir), resolved(c.Data)
	rel, err := filepath.Rel(data, run)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil
	}
	return errors.Errorf("learner: the run folder %s is inside the dataset folder %s: its checkpoints and run.json would be scanned with the photos; use a run folder outside it",
		c.RunDir, c.Data)
}

// resolved is path with the symbolic links of its longest existing prefix resolved.
func resolved(path string) string {
	rest := ""
	for p := path; ; p = filepath.Dir(p) {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(p) == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
	}
}

// warnSplit logs the split's warnings (a class missing from training or validation).
func (l *Learner) warnSplit(split *prepare.Data) {
	for _, w := range split.Warnings() {
		logf(l.Log, "warning: %s\n", w)
	}
}
