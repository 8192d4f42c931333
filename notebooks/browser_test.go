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

	"github.com/flowerlib/flowers/internal/testdata"
)

// The notebooks: the walkthrough and the teaching experiments (experiments_test.go).
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

// TestNotebooksInJupyterLab executes the walkthrough and the experiments in JupyterLab 4 (the
// default front-end: the JupyterLab kernel/install.sh finds or makes, or $FLOWERS_JUPYTERLAB),
// in headless Chromium, on the go backend and the 200 sample photos, driving the playground's
// widgets, and asserts everything on that one execution of each (runInBrowser).
func TestNotebooksInJupyterLab(t *testing.T) {
	testdata.Slow(t, "executes both notebooks in JupyterLab in a browser")
	lab, data := requireLab(t, "go")
	if testdata.SampleDir() == "" {
		testdata.Need(t, "needs the 200 sample photos (../shared/data/flower_photos_small or $FLOWERS_SAMPLE_DIR)")
	}
	b := startBrowser(t, jupyterLab, "lab", lab, data, "sample")
	runInBrowser(t, b, jupyterLab, BrowserNotebook, smallSettings("sample", "go", "driven"))
	runInBrowser(t, b, jupyterLab, ExperimentsNotebook, smallSettings("sample", "go", ""))
}

// TestNotebooksInClassicNotebook executes the walkthrough in classic Notebook (install.sh
// --notebook) on the xla:cpu backend (the kernel registered with --backend xla:cpu), as on a
// machine that has never seen ../shared (the default Data "auto", offline: the photos embedded
// in flowerlib), driving the playground's widgets, and asserts everything on that execution.
func TestNotebooksInClassicNotebook(t *testing.T) {
	testdata.Slow(t, "executes the walkthrough in classic Notebook in a browser, on XLA")
	jupyter := requireKernel(t)
	plugin := xlaCPUPluginDir()
	if plugin == "" {
		testdata.Need(t, "needs an XLA CPU PJRT plugin (bash kernel/install.sh --xla, or source .ci/venv.sh)")
	}
	data := t.TempDir()
	if err := installKernel(jupyter, data, KernelName, "xla:cpu"); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, classicNotebook, "notebook", jupyter, data, "embedded", "PJRT_PLUGIN_LIBRARY_PATH="+plugin)
	runInBrowser(t, b, classicNotebook, BrowserNotebook, smallSettings("embedded", "xla:cpu", "driven"))
}

// requireLab returns JupyterLab 4's jupyter command — $FLOWERS_JUPYTERLAB, else the one
// kernel/install.sh uses (a JupyterLab 4 on PATH, else flowers' own environment) — and a
// Jupyter data folder with the kernel installed into it by kernel/install.sh (GOMLX_BACKEND=backend).
func requireLab(t *testing.T, backend string) (lab, data string) {
	requireKernel(t)
	lab = os.Getenv("FLOWERS_JUPYTERLAB")
	if lab == "" {
		out, err := exec.Command("bash", "-c", `source "$1" && find_jupyterlab`, "-", filepath.Join(repoRoot, "kernel", "jupyterlab.sh")).Output()
		if err != nil {
			testdata.Need(t, "needs JupyterLab 4: bash kernel/install.sh makes it (or set $FLOWERS_JUPYTERLAB)")
		}
		lab = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(lab, "lab", "--version").Output(); err != nil || !strings.HasPrefix(string(out), "4.") {
		testdata.Need(t, "%s lab --version: %q, %v: want JupyterLab 4", lab, out, err)
	}
	data = t.TempDir()
	if err := installKernel(lab, data, KernelName, backend); err != nil {
		t.Fatal(err)
	}
	return lab, data
}

// runInBrowser opens a notebook in the browser's front-end, runs all its cells (driving the
// playground's widgets when the walkthrough reaches it: drivePlayground), waits for the last,
// checks that no cell failed and that every picture rendered with a size, takes a screenshot,
// saves the notebook (signed: trusted) and checks the saved outputs against the notebook's
// expectation (expect_test.go). Then it opens a copy of the saved notebook with one metadata
// field changed (so the trust database, keyed by content, does not know it: what a person sent
// the file sees) and checks that the copy shows as many pictures, now as PNG.
func runInBrowser(t *testing.T, b *browser, fe frontend, name string, e execution) {
	want := expect(name, e)
	tag := b.tag
	if name != BrowserNotebook {
		tag += "-" + strings.TrimSuffix(name, ".ipynb")
	}
	bctx := b.bctx
	base := fe
	fe = fe.forNotebook(name)
	url := fe.url(b.base, name, b.token)
	start := time.Now()
	if err := chromedp.Do(bctx, focused, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	b.poll("the notebook did not load", fe.loaded, 2*time.Minute)
	b.poll("the notebook's kernel did not connect", fe.kernel, 2*time.Minute)
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](fe.runAll)); err != nil {
		t.Fatalf("Run All: %v", err)
	}
	time.Sleep(3 * time.Second) // let the first cell start
	deadline := start.Add(runDeadline)
	if e.Playground == "driven" {
		if waitPlayground(t, b, fe, deadline) {
			drivePlayground(t, b, fe, e)
		}
	}
	st := waitIdle(t, b, fe, deadline)
	t.Logf("%s: Run All of %s: %d of %d code cells ran in %.0fs", fe.name, name, st.Ran, st.Total, time.Since(start).Seconds())
	time.Sleep(2 * time.Second) // the last outputs' images decode
	screenshot(t, bctx, fe, filepath.Join(b.out, "browser-"+tag+".png"))
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
	if live.total() != want.Pictures || live.Broken > 0 {
		t.Errorf("%s after Run All: %s; want %d pictures, none broken", fe.name, live, want.Pictures)
	}
	// Where the notebook is trusted the figures show as SVG.
	if live.SVG+live.SVGImg != want.Figures {
		t.Errorf("%s after Run All: %d figures shown as SVG, want %d", fe.name, live.SVG+live.SVGImg, want.Figures)
	}
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fe.trusted)); err != nil || !ok {
		t.Errorf("%s: the notebook just run is not trusted (%v)", fe.name, err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](fe.save, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("saving the notebook: %v", err)
	}

	// The outputs, as saved: what the notebook must show (expect_test.go).
	checkOutputs(t, fe.name+" "+name, readNotebook(t, filepath.Join(b.dir, name)), want)

	checkSharedCopy(t, b, base, name, tag, live, want)
}

// checkSharedCopy opens a copy of the saved notebook with one metadata field more, as a new
// file (what a person sent the file sees: the trust database, keyed by content, does not know
// it), and checks that it is untrusted and shows as many pictures as the live notebook (live),
// every figure as its PNG.
func checkSharedCopy(t *testing.T, b *browser, fe frontend, name, tag string, live pictures, want expectation) {
	t.Helper()
	bctx := b.bctx
	sharedName := strings.TrimSuffix(name, ".ipynb") + "-shared.ipynb"
	shared := fe.forNotebook(sharedName)
	saved, err := os.ReadFile(filepath.Join(b.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(saved, &doc); err != nil {
		t.Fatalf("the saved notebook: %v", err)
	}
	doc["metadata"].(map[string]any)["flowers_shared_copy"] = "a copy as a colleague receives it: not in this server's trust database"
	copyData, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(filepath.Join(b.dir, sharedName), copyData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.out, "browser-"+tag+"-shared.ipynb"), copyData, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(fe.url(b.base, sharedName, b.token))); err != nil {
		t.Fatalf("opening the shared copy: %v", err)
	}
	b.poll("the shared copy did not load", shared.loaded, 2*time.Minute)
	time.Sleep(3 * time.Second) // images decode
	if trusted, err := chromedp.Run(bctx, chromedp.Evaluate[bool](shared.trusted)); err != nil || trusted {
		t.Errorf("%s: the shared copy counts as trusted (%v): the test would not see what its reader sees", fe.name, err)
	}
	copyPics, err := countPictures(bctx, shared.outputs)
	if err != nil {
		t.Fatalf("counting pictures: %v", err)
	}
	t.Logf("%s, shared copy (untrusted): %s", fe.name, copyPics)
	screenshot(t, bctx, shared, filepath.Join(b.out, "browser-"+tag+"-shared.png"))
	if copyPics.total() != live.total() || copyPics.Broken > 0 {
		t.Errorf("%s: the untrusted copy shows %s; the trusted notebook showed %d", fe.name, copyPics, live.total())
	}
	// Untrusted, every figure falls back to its PNG.
	if copyPics.PNGImg < want.Figures || copyPics.SVG+copyPics.SVGImg != 0 {
		t.Errorf("%s: the untrusted copy shows %s; want the %d figures as PNG and no SVG", fe.name, copyPics, want.Figures)
	}
}

// runDeadline bounds one notebook's Run All in the browser (minutes on a quiet machine).
const runDeadline = 15 * time.Minute

// waitIdle waits until no code cell is pending and the kernel is idle (before the deadline)
// and returns the notebook's state.
func waitIdle(t *testing.T, b *browser, fe frontend, deadline time.Time) runState {
	t.Helper()
	for {
		st, err := chromedp.Run(b.bctx, chromedp.Evaluate[runState](fe.state))
		if err != nil {
			t.Fatalf("reading the notebook state: %v", err)
		}
		if st.Pending == 0 && !st.Busy {
			return st
		}
		if b.ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("Run All did not finish within %s: %d of %d code cells ran, %d pending", runDeadline, st.Ran, st.Total, st.Pending)
		}
		time.Sleep(2 * time.Second)
	}
}

// browser is a Jupyter server (the frontend's) on a copy of the notebooks (browserTree) with
// a headless Chromium: the pieces every browser test needs. Cleanup stops both.
type browser struct {
	tag, out, dir, base, token string
	logFile                    *os.File
	ctx, bctx                  context.Context // the test's deadline; the browser's (within it)
	poll                       func(what, js string, timeout time.Duration)
}

// startBrowser starts the frontend's server (the Jupyter data folder data holds the kernel)
// with the notebook tests' environment on the photos photos (notebookEnv; extra overrides it)
// and a headless Chromium with a HOME of its own, within a 40-minute deadline; its logs are
// browser-<tag>-server.log and browser-<tag>-console.log.
func startBrowser(t *testing.T, fe frontend, tag, jupyter, data, photos string, extra ...string) *browser {
	chromium := chromiumPath()
	if _, err := os.Stat(chromium); err != nil {
		testdata.Need(t, "needs Chromium at %s: sudo apt-get install chromium chromium-driver (or set $CHROMIUM)", chromium)
	}
	b := &browser{tag: tag, out: outDir(t), dir: browserTree(t), token: fmt.Sprintf("flowers%d", time.Now().UnixNano())}
	port := freePort(t)

	// The server, in its own process group so that its kernels go with it. The playground
	// ends 5 minutes after its last touch (drivePlayground presses Done long before).
	server := exec.Command(jupyter, fe.server(port, b.token, b.dir)...)
	work := filepath.Join(t.TempDir(), "work")
	env := notebookEnv(work, photos, append([]string{"FLOWERS_PLAYGROUND_TIMEOUT=5m"}, extra...)...)
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

	// Chromium writes under HOME and XDG folders (dconf, fonts' caches): its own.
	home := filepath.Join(work, "chromium-home")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
			"XDG_DATA_HOME="+filepath.Join(home, ".local", "share")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute) // runInBrowser: 15 minutes a notebook
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	b.ctx, b.bctx = ctx, bctx
	logConsole(t, bctx, filepath.Join(b.out, "browser-"+tag+"-console.log"))
	b.poll = func(what, js string, timeout time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(500*time.Millisecond))); err != nil {
			t.Fatalf("%s: %s: %v (server log: %s)", fe.name, what, err, logFile.Name())
		}
	}
	return b
}

// logConsole writes the page's console and uncaught exceptions to the file path, from the tab
// it opens: a widget whose JavaScript fails says so there.
func logConsole(t *testing.T, bctx context.Context, path string) {
	console, err := os.Create(path)
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
