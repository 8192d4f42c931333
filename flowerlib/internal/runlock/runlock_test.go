package runlock

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOtherProcessRefused: a second process asking for a held folder is refused at once with
// the holder's pid; after the holder is killed (kill -9) the folder is free again.
func TestOtherProcessRefused(t *testing.T) {
	if os.Getenv("RUNLOCK_CHILD") != "" {
		if _, err := Acquire(os.Getenv("RUNLOCK_CHILD")); err != nil {
			os.Stdout.WriteString("refused: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=TestOtherProcessRefused")
		cmd.Env = append(os.Environ(), "RUNLOCK_CHILD="+dir)
		return cmd
	}
	start := time.Now()
	out, err := child().CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is in use by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("refusal took %v: it must not wait", time.Since(start))
	}
	// Same process: shared and counted.
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("same process: %v", err)
	}
	l2.Release()
	l.Release()
	l.Release() // idempotent

	// A killed holder leaves no stale lock.
	cmd := child()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child did not lock: %q %v", buf, err)
	}
	if _, err := Acquire(dir); err == nil {
		t.Fatal("the folder was given to two processes")
	}
	cmd.Process.Kill()
	cmd.Wait()
	l3, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l3.Release()
}
