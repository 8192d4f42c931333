// Package runlock gives a run folder to one process at a time: an OS file lock (flock) on
// "<dir>/.lock", which the kernel releases when the holder exits, even after kill -9, so a
// lock is never stale. The file holds the holder's pid and start time, to name it in the
// refusal. Within one process, locks on the same folder are shared and counted (the learner
// and the trainer it starts both hold the run folder).
package runlock

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/errors"
)

// FileName is the lock file inside a locked folder.
const FileName = ".lock"

// Lock is a held lock; Release gives it back.
type Lock struct {
	dir  string
	once sync.Once
}

type held struct {
	f     *os.File
	count int
}

var (
	mu   sync.Mutex
	byID = map[string]*held{}
)

type owner struct {
	PID     int    `json:"pid"`
	Started string `json:"started"`
	Command string `json:"command"`
}

// Acquire locks dir (which must exist) for this process, or fails at once, naming the process
// that holds it.
func Acquire(dir string) (*Lock, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, errors.Wrapf(err, "run folder %q", dir)
	}
	mu.Lock()
	defer mu.Unlock()
	if h := byID[abs]; h != nil {
		h.count++
		return &Lock{dir: abs}, nil
	}
	path := filepath.Join(abs, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, errors.Wrapf(err, "locking run folder %q", dir)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			var o owner
			data, _ := os.ReadFile(path)
			if json.Unmarshal(data, &o) == nil && o.PID > 0 {
				return nil, errors.Errorf("run folder %q is in use by process %d (%s, started %s): wait for it to finish, stop it, or use another -run folder",
					dir, o.PID, o.Command, o.Started)
			}
			return nil, errors.Errorf("run folder %q is in use by another process: wait for it to finish, stop it, or use another -run folder", dir)
		}
		return nil, errors.Wrapf(err, "locking run folder %q", dir)
	}
	o := owner{PID: os.Getpid(), Started: time.Now().Format(time.RFC3339), Command: filepath.Base(os.Args[0])}
	data, _ := json.Marshal(o)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(data, 0)
	}
	byID[abs] = &held{f: f, count: 1}
	return &Lock{dir: abs}, nil
}

// Release gives the lock back (once; later calls do nothing).
func (l *Lock) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		mu.Lock()
		defer mu.Unlock()
		h := byID[l.dir]
		if h == nil {
			return
		}
		if h.count--; h.count == 0 {
			_ = syscall.Flock(int(h.f.Fd()), syscall.LOCK_UN)
			h.f.Close()
			delete(byID, l.dir)
		}
	})
}

// String names the locked folder.
func (l *Lock) String() string { return fmt.Sprintf("lock on %s", l.dir) }
