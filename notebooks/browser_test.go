package notebooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// BrowserNotebook is the notebook the browser tests run.
const BrowserNotebook = "flowers.ipynb"

// walkthroughPictures is what the walkthrough shows once run: 9 figures (class counts, sample
// grid, augmentation preview, curves, confusion matrix, prediction gallery, own photo, the
// playground's accuracy and loss) and the 3 photos of the resize demo.
const (
	walkthroughFigures  = 9
	walkthroughPictures = walkthroughFigures + 3
)

// browserNotebooks are the notebooks the browser tests run, with the figures and the pictures
// in all each shows once run: the walkthrough and the experiments (experiments_test.go).
var browserNotebooks = []browserNotebook{
	{BrowserNotebook, walkthroughFigures, walkthroughPictures},
	{ExperimentsNotebook, experimentsFigures, experimentsFigures},
}

type browserNotebook struct {
	name              string
	figures, pictures int
}

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
	files, _ := filepath.Glob(filepath.Join(notebooksDir, "*"))
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.IsDir() || strings.HasSuffix(f, ".go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "notebooks", filepath.Base(f)), data, 0o755); err != nil {
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

// frontend is how the test drives one Jupyter frontend: its server, and JavaScript that
// reads and drives the page.
type frontend struct {
	name string
	// server returns the server's arguments (after the jupyter command).
	server func(port int, token, dir string) []string
	url    func(base, notebook, token string) string
	// loaded is true once the notebook's cells are on the page; kernel once its kernel is idle.
	loaded, kernel string
	runAll, save   string
	// state returns a runState; trusted whether the notebook's outputs count as trusted.
	state, trusted string
	// outputs returns the notebook's output elements; height is the page height that shows
	// the whole notebook (for the screenshot). %NB% stands for the notebook's file name.
	outputs, height string
}

var classicNotebook = frontend{
	name: "notebook",
	server: func(port int, token, dir string) []string {
		return []string{"notebook", "--no-browser", "--allow-root", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
			"--NotebookApp.token=" + token, "--notebook-dir=" + dir, "--NotebookApp.open_browser=False"}
	},
	url:    func(base, nb, token string) string { return fmt.Sprintf("%s/notebooks/%s?token=%s", base, nb, token) },
	loaded: `!!(window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded)`,
	kernel: `!!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() && !Jupyter.notebook.kernel_busy)`,
	// Never autosave (the test saves once, when the run is over).
	runAll: `Jupyter.notebook.set_autosave_interval(0); Jupyter.notebook.execute_all_cells()`,
	save:   `Jupyter.notebook.save_notebook().then(() => true)`,
	// A code cell shows "*" until it has run. Done when none does (or a cell failed, which
	// stops the run: Jupyter then clears the queued cells' prompts).
	state: `(() => {
		const cells = Jupyter.notebook.get_cells().filter(c => c.cell_type === "code");
		const errors = [];
		cells.forEach((c, i) => c.output_area.outputs.forEach(o => {
			if (o.output_type === "error") errors.push("code cell " + (i+1) + ": " + o.ename + ": " + o.evalue);
		}));
		const pending = cells.filter(c => c.input_prompt_number === "*").length;
		const ran = cells.filter(c => typeof c.input_prompt_number === "number").length;
		return {pending, ran, total: cells.length, errors, busy: Jupyter.notebook.kernel_busy === true};
	})()`,
	// Outputs made in this session are trusted; Jupyter.notebook.trusted only says whether
	// the file was signed when it was opened.
	trusted: `Jupyter.notebook.get_cells().filter(c => c.cell_type === "code").every(c => c.output_area.trusted)`,
	outputs: `Array.from(document.querySelectorAll("#notebook .output_area"))`,
	height: `(() => { document.querySelector("#site").scrollTop = 0;
		return document.querySelector("#notebook-container").scrollHeight + document.querySelector("#header").offsetHeight + 40; })()`,
}

// jupyterLab needs window.jupyterapp (expose_app_in_browser), renders every cell (the
// settings written by labSettings turn windowing off) and finds the notebook's panel by its
// path (%NB% in the scripts): the shared copy opens beside the notebook in the same workspace.
var jupyterLab = frontend{
	name: "lab",
	server: func(port int, token, dir string) []string {
		return []string{"lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", fmt.Sprintf("--port=%d", port),
			"--ServerApp.token=" + token, "--ServerApp.root_dir=" + dir, "--LabApp.expose_app_in_browser=True",
			"--LabApp.news_url=", "--ServerApp.open_browser=False"}
	},
	url:    func(base, nb, token string) string { return fmt.Sprintf("%s/lab/tree/%s?token=%s", base, nb, token) },
	loaded: labPanel + `return !!(w && w.context.isReady && w.content.widgets.length > 0 && w.content.widgets.every(c => c.isAttached)); })()`,
	// GoNB sends its first status with the first execution: "unknown" until then.
	kernel: labPanel + `const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
		return !!(k && k.connectionStatus === "connected" && (k.status === "idle" || k.status === "unknown")); })()`,
	runAll: labPanel + `jupyterapp.shell.activateById(w.id); return jupyterapp.commands.execute("notebook:run-all-cells"); })()`,
	save:   labPanel + `jupyterapp.shell.activateById(w.id); return w.context.save().then(() => true); })()`,
	state: labPanel + `
		const cells = w.content.widgets.filter(c => c.model.type === "code");
		const errors = [];
		cells.forEach((c, i) => c.model.outputs.toJSON().forEach(o => {
			if (o.output_type === "error") errors.push("code cell " + (i+1) + ": " + o.ename + ": " + o.evalue);
		}));
		const pending = cells.filter(c => (c.promptNode && c.promptNode.textContent || "").includes("*")).length;
		const ran = cells.filter(c => c.model.executionCount !== null).length;
		const k = w.sessionContext.session && w.sessionContext.session.kernel;
		return {pending, ran, total: cells.length, errors, busy: !k || k.status !== "idle"};
	})()`,
	trusted: labPanel + `return w.content.widgets.filter(c => c.model.type === "code").every(c => c.model.trusted); })()`,
	outputs: labPanel + `return Array.from(w.node.querySelectorAll(".jp-OutputArea-output")); })()`,
	height: labPanel + `jupyterapp.shell.activateById(w.id);
		for (const e of [w.content.node, ...w.content.node.querySelectorAll(".jp-WindowedPanel-outer")]) e.scrollTop = 0;
		const inner = w.content.node.querySelector(".jp-WindowedPanel-inner") || w.content.node;
		return inner.scrollHeight + 200; })()`,
}

// labPanel opens a script with w, the notebook panel of the file %NB%.
const labPanel = `(() => { const w = window.jupyterapp && Array.from(jupyterapp.shell.widgets("main")).find(
	w => w.content && w.content.widgets && w.context && w.context.path === "%NB%");
`

// labSettings writes JupyterLab user settings: every cell rendered (no windowing, so that
// off-screen outputs are in the page), no news or update notifications.
func labSettings(t *testing.T) string {
	dir := t.TempDir()
	for file, content := range map[string]string{
		"@jupyterlab/notebook-extension/tracker.jupyterlab-settings":         `{"windowingMode": "none"}`,
		"@jupyterlab/apputils-extension/notification.jupyterlab-settings":    `{"fetchNews": "false", "checkForUpdates": false}`,
		"@jupyterlab/apputils-extension/announcements.jupyterlab-settings":   `{}`,
		"@jupyterlab/application-extension/context-menu.jupyterlab-settings": `{}`,
	} {
		path := filepath.Join(dir, file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pictures counts what an output area shows: top-level inline <svg> and <img> elements that
// decoded and have a size, by kind; Broken counts those that did not.
type pictures struct {
	SVG, PNGImg, SVGImg, JPEGImg, Broken int
}

func (p pictures) total() int { return p.SVG + p.PNGImg + p.SVGImg + p.JPEGImg }

func (p pictures) String() string {
	return fmt.Sprintf("%d pictures: %d inline SVG, %d <img> SVG, %d <img> PNG, %d <img> JPEG; %d broken",
		p.total(), p.SVG, p.SVGImg, p.PNGImg, p.JPEGImg, p.Broken)
}

func countPictures(ctx context.Context, outputs string) (pictures, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[pictures](`(() => {
		const r = {svg: 0, pngImg: 0, svgImg: 0, jpegImg: 0, broken: 0};
		for (const o of `+outputs+`) {
			for (const s of o.querySelectorAll("svg")) {
				if (s.parentElement.closest("svg")) continue; // a figure's inner panels
				const b = s.getBoundingClientRect();
				if (b.width * b.height > 0) r.svg++; else r.broken++;
			}
			for (const i of o.querySelectorAll("img")) {
				const b = i.getBoundingClientRect();
				if (!(i.complete && i.naturalWidth > 0 && b.width * b.height > 0)) { r.broken++; continue; }
				if (i.src.startsWith("data:image/png")) r.pngImg++;
				else if (i.src.startsWith("data:image/svg")) r.svgImg++;
				else if (i.src.startsWith("data:image/jpeg")) r.jpegImg++;
				else r.broken++; // nothing here loads from elsewhere
			}
		}
		return r;
	})()`))
}

// forNotebook returns fe with its scripts pointed at the notebook file name.
func (fe frontend) forNotebook(name string) frontend {
	for _, p := range []*string{&fe.loaded, &fe.kernel, &fe.runAll, &fe.save, &fe.state, &fe.trusted, &fe.outputs, &fe.height} {
		*p = strings.ReplaceAll(*p, "%NB%", name)
	}
	return fe
}

// focused makes the page believe it has the focus, as a window on a desk does: JupyterLab's
// commands act on the focused notebook, and headless Chromium focuses nothing.
var focused = chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, t, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
	return chromedp.Void{}, err
})

type runState struct {
	Pending, Ran, Total int
	Errors              []string
	Busy                bool
}

// TestBrowserRunAll runs the walkthrough in headless Chromium on the classic Notebook server.
func TestBrowserRunAll(t *testing.T) {
	jupyter := requireKernel(t)
	for _, nbk := range browserNotebooks {
		t.Run(strings.TrimSuffix(nbk.name, ".ipynb"), func(t *testing.T) { browserRunAll(t, classicNotebook, jupyter, dataDir, nbk) })
	}
}

// TestBrowserRunAllLab runs the walkthrough in headless Chromium on JupyterLab 4
// ($FLOWERS_JUPYTERLAB, from the test environment .ci/venv.sh makes), with the kernel
// installed into it by kernel/install.sh.
func TestBrowserRunAllLab(t *testing.T) {
	lab, data := requireLab(t)
	for _, nbk := range browserNotebooks {
		t.Run(strings.TrimSuffix(nbk.name, ".ipynb"), func(t *testing.T) { browserRunAll(t, jupyterLab, lab, data, nbk) })
	}
}

// requireLab returns JupyterLab 4's jupyter command ($FLOWERS_JUPYTERLAB) and a Jupyter data
// folder with the kernel installed into it by kernel/install.sh.
func requireLab(t *testing.T) (lab, data string) {
	requireKernel(t)
	lab = os.Getenv("FLOWERS_JUPYTERLAB")
	if lab == "" {
		skipOrFail(t, "$FLOWERS_JUPYTERLAB is not set: source .ci/venv.sh (JupyterLab 4 in a test-only virtual environment)")
	}
	if out, err := exec.Command(lab, "lab", "--version").Output(); err != nil || !strings.HasPrefix(string(out), "4.") {
		skipOrFail(t, "%s lab --version: %q, %v: want JupyterLab 4", lab, out, err)
	}
	data = t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "kernel", "install.sh"), "--name", KernelName)
	cmd.Env = append(os.Environ(), "JUPYTER_DATA_DIR="+data, "JUPYTER="+lab)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("JUPYTER=%s kernel/install.sh: %v\n%s", lab, err, out)
	}
	out, err := exec.Command(lab, "kernelspec", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("%s kernelspec list: %v\n%s", lab, err, out)
	}
	return lab, data
}

// browserRunAll opens the walkthrough in headless Chromium on the frontend's server, runs all
// cells, waits for the last, checks that no cell failed and that every picture rendered with
// a size, takes a screenshot and saves the notebook (signed: trusted). Then it opens a copy
// of the saved notebook with one metadata field changed (so the trust database, keyed by
// content, does not know it: what a person sent the file sees) and checks that the copy
// shows as many pictures, now as PNG.
func browserRunAll(t *testing.T, fe frontend, jupyter, data string, nbk browserNotebook) {
	// Artifacts: browser-<frontend>[-<notebook>]….
	tag := fe.name
	if nbk.name != BrowserNotebook {
		tag += "-" + strings.TrimSuffix(nbk.name, ".ipynb")
	}
	// The walkthrough's playground (its last cell) ends after 20 s without a touch.
	b := startBrowser(t, fe, tag, jupyter, data, "FLOWERS_EPOCHS=2", "FLOWERS_PER_CLASS=4", "FLOWERS_PLAYGROUND_TIMEOUT=20s")
	out, dir, base, token, ctx, bctx, poll := b.out, b.dir, b.base, b.token, b.ctx, b.bctx, b.poll
	var err error
	sharedName := strings.TrimSuffix(nbk.name, ".ipynb") + "-shared.ipynb"
	shared := fe.forNotebook(sharedName)
	fe = fe.forNotebook(nbk.name)
	url := fe.url(base, nbk.name, token)
	start := time.Now()
	if err := chromedp.Do(bctx, focused, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	poll("the notebook did not load", fe.loaded, 2*time.Minute)
	poll("the notebook's kernel did not connect", fe.kernel, 2*time.Minute)
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](fe.runAll)); err != nil {
		t.Fatalf("Run All: %v", err)
	}
	var st runState
	time.Sleep(3 * time.Second) // let the first cell start
	for {
		st, err = chromedp.Run(bctx, chromedp.Evaluate[runState](fe.state))
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
	t.Logf("%s: Run All: %d of %d code cells ran in %.0fs", fe.name, st.Ran, st.Total, time.Since(start).Seconds())
	time.Sleep(2 * time.Second) // the last outputs' images decode
	shot := "browser-" + tag + ".png"
	screenshot(t, bctx, fe, filepath.Join(out, shot))
	if len(st.Errors) > 0 {
		t.Fatalf("cells failed in the browser:\n%s", strings.Join(st.Errors, "\n"))
	}
	if st.Ran != st.Total {
		t.Fatalf("only %d of %d code cells ran", st.Ran, st.Total)
	}
	live, err := countPictures(bctx, fe.outputs)
	if err != nil {
		t.Fatalf("counting pictures: %v", err)
	}
	t.Logf("%s, after Run All (trusted): %s", fe.name, live)
	if live.total() != nbk.pictures || live.Broken > 0 {
		t.Errorf("%s after Run All: %s; want %d pictures, none broken", fe.name, live, nbk.pictures)
	}
	// Where the notebook is trusted the figures show as SVG.
	if live.SVG+live.SVGImg != nbk.figures {
		t.Errorf("%s after Run All: %d figures shown as SVG, want %d", fe.name, live.SVG+live.SVGImg, nbk.figures)
	}
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fe.trusted)); err != nil || !ok {
		t.Errorf("%s: the notebook just run is not trusted (%v)", fe.name, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fe.save, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("saving the notebook: %v", err)
	}

	// The shared copy: the saved notebook with one metadata field more, as a new file.
	saved, err := os.ReadFile(filepath.Join(dir, nbk.name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(saved, &doc); err != nil {
		t.Fatalf("the saved notebook: %v", err)
	}
	doc["metadata"].(map[string]any)["flowers_shared_copy"] = "a copy as a colleague receives it: not in this server's trust database"
	copyData, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(filepath.Join(dir, sharedName), copyData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "browser-"+tag+"-shared.ipynb"), copyData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(fe.url(base, sharedName, token))); err != nil {
		t.Fatalf("opening the shared copy: %v", err)
	}
	poll("the shared copy did not load", shared.loaded, 2*time.Minute)
	time.Sleep(3 * time.Second) // images decode
	if trusted, err := chromedp.Run(bctx, chromedp.Evaluate[bool](shared.trusted)); err != nil || trusted {
		t.Errorf("%s: the shared copy counts as trusted (%v): the test would not see what its reader sees", fe.name, err)
	}
	copyPics, err := countPictures(bctx, shared.outputs)
	if err != nil {
		t.Fatalf("counting pictures: %v", err)
	}
	t.Logf("%s, shared copy (untrusted): %s", fe.name, copyPics)
	screenshot(t, bctx, shared, filepath.Join(out, "browser-"+tag+"-shared.png"))
	if copyPics.total() != live.total() || copyPics.Broken > 0 {
		t.Errorf("%s: the untrusted copy shows %s; the trusted notebook showed %d", fe.name, copyPics, live.total())
	}
	// Untrusted, every figure falls back to its PNG.
	if copyPics.PNGImg < nbk.figures || copyPics.SVG+copyPics.SVGImg != 0 {
		t.Errorf("%s: the untrusted copy shows %s; want the %d figures as PNG and no SVG", fe.name, copyPics, nbk.figures)
	}
}

// browser is a Jupyter server (the frontend's) on a copy of the notebooks (browserTree) with
// a headless Chromium: the pieces every browser test needs. Cleanup stops both.
type browser struct {
	out, dir, base, token string
	logFile               *os.File
	ctx, bctx             context.Context // the test's deadline; the browser's (within it)
	poll                  func(what, js string, timeout time.Duration)
}

// startBrowser starts the frontend's server with the notebook tests' environment (extra
// overrides it) and a headless Chromium, within a 9-minute deadline; its logs are
// browser-<tag>-server.log and browser-<tag>-console.log.
func startBrowser(t *testing.T, fe frontend, tag, jupyter, data string, extra ...string) *browser {
	chromium := chromiumPath()
	if _, err := os.Stat(chromium); err != nil {
		skipOrFail(t, "Chromium not found at %s: sudo apt-get install chromium chromium-driver (or set $CHROMIUM)", chromium)
	}
	if sampleDir() == "" {
		skipOrFail(t, "the sample photos are not in ../shared/data/flower_photos_small (nor $FLOWERS_SAMPLE_DIR)")
	}
	b := &browser{out: outDir(t), dir: browserTree(t), token: fmt.Sprintf("flowers%d", time.Now().UnixNano())}
	port := freePort(t)

	// The server, in its own process group so that its kernels go with it.
	server := exec.Command(jupyter, fe.server(port, b.token, b.dir)...)
	env := notebookEnv(filepath.Join(t.TempDir(), "work"), extra...)
	server.Env = append(env, "JUPYTER_DATA_DIR="+data, "JUPYTERLAB_SETTINGS_DIR="+labSettings(t),
		"JUPYTERLAB_WORKSPACES_DIR="+t.TempDir())
	logFile, err := os.Create(filepath.Join(b.out, "browser-"+tag+"-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.logFile = logFile
	t.Cleanup(func() { logFile.Close() })
	server.Stdout, server.Stderr = logFile, logFile
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		t.Fatalf("starting the %s server: %v", fe.name, err)
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
	})
	b.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(b.base + "/api/status?token=" + b.token)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s server did not answer on %s within 90s (log: %s)", fe.name, b.base, logFile.Name())
		}
		time.Sleep(500 * time.Millisecond)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	b.ctx, b.bctx = ctx, bctx
	// The page's console and uncaught exceptions go to a file: a widget whose JavaScript fails
	// says so there.
	console, err := os.Create(filepath.Join(b.out, "browser-"+tag+"-console.log"))
	if err != nil {
		t.Fatal(err)
	}
	var consoleMu sync.Mutex
	t.Cleanup(func() { consoleMu.Lock(); console.Close(); consoleMu.Unlock() })
	if err := chromedp.Do(bctx); err != nil { // opens the tab, so that Listen sees it from the start
		t.Fatalf("starting Chromium: %v", err)
	}
	if err := chromedp.Listen(bctx, func(ev any) {
		var line string
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			line = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			line = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				line += " " + e.ExceptionDetails.Exception.Description
			}
		default:
			return
		}
		consoleMu.Lock()
		fmt.Fprintf(console, "%s %s\n", time.Now().Format("15:04:05.000"), line)
		consoleMu.Unlock()
	}); err != nil {
		t.Fatalf("listening to the page's console: %v", err)
	}
	b.poll = func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(500*time.Millisecond))); err != nil {
			t.Fatalf("%s: %s: %v (server log: %s)", fe.name, what, err, logFile.Name())
		}
	}
	return b
}

// screenshot saves a PNG of the whole notebook: the viewport is made as tall as the notebook
// (both frontends scroll inside the page, so a page screenshot would stop at the window).
// With $FLOWERS_SCREENSHOTS set it is copied there too.
func screenshot(t *testing.T, ctx context.Context, fe frontend, path string) {
	h, err := chromedp.Run(ctx, chromedp.Evaluate[int](fe.height))
	if err != nil {
		t.Errorf("measuring the notebook: %v", err)
		return
	}
	h = min(h, 30000)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, int64(h))); err != nil {
		t.Errorf("resizing the viewport: %v", err)
		return
	}
	time.Sleep(2 * time.Second) // let the notebook re-layout
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
	if dir := os.Getenv("FLOWERS_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(path)), png, 0o644)
		}
		if err != nil {
			t.Errorf("copying the screenshot to $FLOWERS_SCREENSHOTS: %v", err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Errorf("resizing the viewport back: %v", err)
	}
}
