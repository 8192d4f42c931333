package playground

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/dom"
	"github.com/janpfeifer/gonb/gonbui/widgets"
	"github.com/pkg/errors"
)

// Slider ranges (integer positions): augmentation in quarters, dropout in tenths.
const (
	maxEpochs   = 60
	augmentStep = 0.25
	augmentMax  = 4
	dropoutStep = 0.1
	dropoutMax  = 8
)

// pgWidgets are the playground's controls on the page.
type pgWidgets struct {
	uid                          string
	lr, epochs, batch, aug, drop *widgets.SliderBuilder
	head                         *widgets.SelectBuilder
	train, stop, done            *widgets.ButtonBuilder
}

// knobRows are the controls' rows: name (HTML id part), label, and the value text.
var knobRows = []struct{ name, label string }{
	{"lr", "learning rate"}, {"epochs", "epochs"}, {"batch", "batch size"},
	{"aug", "augmentation"}, {"drop", "dropout"}, {"head", "head"},
}

func knobText(name string, k Knobs) string {
	switch name {
	case "lr":
		return FormatLR(k.LearningRate)
	case "epochs":
		return fmt.Sprint(k.Epochs)
	case "batch":
		return fmt.Sprint(k.BatchSize)
	case "aug":
		if k.Augment == 0 {
			return "0 (the cached features)"
		}
		return fmt.Sprintf("%g (cached augmented copies, made once per strength)", k.Augment)
	case "drop":
		return fmt.Sprint(k.Dropout)
	}
	return ""
}

// connectAttempt bounds one attempt of connect.
const connectAttempt = 8 * time.Second

// connect draws the controls and waits for the browser to answer them, ConnectTimeout at most.
// A failed attempt draws them again: GoNB's page script gives the kernel 500 ms to accept its
// connection (gonb_comm's comm_open_ack) and gives up for good when a busy machine is slower;
// the next widget message makes GoNB notice the dead connection and install a new one.
func (p *Playground) connect(k Knobs) (*pgWidgets, error) {
	deadline := time.Now().Add(p.ConnectTimeout)
	for attempt := 1; ; attempt++ {
		if w := p.connectOnce(k, min(connectAttempt, time.Until(deadline))); w != nil {
			return w, nil
		}
		if time.Until(deadline) <= 0 {
			return nil, errors.Errorf("no browser answered the widgets within %s (%d attempts)", p.ConnectTimeout, attempt)
		}
	}
}

// connectOnce draws the controls and waits for the browser to answer them; nil if it does
// not within wait (the attempt's goroutine stays blocked: harmless, the cell ends).
func (p *Playground) connectOnce(k Knobs, wait time.Duration) *pgWidgets {
	w := &pgWidgets{uid: gonbui.UniqueId()}
	id := func(part string) string { return "flowers-pg-" + part + "-" + w.uid }
	var b strings.Builder
	// Wide sliders: 17 learning rates need room for a finger or a mouse.
	fmt.Fprintf(&b, `<style>#%s input[type=range] { width: 260px; }</style>`, id("root"))
	fmt.Fprintf(&b, `<div class="flowers-playground" id="%s"><table style="font-size:13px">`, id("root"))
	for _, r := range knobRows {
		fmt.Fprintf(&b, `<tr><td style="text-align:left;padding:2px 10px">%s</td><td id="%s" style="text-align:left"></td>`+
			`<td id="%s" style="text-align:left;font-family:monospace">%s</td></tr>`,
			r.label, id(r.name+"-cell"), id(r.name+"-value"), html.EscapeString(knobText(r.name, k)))
	}
	fmt.Fprintf(&b, `</table><div id="%s" style="margin:6px 10px;display:flex;gap:8px"></div></div>`, id("buttons"))
	p.controls.Update(b.String())

	ready := make(chan struct{})
	go func() {
		cell := func(name string) string { return id(name + "-cell") }
		w.lr = widgets.Slider(0, LearningRates.Positions()-1, LearningRates.Index(k.LearningRate)).WithHtmlId(id("lr")).AppendTo(cell("lr")).Done()
		w.epochs = widgets.Slider(1, max(maxEpochs, k.Epochs), k.Epochs).WithHtmlId(id("epochs")).AppendTo(cell("epochs")).Done()
		w.batch = widgets.Slider(0, len(BatchSizes)-1, nearest(BatchSizes, k.BatchSize)).WithHtmlId(id("batch")).AppendTo(cell("batch")).Done()
		w.aug = widgets.Slider(0, augmentMax, int(math.Round(min(k.Augment, 1)/augmentStep))).WithHtmlId(id("aug")).AppendTo(cell("aug")).Done()
		w.drop = widgets.Slider(0, dropoutMax, int(math.Round(k.Dropout/dropoutStep))).WithHtmlId(id("drop")).AppendTo(cell("drop")).Done()
		headIdx := 0
		for i, h := range Heads {
			if h == k.Head {
				headIdx = i
			}
		}
		w.head = widgets.Select(Heads).SetDefault(headIdx).WithHtmlId(id("head")).AppendTo(cell("head")).Done()
		w.train = widgets.Button("Train").WithHtmlId(id("train")).AppendTo(id("buttons")).Done()
		w.stop = widgets.Button("Stop").WithHtmlId(id("stop")).AppendTo(id("buttons")).Done()
		w.done = widgets.Button("Done").WithHtmlId(id("done")).AppendTo(id("buttons")).Done()
		close(ready)
	}()
	select {
	case <-ready:
		return w
	case <-time.After(wait):
		return nil
	}
}

// knobWidget is a slider or the selector, with the position last seen.
type knobWidget struct {
	name, htmlID, address string
	c                     *comms.AddressChan[int]
	pos                   int
	set                   func(k *Knobs, pos int)
}

// settleDelay is how long the widgets stay still before the page is asked for their values.
const settleDelay = 300 * time.Millisecond

// interact runs the widgets' loop: the settings' run first, then a run per Train click.
//
// GoNB (v0.11.4) hands each value from the page to the listeners in a goroutine of its own,
// so the values of a fast slider move can arrive out of order, the last one not last. Once
// the widgets have been still for settleDelay the page is asked to send each widget's value
// once more (reconcile), and Train waits for those before it reads the knobs.
func (p *Playground) interact(w *pgWidgets, k Knobs) error {
	headIdx := 0
	for i, h := range Heads {
		if h == k.Head {
			headIdx = i
		}
	}
	knobs := []*knobWidget{
		{name: "lr", htmlID: w.lr.HtmlId(), address: w.lr.Address(), pos: LearningRates.Index(k.LearningRate),
			set: func(k *Knobs, v int) { k.LearningRate = LearningRates.Value(v) }},
		{name: "epochs", htmlID: w.epochs.HtmlId(), address: w.epochs.Address(), pos: k.Epochs,
			set: func(k *Knobs, v int) { k.Epochs = max(1, v) }},
		{name: "batch", htmlID: w.batch.HtmlId(), address: w.batch.Address(), pos: nearest(BatchSizes, k.BatchSize),
			set: func(k *Knobs, v int) { k.BatchSize = BatchSizes[min(max(v, 0), len(BatchSizes)-1)] }},
		{name: "aug", htmlID: w.aug.HtmlId(), address: w.aug.Address(), pos: int(math.Round(min(k.Augment, 1) / augmentStep)),
			set: func(k *Knobs, v int) { k.Augment = float64(min(max(v, 0), augmentMax)) * augmentStep }},
		{name: "drop", htmlID: w.drop.HtmlId(), address: w.drop.Address(), pos: int(math.Round(k.Dropout / dropoutStep)),
			set: func(k *Knobs, v int) { k.Dropout = math.Round(float64(min(max(v, 0), dropoutMax))*dropoutStep*10) / 10 }},
		{name: "head", htmlID: w.head.HtmlId(), address: w.head.Address(), pos: headIdx,
			set: func(k *Knobs, v int) { k.Head = Heads[min(max(v, 0), len(Heads)-1)] }},
	}
	knobs[0].c, knobs[1].c, knobs[2].c = w.lr.Listen().LatestOnly(), w.epochs.Listen().LatestOnly(), w.batch.Listen().LatestOnly()
	knobs[3].c, knobs[4].c, knobs[5].c = w.aug.Listen().LatestOnly(), w.drop.Listen().LatestOnly(), w.head.Listen().LatestOnly()
	trainC, stopC, doneC := w.train.Listen(), w.stop.Listen(), w.done.Listen()
	type change struct{ knob, pos int }
	changes := make(chan change)
	for i, kn := range knobs {
		go func() {
			for v := range kn.c.C {
				changes <- change{i, v}
			}
		}()
	}
	var pairs []string
	for _, kn := range knobs {
		pairs = append(pairs, fmt.Sprintf("[%q, %q]", kn.htmlID, kn.address))
	}
	reconcile := func() {
		dom.TransientJavascript(`(() => { const c = globalThis.gonb_comm; if (!c) return;
	for (const [id, address] of [` + strings.Join(pairs, ", ") + `]) { const e = document.getElementById(id); if (e) c.send(address, e.value); } })();`)
	}

	// The page is updated from one goroutine of its own: each update waits for GoNB to take it
	// (gonbui.Sync), and the loop must keep reading the buttons whatever happens there.
	ui := make(chan func(), 64)
	go func() {
		for f := range ui {
			f()
		}
	}()
	post := func(f func()) {
		select {
		case ui <- f:
		default: // the page is not keeping up: drop it (the next settle redraws the values)
		}
	}
	finished := make(chan *PlayRun, 1)
	busy := false
	start := func(k Knobs) {
		busy = true
		go func() {
			r, _ := p.Train(k) // a failed run shows its error in the status block
			finished <- r
		}()
	}
	note := func(msg string) {
		post(func() {
			p.status.Update(fmt.Sprintf(`<div class="flowers-progress" style="font-family:monospace;font-size:12px">%s</div>`, html.EscapeString(msg)))
		})
	}
	start(k)
	idle := time.NewTimer(p.Timeout)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	trainSoon := time.NewTimer(time.Hour) // Train pressed: starts once the reconciled values are in
	trainSoon.Stop()
	reason := ""
loop:
	for {
		select {
		case ch := <-changes:
			kn := knobs[ch.knob]
			if ch.pos == kn.pos {
				continue // the page confirming a value (reconcile); not a touch
			}
			kn.pos = ch.pos
			kn.set(&k, ch.pos)
			if kn.name != "head" {
				id, text := "flowers-pg-"+kn.name+"-value-"+w.uid, knobText(kn.name, k)
				post(func() { dom.SetInnerText(id, text) })
			}
			settle.Reset(settleDelay)
		case <-settle.C:
			post(reconcile)
		case <-trainC.C:
			if busy {
				note("a run is in progress: press Stop first (or wait for it)")
			} else {
				post(reconcile)
				trainSoon.Reset(2 * settleDelay)
			}
		case <-trainSoon.C:
			if !busy {
				start(k)
			}
		case <-stopC.C:
			if busy {
				p.Stop()
			}
		case <-doneC.C:
			reason = "Done pressed"
			break loop
		case <-finished:
			busy = false
		case <-idle.C:
			if !busy {
				reason = fmt.Sprintf("%s without a touch", p.Timeout)
				break loop
			}
		}
		idle.Reset(p.Timeout)
	}
	if busy {
		p.Stop()
		select {
		case <-finished:
		case <-time.After(30 * time.Second): // a long feature extraction: its cache writes are atomic
		}
	}
	p.mu.Lock()
	n := len(p.overlay.all)
	p.mu.Unlock()
	closed := make(chan struct{})
	go func() {
		p.controls.Update(fmt.Sprintf(`<div class="flowers-playground-closed"><i>Playground closed (%s) after %d runs; the runs are in %s. Run the cell again to continue.</i></div>`,
			html.EscapeString(reason), n, html.EscapeString(p.folder())))
		close(closed)
	}()
	select { // the cell ends even if GoNB stopped answering
	case <-closed:
	case <-time.After(10 * time.Second):
	}
	return nil
}
