package notebooks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// playgroundNotebook is the notebook TestPlaygroundHeadless executes: the walkthrough's first
// cell, its settings cell and its playground cell (the playground computes the features it
// needs itself), so that the test does not wait for the whole walkthrough.
const playgroundNotebook = "playground.ipynb"

// TestPlaygroundHeadless executes the playground headless the common way — nbconvert, no
// browser, no setting (FLOWERS_HEADLESS unset) — and checks that the playground sees at once
// that no page shows it, trains once with the settings' values and ends: the cell must not wait
// for widgets (Playground.ConnectTimeout, 40 s, would show in its time and its message).
func TestPlaygroundHeadless(t *testing.T) {
	jupyter := requireKernel(t)
	dir := browserTree(t) // the first cell needs the repository at ${GONB_DIR}/..
	writePlaygroundNotebook(t, dir)
	out := outDir(t)
	start := time.Now()
	executed := executeNotebook(t, jupyter, KernelName, "embedded", filepath.Join(dir, playgroundNotebook),
		filepath.Join(out, "playground.headless.executed.ipynb"))
	t.Logf("nbconvert of the playground (3 cells): %.0fs", time.Since(start).Seconds())
	var text strings.Builder
	var pg *cell
	for i, c := range executed.Cells {
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell %d failed: %s: %s", i, o.Ename, o.Evalue)
			}
			text.WriteString(o.text())
		}
		if strings.Contains(c.source(), "playground.New(") {
			pg = &executed.Cells[i]
		}
	}
	e := smallSettings("embedded", "go", "headless")
	for _, p := range walkthroughExpect(e).Patterns {
		if strings.HasPrefix(p.what, "the playground") && !regexp.MustCompile(`(?s)`+p.re).MatchString(text.String()) {
			t.Errorf("no %s in the outputs (pattern %q)", p.what, p.re)
		}
	}
	// nbclient records when each cell started and ended: the playground cell compiles, then
	// its run (the features of 20 photos, 2 epochs of the pooled head) reports its own time.
	// What is left is the compilation and the decision — seconds — where waiting for a browser
	// would add 40 s (Playground.ConnectTimeout).
	if pg == nil || pg.Metadata.Execution.Start == "" {
		t.Fatalf("the executed playground cell has no execution times: %+v", pg)
	}
	begin, err1 := time.Parse(time.RFC3339Nano, pg.Metadata.Execution.Start)
	end, err2 := time.Parse(time.RFC3339Nano, pg.Metadata.Execution.End)
	if err1 != nil || err2 != nil {
		t.Fatalf("the playground cell's times: %v, %v", err1, err2)
	}
	m := regexp.MustCompile(`done: 2 epochs in ([\d.]+)s`).FindStringSubmatch(text.String())
	if m == nil {
		t.Fatalf("the playground's run does not report its time (done: 2 epochs in …s)")
	}
	run, _ := strconv.ParseFloat(m[1], 64)
	took := end.Sub(begin)
	rest := took - time.Duration(run*float64(time.Second))
	t.Logf("the playground cell took %.1fs under nbconvert: its run %.1fs, compiling and deciding %.1fs", took.Seconds(), run, rest.Seconds())
	if rest > 40*time.Second {
		t.Errorf("the playground cell spent %s besides its run: as long as waiting for a browser", rest.Round(time.Second))
	}
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
		screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+b.tag+"-playground-failed.png"))
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
		if cell["cell_type"] != "code" {
			continue
		}
		switch {
		case strings.Contains(src, "func training()"):
			// The training configuration's declarations, not the training itself: the playground trains.
			decl, _, _ := strings.Cut(src, "%%")
			cell["source"] = decl
			keep = append(keep, cell)
		case strings.HasPrefix(src, "!*go mod edit"), strings.Contains(src, "var settings = config.Run{"),
			strings.Contains(src, "func flowerHead("), strings.Contains(src, "playground.New("):
			keep = append(keep, cell)
		}
	}
	if len(keep) != 5 {
		t.Fatalf("%s: found %d of the 5 cells the playground needs (module, settings, head, training's declarations, playground)", BrowserNotebook, len(keep))
	}
	doc["cells"] = keep
	out, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(filepath.Join(dir, playgroundNotebook), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pgDriver reads the playground's state on the page while drivePlayground drives it.
type pgDriver struct {
	t  *testing.T
	b  *browser
	fe frontend
}

// series returns the series of the playground's accuracy figure.
func (d pgDriver) series() []pgSeries {
	d.t.Helper()
	s, err := chromedp.Run(d.b.bctx, chromedp.Evaluate[[]pgSeries](playgroundSeries(d.fe.outputs)))
	if err != nil {
		d.t.Fatalf("reading the playground's figure: %v", err)
	}
	return s
}

// waitRun waits until run #n is in the figure with at least points epochs.
func (d pgDriver) waitRun(n, points int, timeout time.Duration) pgSeries {
	d.t.Helper()
	prefix := "#" + strconv.Itoa(n) + " "
	deadline := time.Now().Add(timeout)
	for {
		for _, s := range d.series() {
			if strings.HasPrefix(s.Name, prefix) && s.Points >= points {
				return s
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: run #%d with %d epochs did not appear in the playground's figure within %s; its series: %+v (server log: %s)",
				d.fe.name, n, points, timeout, d.series(), d.b.logFile.Name())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status returns the status column of run #n in the playground's table.
func (d pgDriver) status(n int) string {
	d.t.Helper()
	s, err := chromedp.Run(d.b.bctx, chromedp.Evaluate[string](playgroundStatus(d.fe.outputs, n)))
	if err != nil {
		d.t.Fatalf("reading the playground's table: %v", err)
	}
	return s
}

// waitStatus waits until run #n has ended and returns how ("done", "stopped", "failed: …").
func (d pgDriver) waitStatus(n int, timeout time.Duration) string {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if s := d.status(n); s != "" && s != "training" {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: run #%d did not end within %s (status %q)", d.fe.name, n, timeout, d.status(n))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPlayground waits until the walkthrough's playground shows its widgets (true), or the run
// stops before (a cell failed: false; the caller reports the cells' errors), before the deadline.
func waitPlayground(t *testing.T, b *browser, fe frontend, deadline time.Time) bool {
	t.Helper()
	widgetsThere := `document.querySelectorAll('input[type=range][id^="flowers-pg-"]').length === 5 && ` +
		`document.querySelectorAll('select[id^="flowers-pg-head-"]').length === 1 && document.querySelectorAll('button[id^="flowers-pg-"]').length === 3`
	start := time.Now()
	for {
		there, err := chromedp.Run(b.bctx, chromedp.Evaluate[bool](widgetsThere))
		if err != nil {
			t.Fatalf("looking for the playground's widgets: %v", err)
		}
		if there {
			t.Logf("%s: the playground's widgets are on the page after %.0fs", fe.name, time.Since(start).Seconds())
			return true
		}
		st, err := chromedp.Run(b.bctx, chromedp.Evaluate[runState](fe.state))
		if err != nil {
			t.Fatalf("reading the notebook state: %v", err)
		}
		if st.Pending == 0 && !st.Busy && len(st.Errors) > 0 {
			return false
		}
		if b.ctx.Err() != nil || time.Now().After(deadline) || st.Pending == 0 && !st.Busy {
			text, _ := chromedp.Run(b.bctx, chromedp.Evaluate[[]string](`Array.from(`+fe.outputs+`).slice(-6).map(o => o.innerHTML.slice(0, 2000))`))
			screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+b.tag+"-playground-failed.png"))
			t.Fatalf("%s: the playground's widgets did not appear (state %+v); the last outputs:\n%s\n(server log: %s; console: browser-%s-console.log)",
				fe.name, st, strings.Join(text, "\n---\n"), b.logFile.Name(), b.tag)
		}
		time.Sleep(time.Second)
	}
}

// drivePlayground drives the playground's widgets as a person does: the settings' run draws
// its curves, the learning-rate slider moved with a click and a click on Train add a run with
// the new value to the overlaid curves, Stop ends a 60-epoch run early, and Done ends the cell.
func drivePlayground(t *testing.T, b *browser, fe frontend, e execution) {
	t.Helper()
	start := time.Now()
	d := pgDriver{t, b, fe}
	series, waitRun, waitStatus := d.series, d.waitRun, d.waitStatus

	// The settings' run: e.Epochs epochs at lr 1e-3.
	ep := fmt.Sprintf("%d ep", e.Epochs)
	first := waitRun(1, e.Epochs, 3*time.Minute)
	if first.Name != "#1 lr 1e-3 · "+ep+" · b32 · avg" {
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
	second := waitRun(2, e.Epochs, 3*time.Minute)
	t.Logf("%s: Train → run #2 with its %d epochs drawn %.1fs after the click", fe.name, e.Epochs, time.Since(clickStart).Seconds())
	if second.Name != "#2 lr 1e-2 · "+ep+" · b32 · avg" {
		t.Errorf("%s: the new run is %q, want the moved learning rate 1e-2", fe.name, second.Name)
	}
	if s := waitStatus(2, time.Minute); s != "done" {
		t.Errorf("%s: run #2 ended %q", fe.name, s)
	}
	if n := len(series()); n != 4 {
		t.Errorf("%s: %d series after two runs, want 4 (validation and training of each)", fe.name, n)
	}
	time.Sleep(time.Second)
	screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+b.tag+"-playground.png"))

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

	// Done ends the cell: the controls say why.
	if err := chromedp.Do(b.bctx, chromedp.Click(chromedp.CSS(`button[id^="flowers-pg-done-"]`))); err != nil {
		t.Fatalf("clicking Done: %v", err)
	}
	closed := `Array.from(` + fe.outputs + `).some(o => /Playground closed \(Done pressed\) after 3 runs/.test(o.textContent))`
	if _, err := chromedp.Run(b.bctx, chromedp.Poll[bool](closed, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(b.bctx, chromedp.Evaluate[[]string](`Array.from(`+fe.outputs+`).map(o => o.textContent.slice(0, 300))`))
		st, _ := chromedp.Run(b.bctx, chromedp.Evaluate[runState](fe.state))
		screenshot(t, b.bctx, fe, filepath.Join(b.out, "browser-"+b.tag+"-playground-failed.png"))
		t.Fatalf("%s: the controls do not say that the playground closed a minute after Done (%v); state %+v; the outputs:\n%s", fe.name, err, st, strings.Join(text, "\n---\n"))
	}
	t.Logf("%s: the playground driven in %.0fs", fe.name, time.Since(start).Seconds())
}
