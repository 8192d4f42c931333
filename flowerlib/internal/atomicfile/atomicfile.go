// Package atomicfile replaces files atomically: the new content goes to a temporary file in
// the same folder, which is synced and renamed over the target, so readers and a crash see
// either the complete old file or the complete new one, never a partial write.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/pkg/errors"
)

// bufSize is the write buffer of Write: large enough that multi-MB payloads (checkpoints,
// arrays) go out in few syscalls.
const bufSize = 1 << 20

// Write creates or replaces path with what write writes to w (buffered). The temporary file
// is ".<base>.tmp-<pid>-*" in path's folder (see CleanStale); it is synced, given exactly perm (the umask does not
// apply), closed and renamed to path, then the folder is synced. On any error, including one
// returned by write, the temporary file is removed, path keeps its old content, and the
// error names path.
func Write(path string, perm os.FileMode, write func(w io.Writer) error) error {
	return WriteDirect(path, perm, func(f *os.File) error {
		bw := bufio.NewWriterSize(f, bufSize)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// WriteFile is Write for content already in memory, like os.WriteFile.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteDirect(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteDirect is Write, but write gets the temporary *os.File itself, unbuffered, for writers
// that seek or WriteAt (e.g. a header patched once a streamed payload is complete). write
// must not close f.
func WriteDirect(path string, perm os.FileMode, write func(f *os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, fmt.Sprintf(".%s.tmp-%d-*", filepath.Base(path), os.Getpid()))
	if err != nil {
		return errors.Wrapf(err, "creating a temporary file for %q", path)
	}
	closed, renamed := false, false
	defer func() { // also runs when write panics
		if !closed {
			f.Close()
		}
		if !renamed {
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return errors.Wrapf(err, "writing %q", path)
	}
	if err := f.Chmod(perm); err != nil { // CreateTemp makes 0600 files
		return errors.Wrapf(err, "setting the permissions of %q", path)
	}
	if err := f.Sync(); err != nil {
		return errors.Wrapf(err, "syncing %q", path)
	}
	closed = true
	if err := f.Close(); err != nil {
		return errors.Wrapf(err, "closing %q", path)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return errors.Wrapf(err, "renaming into %q", path)
	}
	renamed = true
	// Make the rename durable. Not every file system can sync a folder, and the new content
	// is already in place, so failures here are not reported.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// StaleAge is how old a temporary file must be for CleanStale to remove it when its writer's
// pid cannot be told (or is alive: a pid can be reused).
const StaleAge = 24 * time.Hour

var tmpName = regexp.MustCompile(`^\..+\.tmp-(?:(\d+)-)?\d+$`)

// CleanStale removes the temporary files that interrupted writes (a killed process) left in
// dir: those whose writer's process no longer exists, and any older than StaleAge. It
// returns the names removed. A temporary file of a live writer is kept.
func CleanStale(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		m := tmpName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		stale := false
		if m[1] != "" {
			if pid, err := strconv.Atoi(m[1]); err == nil && pid != os.Getpid() && !alive(pid) {
				stale = true
			}
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > StaleAge {
			stale = true
		}
		if stale && os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// alive reports whether a process with this pid exists (signal 0 probes without sending).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
