package notebooks_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// playgroundNotebook is the notebook TestBrowserPlayground opens: the walkthrough's first
// cell, its settings cell and its playground cell (the playground computes the features it
// needs itself), so that the test does not wait for the whole walkthrough.
const playgroundNotebook = "playground.ipynb"

// TestBrowserPlayground drives the playground's widgets in headless Chromium on the classic
// Notebook server: the settings' run draws its curves, the learning-rate slider moved with the
// keyboard and a click on Train add a run with the new value to the overlaid curves, Stop
// ends a 60-epoch run early, and Done ends the cell.
func TestBrowserPlayground(t *testing.T) {
	jupyter := requireKernel(t)
	browserPlayground(t, classicNotebook, jupyter, dataDir)
}

// TestBrowserPlaygroundLab is TestBrowserPlayground on JupyterLab 4.
func TestBrowserPlaygroundLab(t *testing.T) {
	lab, data := requireLab(t)
	browserPlayground(t, jupyterLab, lab, data)
}

// pgSeries is a series of the playground's accuracy figure: its legend name and points.
type pgSeries struct {
	Name   string
	Points int
}

// playgroundSeries returns the series of the playground's accuracy figure, whether the page
// shows it inline (<svg>) or as an <img> of the SVG.
func playgroundSeries(outputs string) string {
	return `(() => {
		const out = [];
		// The figure's outermost <svg> (a banner wraps it in one more of the same class).
		const parse = root => { for (const s of root.querySelectorAll("svg.flowers-playground-accuracy")) {
			if (s.parentElement && s.parentElement.closest("svg.flowers-playground-accuracy")) continue;
			for (const g of s.querySelectorAll("g.series")) out.push({name: g.getAttribute("data-name"), points: g.querySelectorAll("circle").length});
		} };
		for (const o of ` + outputs + `) {
			parse(o);
			for (const i of o.querySelectorAll("img")) {
				if (!i.src.startsWith("data:image/svg+xml")) continue;
				const data = i.src.slice(i.src.indexOf(",") + 1);
				const text = i.src.includes(";base64,") ? new TextDecoder().decode(Uint8Array.from(atob(data), c => c.charCodeAt(0))) : decodeURIComponent(data);
				parse(new DOMParser().parseFromString(text, "image/svg+xml"));
			}
		}
		return out;
	})()`
}

// playgroundStatus returns the status column of run #n in the playground's table ("" if none).
func playgroundStatus(outputs string, n int) string {
	return `(() => {
		for (const o of ` + outputs + `) for (const tr of o.querySelectorAll("table.flowers-table tr")) {
			const td = tr.querySelectorAll("td");
			if (td.length > 3 && td[0].textContent === "#` + strconv.Itoa(n) + `") return td[td.length - 1].textContent;
		}
		return "";
	})()`
}

// clickSlider clicks the track of the range input whose id starts with prefix where its
// value is pos of max (its minimum being 0 or 1), after scrolling it into view, until the
// slider holds pos (a page still re-laying out, after a screenshot resized it, can move the
// slider between measuring and clicking).
func clickSlider(t *testing.T, b *browser, prefix string, pos, max int) {
	t.Helper()
	type box struct {
		X, Y, W, H float64
		Value      string
	}
	measure := `(() => {
		const e = document.querySelector('input[type=range][id^="` + prefix + `"]');
		e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect();
		return {x: r.left, y: r.top, w: r.width, h: r.height, value: e.value};
	})()`
	var r box
	for try := 1; ; try++ {
		var err error
		for prev := (box{}); ; prev = r { // the same box twice in a row: the layout is still
			if r, err = chromedp.Run(b.bctx, chromedp.Evaluate[box](measure)); err != nil || r.W < 100 {
				t.Fatalf("the slider %s…: %+v, %v", prefix, r, err)
			}
			if r == prev {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Chromium's thumb is 16 pixels wide: its centre runs from 8 pixels in to 8 from the end.
		x := r.X + 8 + (r.W-16)*float64(pos)/float64(max)
		if pos == max {
			x = r.X + r.W - 2
		}
		if err := chromedp.Do(b.bctx, chromedp.MouseClickXY(x, r.Y+r.H/2)); err != nil {
			t.Fatalf("clicking the slider %s…: %v", prefix, err)
		}
		time.Sleep(200 * time.Millisecond)
		if r, err = chromedp.Run(b.bctx, chromedp.Evaluate[box](measure)); err == nil && r.Value == strconv.Itoa(pos) {
			return
		}
		if try == 3 {
			t.Fatalf("the slider %s… holds %q after 3 clicks where %d is (%+v, %v)", prefix, r.Value, pos, r, err)
		}
	}
}

// waitShown waits until the playground shows want as the value of the knob name (the text
// beside its slider, which the cell writes when the slider's value reaches it).
func waitShown(t *testing.T, b *browser, fe frontend, name, want string) {
	t.Helper()
	shown := `Array.from(document.querySelectorAll('[id^="flowers-pg-` + name + `-value-"]')).some(e => e.textContent === "` + want + `")`
	if _, err := chromedp.Run(b.bctx, chromedp.Poll[bool](shown, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		state, _ := chromedp.Run(b.bctx, chromedp.Evaluate[string](`JSON.stringify({active: document.activeElement && document.activeElement.id,
			sliders: Array.from(document.querySelectorAll('input[type=range][id^="flowers-pg-"]')).map(e => e.id + "=" + e.value),
			shown: Array.from(document.querySelectorAll('[id^="flowers-pg-"][id*="-value-"]')).map(e => e.textContent)})`))
		screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+fe.name+"-playground-failed.png"))
		t.Fatalf("%s: the %s slider does not show %s (%v): %s", fe.name, name, want, err, state)
	}
}

// writePlaygroundNotebook writes the playground notebook into dir from the walkthrough.
func writePlaygroundNotebook(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(notebooksDir, BrowserNotebook))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, c := range doc["cells"].([]any) {
		cell := c.(map[string]any)
		src := joinText(cell["source"])
		if cell["cell_type"] == "code" && (strings.HasPrefix(src, "!*go mod edit") || strings.Contains(src, "var settings = nb.Settings{") ||
			strings.Contains(src, "nb.NewPlayground(")) {
			keep = append(keep, cell)
		}
	}
	if len(keep) != 3 {
		t.Fatalf("%s: found %d of the 3 cells the playground needs (module, settings, playground)", BrowserNotebook, len(keep))
	}
	doc["cells"] = keep
	out, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(filepath.Join(dir, playgroundNotebook), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func browserPlayground(t *testing.T, fe frontend, jupyter, data string) {
	b := startBrowser(t, fe, fe.name+"-playground", jupyter, data, "FLOWERS_EPOCHS=2", "FLOWERS_PER_CLASS=4", "FLOWERS_PLAYGROUND_TIMEOUT=5m")
	writePlaygroundNotebook(t, b.dir)
	fe = fe.forNotebook(playgroundNotebook)
	url := fe.url(b.base, playgroundNotebook, b.token)
	start := time.Now()
	if err := chromedp.Do(b.bctx, focused, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	b.poll("the notebook did not load", fe.loaded, 2*time.Minute)
	b.poll("the notebook's kernel did not connect", fe.kernel, 2*time.Minute)
	if err := chromedp.Do(b.bctx, chromedp.Evaluate[chromedp.Void](fe.runAll)); err != nil {
		t.Fatalf("Run All: %v", err)
	}
	widgetsThere := `document.querySelectorAll('input[type=range][id^="flowers-pg-"]').length === 5 && ` +
		`document.querySelectorAll('select[id^="flowers-pg-head-"]').length === 1 && document.querySelectorAll('button[id^="flowers-pg-"]').length === 3`
	if _, err := chromedp.Run(b.bctx, chromedp.Poll[bool](widgetsThere, chromedp.WithPollingTimeout(6*time.Minute), chromedp.WithPollingInterval(time.Second))); err != nil {
		text, _ := chromedp.Run(b.bctx, chromedp.Evaluate[[]string](`Array.from(`+fe.outputs+`).map(o => o.innerHTML.slice(0, 2000))`))
		screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+fe.name+"-playground-failed.png"))
		t.Fatalf("%s: the playground's widgets did not appear (%v); the outputs:\n%s\n(server log: %s; console: browser-%s-playground-console.log)",
			fe.name, err, strings.Join(text, "\n---\n"), b.logFile.Name(), fe.name)
	}
	t.Logf("%s: the playground's widgets are on the page after %.0fs", fe.name, time.Since(start).Seconds())

	series := func() []pgSeries {
		t.Helper()
		s, err := chromedp.Run(b.bctx, chromedp.Evaluate[[]pgSeries](playgroundSeries(fe.outputs)))
		if err != nil {
			t.Fatalf("reading the playground's figure: %v", err)
		}
		return s
	}
	// waitRun waits until run #n is in the figure with at least points epochs.
	waitRun := func(n, points int, timeout time.Duration) pgSeries {
		t.Helper()
		prefix := "#" + strconv.Itoa(n) + " "
		deadline := time.Now().Add(timeout)
		for {
			for _, s := range series() {
				if strings.HasPrefix(s.Name, prefix) && s.Points >= points {
					return s
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: run #%d with %d epochs did not appear in the playground's figure within %s; its series: %+v (server log: %s)",
					fe.name, n, points, timeout, series(), b.logFile.Name())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	status := func(n int) string {
		t.Helper()
		s, err := chromedp.Run(b.bctx, chromedp.Evaluate[string](playgroundStatus(fe.outputs, n)))
		if err != nil {
			t.Fatalf("reading the playground's table: %v", err)
		}
		return s
	}
	waitStatus := func(n int, timeout time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			if s := status(n); s != "" && s != "training" {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: run #%d did not end within %s (status %q)", fe.name, n, timeout, status(n))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The settings' run: 2 epochs at lr 1e-3.
	first := waitRun(1, 2, 3*time.Minute)
	if first.Name != "#1 lr 1e-3 · 2 ep · b32 · avg" {
		t.Errorf("%s: the settings' run is %q", fe.name, first.Name)
	}
	if s := waitStatus(1, time.Minute); s != "done" {
		t.Fatalf("%s: the settings' run ended %q", fe.name, s)
	}

	// Move the learning-rate slider from 1e-3 to 1e-2 (position 12 of 0…16) with a mouse
	// click on its track, as a person does (JupyterLab keeps the arrow keys), and press Train.
	clickSlider(t, b, "flowers-pg-lr-", 12, 16)
	waitShown(t, b, fe, "lr", "1e-2")
	train := chromedp.CSS(`button[id^="flowers-pg-train-"]`)
	clickStart := time.Now()
	if err := chromedp.Do(b.bctx, chromedp.Click(train)); err != nil {
		t.Fatalf("clicking Train: %v", err)
	}
	second := waitRun(2, 2, 3*time.Minute)
	t.Logf("%s: Train → run #2 with its 2 epochs drawn %.1fs after the click", fe.name, time.Since(clickStart).Seconds())
	if second.Name != "#2 lr 1e-2 · 2 ep · b32 · avg" {
		t.Errorf("%s: the new run is %q, want the moved learning rate 1e-2", fe.name, second.Name)
	}
	if s := waitStatus(2, time.Minute); s != "done" {
		t.Errorf("%s: run #2 ended %q", fe.name, s)
	}
	if n := len(series()); n != 4 {
		t.Errorf("%s: %d series after two runs, want 4 (validation and training of each)", fe.name, n)
	}
	time.Sleep(time.Second)
	screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+fe.name+"-playground.png"))

	// Stop: 60 epochs (the slider's right end), Train, Stop once the first epochs are drawn.
	clickSlider(t, b, "flowers-pg-epochs-", 60, 60)
	waitShown(t, b, fe, "epochs", "60")
	if err := chromedp.Do(b.bctx, chromedp.Click(train)); err != nil {
		t.Fatalf("clicking Train: %v", err)
	}
	waitRun(3, 1, 3*time.Minute)
	if err := chromedp.Do(b.bctx, chromedp.Click(chromedp.CSS(`button[id^="flowers-pg-stop-"]`))); err != nil {
		t.Fatalf("clicking Stop: %v", err)
	}
	if s := waitStatus(3, time.Minute); s != "stopped" {
		t.Errorf("%s: run #3 (60 epochs, Stop pressed) ended %q, want stopped", fe.name, s)
	}
	third := waitRun(3, 1, time.Second)
	t.Logf("%s: Stop ended %q after %d of 60 epochs", fe.name, third.Name, third.Points)
	if third.Points >= 60 || !strings.HasPrefix(third.Name, "#3 lr 1e-2 · 60 ep") {
		t.Errorf("%s: the stopped run: %+v", fe.name, third)
	}

	// Done ends the cell: the controls say why and the kernel goes idle.
	if err := chromedp.Do(b.bctx, chromedp.Click(chromedp.CSS(`button[id^="flowers-pg-done-"]`))); err != nil {
		t.Fatalf("clicking Done: %v", err)
	}
	closed := `Array.from(` + fe.outputs + `).some(o => /Playground closed \(Done pressed\) after 3 runs/.test(o.textContent))`
	if _, err := chromedp.Run(b.bctx, chromedp.Poll[bool](closed, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(b.bctx, chromedp.Evaluate[[]string](`Array.from(`+fe.outputs+`).map(o => o.textContent.slice(0, 300))`))
		st, _ := chromedp.Run(b.bctx, chromedp.Evaluate[runState](fe.state))
		screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+fe.name+"-playground-failed.png"))
		t.Fatalf("%s: the controls do not say that the playground closed a minute after Done (%v); state %+v; the outputs:\n%s", fe.name, err, st, strings.Join(text, "\n---\n"))
	}
	b.poll("the cell did not end after Done", `(() => { const s = `+fe.state+`; return s.pending === 0 && !s.busy; })()`, time.Minute)
	st, err := chromedp.Run(b.bctx, chromedp.Evaluate[runState](fe.state))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Errors) > 0 || st.Ran != st.Total {
		t.Errorf("%s: %d of %d cells ran; errors: %v", fe.name, st.Ran, st.Total, st.Errors)
	}
	t.Logf("%s: playground test done in %.0fs", fe.name, time.Since(start).Seconds())
}
