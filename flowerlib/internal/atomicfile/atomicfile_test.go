package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/errors"
)

// onlyFiles fails unless dir holds exactly the given names (no temporary files left).
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("folder holds %q, want %q", got, want)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.bin")
	if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Larger than the write buffer, so part of it reaches the temporary file before the
	// callback returns: the target must still read as the old file at that point.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*bufSize/16+7)
	err := Write(path, 0o640, func(w io.Writer) error {
		if _, err := w.Write(big); err != nil {
			return err
		}
		if got := readString(t, path); got != "old content" {
			t.Errorf("during the write the target reads %d bytes %.20q…, want the old content", len(got), got)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 || !strings.HasPrefix(entries[0].Name(), ".a.bin.tmp-") {
			t.Errorf("during the write the folder holds %v, want a.bin and .a.bin.tmp-*", entries)
		}
		_, err := io.WriteString(w, "end")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(t, path); got != string(big)+"end" {
		t.Fatalf("after Write the file has %d bytes, want %d", len(got), len(big)+3)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("permissions %v, want -rw-r-----", st.Mode().Perm())
	}
	onlyFiles(t, dir, "a.bin")
}

func TestWriteFilePermissions(t *testing.T) {
	dir := t.TempDir()
	for _, perm := range []os.FileMode{0o644, 0o600, 0o604} {
		path := filepath.Join(dir, "p.txt")
		want := "perm " + perm.String()
		if err := WriteFile(path, []byte(want), perm); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("WriteFile(perm %v) made %v", perm, st.Mode().Perm())
		}
		if got := readString(t, path); got != want {
			t.Errorf("content %q, want %q", got, want)
		}
	}
	onlyFiles(t, dir, "p.txt")
}

func TestCallbackErrorKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.json")
	if err := os.WriteFile(path, []byte(`{"old":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, `{"new":`)
		return boom
	})
	if err == nil || !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got error %v, want one naming %q and wrapping %v", err, path, boom)
	}
	if got := readString(t, path); got != `{"old":true}` {
		t.Errorf("old file changed to %q", got)
	}
	onlyFiles(t, dir, "keep.json")

	// Same with WriteDirect, after the unbuffered bytes reached the temporary file.
	err = WriteDirect(path, 0o644, func(f *os.File) error {
		f.WriteString("partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteDirect: got error %v, want %v", err, boom)
	}
	if got := readString(t, path); got != `{"old":true}` {
		t.Errorf("old file changed to %q", got)
	}
	onlyFiles(t, dir, "keep.json")
}

func TestPanicLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the callback's panic did not propagate")
			}
		}()
		WriteFile(path, nil, 0o644) // creates p
		Write(path, 0o644, func(w io.Writer) error { panic("callback panics") })
	}()
	onlyFiles(t, dir, "p")
}

func TestMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "x.csv")
	err := WriteFile(path, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got error %v, want a not-exist error naming %q", err, path)
	}
}

func TestRenameFailure(t *testing.T) {
	dir := t.TempDir()
	// A non-empty folder at the target path cannot be replaced by a file.
	path := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(path, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), `renaming into "`+path+`"`) {
		t.Fatalf("got error %v, want a rename error naming %q", err, path)
	}
	onlyFiles(t, dir, "target")
}

func TestWriteDirectPatchesHeader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stream.dat")
	err := WriteDirect(path, 0o644, func(f *os.File) error {
		if _, err := f.Write([]byte("HDR=??;")); err != nil {
			return err
		}
		for range 3 {
			if _, err := f.Write([]byte("payload;")); err != nil {
				return err
			}
		}
		_, err := f.WriteAt([]byte("24"), 4) // payload size known only now
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readString(t, path), "HDR=24;payload;payload;payload;"; got != want {
		t.Fatalf("content %q, want %q", got, want)
	}
	onlyFiles(t, dir, "stream.dat")
}

// TestCleanStale: temporary files of dead writers and old ones go; a live writer's stays.
func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no `true` command")
	}
	deadPID := dead.Process.Pid
	names := map[string]bool{ // name → should be removed
		fmt.Sprintf(".f.npy.tmp-%d-123", deadPID):     true,
		fmt.Sprintf(".f.npy.tmp-%d-456", os.Getpid()): false,
		".ckpt-000000001.flw.tmp-789":                 false, // old naming, recent: kept
		".old.flw.tmp-111":                            true,  // old naming, older than a day
		"data.bin":                                    false,
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * StaleAge)
	os.Chtimes(filepath.Join(dir, ".old.flw.tmp-111"), old, old)
	removed := CleanStale(dir)
	for n, want := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if gone := os.IsNotExist(err); gone != want {
			t.Errorf("%s: removed=%v, want %v (removed %v)", n, gone, want, removed)
		}
	}
}
