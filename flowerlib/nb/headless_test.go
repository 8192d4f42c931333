package nb

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowerlib/flowers/internal/testdata"
)

// TestNoBrowserCannotTell: outside a kernel (no kernel id, no launcher) NoBrowser does not guess.
func TestNoBrowserCannotTell(t *testing.T) {
	t.Setenv("GONB_JUPYTER_KERNEL_ID", "")
	t.Setenv("JPY_PARENT_PID", "")
	if why := NoBrowser(); why != "" {
		t.Errorf("NoBrowser() without a kernel id or launcher = %q, want \"\"", why)
	}
}

// TestNoBrowserLauncherNotAServer: a kernel launched by a process that wrote no server file
// (nbconvert, papermill; here this test process) has no browser, and the reason names it.
func TestNoBrowserLauncherNotAServer(t *testing.T) {
	runtime := t.TempDir()
	t.Setenv("JUPYTER_RUNTIME_DIR", runtime)
	t.Setenv("GONB_JUPYTER_KERNEL_ID", "4b1e9d3c-0000-4000-8000-000000000000")
	t.Setenv("JPY_PARENT_PID", strconv.Itoa(os.Getpid()))
	// A server file of another process does not count.
	writeServerFile(t, runtime, "jpserver-1.json", `{"url": "http://127.0.0.1:9/", "token": "x", "pid": 1}`)
	start := time.Now()
	why := NoBrowser()
	want := regexp.MustCompile(`^no page shows this notebook: \S+ \(pid ` + strconv.Itoa(os.Getpid()) + `\) runs the kernel, not a Jupyter server$`)
	if !want.MatchString(why) {
		t.Errorf("NoBrowser() = %q, want a match of %s", why, want)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("NoBrowser took %s", d)
	}
	// nbclient 0.7 names the connection file at random: no kernel id, same answer.
	t.Setenv("GONB_JUPYTER_KERNEL_ID", "")
	if got := NoBrowser(); got != why {
		t.Errorf("NoBrowser() without a kernel id = %q, want %q", got, why)
	}
	// The launcher gone: no guess.
	t.Setenv("JPY_PARENT_PID", "2147483646")
	if why := NoBrowser(); why != "" {
		t.Errorf("NoBrowser() with the launcher gone = %q, want \"\"", why)
	}
}

// TestNoBrowserServerWithoutPage runs a real Jupyter server (Debian's classic Notebook), starts
// a kernel through its API as a page would, and asks NoBrowser from that kernel's point of view
// (its id, the server as launcher): the server reports 0 connections, so no browser. Then a
// websocket is opened to the kernel's channels, as a page does: NoBrowser leaves the decision
// to the widgets (""). The browser tests in notebooks/ check the widgets end to end.
func TestNoBrowserServerWithoutPage(t *testing.T) {
	const jupyter = "/usr/bin/jupyter"
	if _, err := os.Stat(jupyter); err != nil {
		testdata.Need(t, "needs Jupyter at %s (bash kernel/install.sh --apt)", jupyter)
	}
	home := t.TempDir()
	runtime := filepath.Join(home, "runtime")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const token = "flowers-headless-test"
	server := exec.Command(jupyter, "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--NotebookApp.token="+token, "--notebook-dir="+home)
	server.Env = append(os.Environ(), "HOME="+home, "JUPYTER_RUNTIME_DIR="+runtime, "JUPYTER_CONFIG_DIR="+filepath.Join(home, "config"),
		"JUPYTER_DATA_DIR="+filepath.Join(home, "data"), "IPYTHONDIR="+filepath.Join(home, "ipython"), "PYTHONDONTWRITEBYTECODE=1")
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, _ := os.Create(filepath.Join(home, "server.log"))
	server.Stdout, server.Stderr = log, log
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-server.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	api := func(method, path string) (*http.Response, error) {
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "token "+token)
		return http.DefaultClient.Do(req)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := api("GET", "/api/status"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("the Jupyter server did not answer within 60s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := api("POST", "/api/kernels")
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("starting a kernel: %v %v", resp, err)
	}
	var k struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&k)
	resp.Body.Close()

	t.Setenv("JUPYTER_RUNTIME_DIR", runtime)
	t.Setenv("GONB_JUPYTER_KERNEL_ID", k.ID)
	t.Setenv("JPY_PARENT_PID", strconv.Itoa(server.Process.Pid))
	if why := NoBrowser(); why != "no page shows this notebook: the Jupyter server reports no browser connected to the kernel" {
		t.Errorf("NoBrowser() for a kernel no page holds = %q", why)
	}
	// Another kernel id: this server does not run it, and it launched this "kernel": cannot tell.
	t.Setenv("GONB_JUPYTER_KERNEL_ID", "00000000-0000-4000-8000-000000000000")
	if why := NoBrowser(); why != "" {
		t.Errorf("NoBrowser() for a kernel its launcher does not know = %q, want \"\"", why)
	}
	// Without a launcher pid, every server is asked; none runs that id.
	t.Setenv("JPY_PARENT_PID", "")
	if why := NoBrowser(); why != "no page shows this notebook: no Jupyter server on this machine runs the kernel" {
		t.Errorf("NoBrowser() for an unknown kernel, no launcher = %q", why)
	}

	// A page's websocket on the kernel's channels.
	t.Setenv("GONB_JUPYTER_KERNEL_ID", k.ID)
	t.Setenv("JPY_PARENT_PID", strconv.Itoa(server.Process.Pid))
	conn := openChannels(t, port, k.ID, token)
	defer conn.Close()
	deadline = time.Now().Add(10 * time.Second)
	for why := NoBrowser(); why != ""; why = NoBrowser() {
		if time.Now().After(deadline) {
			t.Fatalf("NoBrowser() with a websocket open on the kernel = %q, want \"\"", why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// openChannels opens a websocket to the kernel's channels, as a notebook page does (the
// opening handshake only: that is what the server counts as a connection).
func openChannels(t *testing.T, port int, kernel, token string) net.Conn {
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /api/kernels/%s/channels?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:%d\r\n\r\n", kernel, token, port, port)
	buf := make([]byte, 512)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 101") {
		t.Fatalf("websocket handshake: %q, %v", buf[:n], err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn
}

func writeServerFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
