package trainer

// The run folder, shared by the Trainer and the application that assembles it
// (flowerlib/learner): held by one process at a time, its files replaced atomically.

import (
	"encoding/json"
	"path/filepath"

	"github.com/flowerlib/flowers/flowerlib/internal/atomicfile"
	"github.com/flowerlib/flowers/flowerlib/internal/runlock"
	"github.com/pkg/errors"
)

// RunLock is a run folder held by this process (LockRunDir).
type RunLock struct{ l *runlock.Lock }

// LockRunDir locks the run folder dir (which must exist) for this process, or fails at once
// with an error naming the process that holds it and what to do. Within a process the lock is
// shared and counted: a Trainer on the same folder (New) holds it too. It is an OS file lock,
// released by the kernel when the process exits, even after kill -9.
func LockRunDir(dir string) (*RunLock, error) {
	l, err := runlock.Acquire(dir)
	if err != nil {
		return nil, err
	}
	return &RunLock{l: l}, nil
}

// Release gives the lock back (once; later calls, and calls on a nil lock, do nothing).
func (r *RunLock) Release() {
	if r != nil {
		r.l.Release()
	}
}

// WriteJSON writes v as indented JSON to the file name in the run folder runDir, atomically:
// a synced temporary file (mode 0644) renamed over it, so a crash leaves the old file or the
// new one, never a part of it.
func WriteJSON(runDir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return errors.Wrapf(err, "encoding %s", name)
	}
	return atomicfile.WriteFile(filepath.Join(runDir, name), data, 0o644)
}
