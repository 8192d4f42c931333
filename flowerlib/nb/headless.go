package nb

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NoBrowser returns why no browser can answer this cell's widgets, or "" when one may (or
// when it cannot tell): a cell then waits for the browser, a bounded time, only where a page
// can be showing it.
//
// GoNB's widgets wait for a browser and GoNB does not tell a cell whether one is there
// (gonbui.IsNotebook is true under nbconvert too), so NoBrowser asks Jupyter. A kernel
// started by jupyter_client knows its launcher ($JPY_PARENT_PID) and, when the launcher names
// the connection file kernel-<id>.json as Jupyter servers do, its id ($GONB_JUPYTER_KERNEL_ID;
// nbclient 0.7 uses a temporary name). A Jupyter server (classic
// Notebook, JupyterLab) writes jpserver-<pid>.json or nbserver-<pid>.json (its URL and token)
// into its runtime folder, and GET api/kernels/<id> reports how many front-ends hold a
// websocket to the kernel ("connections"). So:
//   - the launcher is not a Jupyter server (nbconvert, papermill, nbclient, an editor's own
//     launcher): no browser;
//   - the server reports 0 connections (executed through the server's API, the page closed):
//     no browser;
//   - a server reports a connection, or anything cannot be read: "" (the widgets' own
//     handshake decides, with its timeout).
//
// Checked in milliseconds: one local HTTP request (2 s timeout) at most per server file.
func NoBrowser() string {
	kernel := os.Getenv("GONB_JUPYTER_KERNEL_ID") // "" under nbclient 0.7 (a temporary connection file)
	parent, _ := strconv.Atoi(os.Getenv("JPY_PARENT_PID"))
	if parent <= 0 && kernel == "" {
		return ""
	}
	files := serverFiles(parent)
	if len(files) == 0 {
		if parent > 0 {
			if name := processName(parent); name != "" {
				return fmt.Sprintf("no page shows this notebook: %s runs the kernel, not a Jupyter server", name)
			}
			return "" // the launcher is gone: cannot tell
		}
		return noServer
	}
	if kernel == "" {
		return "" // a Jupyter server names its kernels' connection files by id: cannot ask it
	}
	for _, f := range files {
		n, err := kernelConnections(f, kernel)
		switch {
		case err == errUnknownKernel && parent <= 0:
			continue // another server: try the next one
		case err != nil:
			return ""
		case n == 0:
			return "no page shows this notebook: the Jupyter server reports no browser connected to the kernel"
		default:
			return ""
		}
	}
	return noServer
}

const noServer = "no page shows this notebook: no Jupyter server on this machine runs the kernel"

// serverFile is the part of a Jupyter server's jpserver-<pid>.json / nbserver-<pid>.json
// that NoBrowser reads.
type serverFile struct {
	URL     string `json:"url"` // with the base URL, ending in "/"
	BaseURL string `json:"base_url"`
	Token   string `json:"token"`
	Sock    string `json:"sock"` // a Unix socket instead of TCP, when set
	PID     int    `json:"pid"`
}

// serverFiles returns the info files of the running Jupyter servers in the runtime folders
// (only the one of pid when pid > 0).
func serverFiles(pid int) []serverFile {
	pattern := "*server-*.json"
	if pid > 0 {
		pattern = "*server-" + strconv.Itoa(pid) + ".json"
	}
	seen := map[string]bool{}
	var out []serverFile
	for _, dir := range runtimeDirs() {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			base := filepath.Base(m)
			if seen[base] || !(strings.HasPrefix(base, "jpserver-") || strings.HasPrefix(base, "nbserver-")) {
				continue
			}
			seen[base] = true
			data, err := os.ReadFile(m)
			var f serverFile
			if err != nil || json.Unmarshal(data, &f) != nil || f.URL == "" || f.PID <= 0 || processName(f.PID) == "" {
				continue // unreadable, or a stale file of a server that is gone
			}
			out = append(out, f)
		}
	}
	return out
}

// runtimeDirs are where Jupyter servers write their info files: jupyter_core's runtime folder
// ($JUPYTER_RUNTIME_DIR, else <data dir>/runtime), and the folder of this kernel's connection
// file (GoNB, this cell's parent process, was started with `--kernel <file>`).
func runtimeDirs() []string {
	var dirs []string
	if d := os.Getenv("JUPYTER_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, d)
	} else {
		data := os.Getenv("JUPYTER_DATA_DIR")
		if data == "" {
			xdg := os.Getenv("XDG_DATA_HOME")
			if home, err := os.UserHomeDir(); xdg == "" && err == nil {
				xdg = filepath.Join(home, ".local", "share")
			}
			data = filepath.Join(xdg, "jupyter")
		}
		dirs = append(dirs, filepath.Join(data, "runtime"))
	}
	args := processArgs(os.Getppid())
	for i, a := range args {
		if (a == "--kernel" || a == "-kernel") && i+1 < len(args) {
			dirs = append(dirs, filepath.Dir(args[i+1]))
		}
	}
	return dirs
}

// processArgs returns a process's command line (Linux /proc; nil elsewhere or when gone).
func processArgs(pid int) []string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// processName names a running process by its program: the script a Python interpreter runs
// (jupyter-nbconvert, papermill), else the executable; "" when the process is not there.
func processName(pid int) string {
	args := processArgs(pid)
	for i, a := range args {
		base := filepath.Base(a)
		if i == 0 && strings.HasPrefix(base, "python") && len(args) > 1 {
			continue
		}
		if base == "-m" || strings.HasPrefix(base, "-") {
			continue
		}
		return fmt.Sprintf("%s (pid %d)", base, pid)
	}
	return ""
}

// errUnknownKernel: the server does not run the kernel (HTTP 404).
var errUnknownKernel = fmt.Errorf("kernel unknown to the server")

// kernelConnections asks the server how many front-ends are connected to the kernel.
func kernelConnections(f serverFile, kernel string) (int, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // a local server's own certificate
	base := f.URL
	if f.Sock != "" {
		base = "http://localhost/" + strings.TrimLeft(f.BaseURL, "/")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", f.Sock)
		}
	}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest("GET", strings.TrimRight(base, "/")+"/api/kernels/"+kernel, nil)
	if err != nil {
		return 0, err
	}
	if f.Token != "" {
		req.Header.Set("Authorization", "token "+f.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, errUnknownKernel
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET api/kernels/%s: %s", kernel, resp.Status)
	}
	var model struct {
		Connections *int `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&model); err != nil || model.Connections == nil {
		return 0, fmt.Errorf("GET api/kernels/%s: no connections field (%v)", kernel, err)
	}
	return *model.Connections, nil
}
