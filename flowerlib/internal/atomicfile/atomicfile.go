// Package atomicfile replaces files atomically: the new content goes to a temporary file in
// the same folder, which is synced and renamed over the target, so readers and a crash see
// either the complete old file or the complete new one, never a partial write.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"

	"github.com/pkg/errors"
)

// bufSize is the write buffer of Write: large enough that multi-MB payloads (checkpoints,
// arrays) go out in few syscalls.
const bufSize = 1 << 20

// Write creates or replaces path with what write writes to w (buffered). The temporary file
// is ".<base>.tmp-*" in path's folder; it is synced, given exactly perm (the umask does not
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
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
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
