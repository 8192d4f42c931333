package notebooks_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BrowserNotebook is the notebook the browser test runs.
const BrowserNotebook = "flowers.ipynb"

// chromiumPath is Debian's chromium ($CHROMIUM overrides).
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserTree builds a folder that looks like the repository to GoNB (its notebooks'
// first cell replaces the module with ${GONB_DIR}/..): symbolic links to the repository's
// top-level entries, and a copy of notebooks/ so that the server's saves and checkpoints
// never touch the committed notebooks.
func browserTree(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "repo")
	if err := os.MkdirAll(filepath.Join(root, "notebooks"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "notebooks" || e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(repoRoot, e.Name()), filepath.Join(root, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, nb := range notebookFiles(t) {
		data, err := os.ReadFile(nb)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "notebooks", filepath.Base(nb)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "notebooks")
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBrowserRunAll opens the walkthrough in headless Chromium on the classic Notebook server,
// runs Cell → Run All, waits for the last cell, and checks that no cell failed and that the
// plots rendered with a size; it saves a screenshot of the whole notebook.
func TestBrowserRunAll(t *testing.T) {
	jupyter := requireKernel(t)
	chromium := chromiumPath()
	if _, err := os.Stat(chromium); err != nil {
		skipOrFail(t, "Chromium not found at %s: sudo apt-get install chromium chromium-driver (or set $CHROMIUM)", chromium)
	}
	if sampleDir() == "" {
		skipOrFail(t, "the sample photos are not in ../shared/data/flower_photos_small (nor $FLOWERS_SAMPLE_DIR)")
	}
	out := outDir(t)
	dir := browserTree(t)
	port, token := freePort(t), fmt.Sprintf("flowers%d", time.Now().UnixNano())

	// The Notebook server, in its own process group so that its kernels go with it.
	server := exec.Command(jupyter, "notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1",
		fmt.Sprintf("--port=%d", port), "--NotebookApp.token="+token, "--notebook-dir="+dir,
		"--NotebookApp.open_browser=False")
	server.Env = notebookEnv(filepath.Join(t.TempDir(), "work"), "FLOWERS_EPOCHS=2", "FLOWERS_PER_CLASS=4")
	logFile, err := os.Create(filepath.Join(out, "browser-notebook-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	server.Stdout, server.Stderr = logFile, logFile
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		t.Fatalf("starting the Notebook server: %v", err)
	}
	defer func() {
		_ = syscall.Kill(-server.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/api/status?token=" + token)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Notebook server did not answer on %s within 60s (log: %s)", base, logFile.Name())
		}
		time.Sleep(500 * time.Millisecond)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	url := fmt.Sprintf("%s/notebooks/%s?token=%s", base, BrowserNotebook, token)
	start := time.Now()
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	// Wait for the notebook and its kernel; never autosave (the copy is thrown away anyway).
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected()`,
		chromedp.WithPollingTimeout(2*time.Minute), chromedp.WithPollingInterval(500*time.Millisecond))); err != nil {
		t.Fatalf("the notebook's kernel did not connect: %v (server log: %s)", err, logFile.Name())
	}
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`Jupyter.notebook.set_autosave_interval(0); Jupyter.notebook.execute_all_cells()`)); err != nil {
		t.Fatalf("Run All: %v", err)
	}

	// Running: a code cell shows "*" until it has run. Done when none does (or a cell failed,
	// which stops the run: Jupyter then clears the queued cells' prompts).
	const state = `(() => {
		const cells = Jupyter.notebook.get_cells().filter(c => c.cell_type === "code");
		const errors = [];
		cells.forEach((c, i) => c.output_area.outputs.forEach(o => {
			if (o.output_type === "error") errors.push("code cell " + (i+1) + ": " + o.ename + ": " + o.evalue);
		}));
		const pending = cells.filter(c => c.input_prompt_number === "*").length;
		const ran = cells.filter(c => typeof c.input_prompt_number === "number").length;
		return {pending, ran, total: cells.length, errors, busy: Jupyter.notebook.kernel_busy === true};
	})()`
	type runState struct {
		Pending, Ran, Total int
		Errors              []string
		Busy                bool
	}
	var st runState
	for {
		st, err = chromedp.Run(bctx, chromedp.Evaluate[runState](state))
		if err != nil {
			t.Fatalf("reading the notebook state: %v", err)
		}
		if st.Pending == 0 && !st.Busy {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Run All did not finish in time: %d of %d code cells ran, %d pending", st.Ran, st.Total, st.Pending)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("Run All: %d of %d code cells ran in %.0fs", st.Ran, st.Total, time.Since(start).Seconds())

	screenshot(t, bctx, filepath.Join(out, "browser-"+strings.TrimSuffix(BrowserNotebook, ".ipynb")+".png"))
	if len(st.Errors) > 0 {
		t.Fatalf("cells failed in the browser:\n%s", strings.Join(st.Errors, "\n"))
	}
	if st.Ran != st.Total {
		t.Fatalf("only %d of %d code cells ran", st.Ran, st.Total)
	}

	// The plots rendered: each kind of chart is in the page with a non-zero size, and the
	// photos embedded in the grids decoded (an <image> with a broken data: URI has no size).
	type rendered struct {
		Charts   map[string][]float64
		Images   int
		ImagesOK int
		Imgs     int
		ImgsOK   int
		Stderr   int
	}
	r, err := chromedp.Run(bctx, chromedp.Evaluate[rendered](`(() => {
		const charts = {};
		for (const kind of ["flowers-bar-chart", "flowers-line-chart", "flowers-image-grid", "flowers-confusion-matrix"]) {
			charts[kind] = Array.from(document.querySelectorAll("#notebook svg." + kind)).map(s => {
				const b = s.getBoundingClientRect(); return b.width * b.height; });
		}
		const images = Array.from(document.querySelectorAll("#notebook svg image"));
		const imgs = Array.from(document.querySelectorAll("#notebook .output_area img"));
		return {
			charts,
			images: images.length,
			imagesOK: images.filter(i => { const b = i.getBBox(); return b.width > 0 && b.height > 0; }).length,
			imgs: imgs.length,
			imgsOK: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
			stderr: document.querySelectorAll("#notebook .output_stderr").length,
		};
	})()`))
	if err != nil {
		t.Fatalf("inspecting the page: %v", err)
	}
	t.Logf("rendered: charts %v, %d/%d SVG images, %d/%d <img>", r.Charts, r.ImagesOK, r.Images, r.ImgsOK, r.Imgs)
	want := map[string]int{"flowers-bar-chart": 2, "flowers-line-chart": 2, "flowers-image-grid": 3, "flowers-confusion-matrix": 1}
	for kind, n := range want {
		sizes := r.Charts[kind]
		if len(sizes) < n {
			t.Errorf("%d %s in the page, want at least %d", len(sizes), kind, n)
		}
		for i, a := range sizes {
			if a <= 0 {
				t.Errorf("%s #%d has no size", kind, i)
			}
		}
	}
	if r.Images < 10 || r.ImagesOK != r.Images {
		t.Errorf("%d of %d photos in the image grids rendered, want all and at least 10", r.ImagesOK, r.Images)
	}
	if r.Imgs < 4 || r.ImgsOK != r.Imgs {
		t.Errorf("%d of %d <img> photos decoded, want all and at least 4", r.ImgsOK, r.Imgs)
	}
}

// screenshot saves a PNG of the whole notebook: the viewport is made as tall as the notebook
// (the classic Notebook scrolls inside #site, so a page screenshot would stop at the window).
func screenshot(t *testing.T, ctx context.Context, path string) {
	h, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector("#notebook-container").scrollHeight + document.querySelector("#header").offsetHeight + 40`))
	if err != nil {
		t.Errorf("measuring the notebook: %v", err)
		return
	}
	h = min(h, 30000)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, int64(h))); err != nil {
		t.Errorf("resizing the viewport: %v", err)
		return
	}
	time.Sleep(time.Second) // let the notebook re-layout
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
		return
	}
	t.Logf("screenshot (%d×%d): %s", 1280, h, path)
}
