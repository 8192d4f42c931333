package playground

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui/dom"
)

// settleDelay is how long the widgets stay still before the page is asked for their values.
const settleDelay = 300 * time.Millisecond

// change is a knob's new position from the page.
type change struct{ knob, pos int }

// changes merges the knobs' channels into one.
func (w *pgWidgets) changes() <-chan change {
	out := make(chan change)
	for i, kn := range w.knobs {
		go func() {
			for v := range kn.c.C {
				out <- change{i, v}
			}
		}()
	}
	return out
}

// reconcile asks the page to send each widget's value once more.
func (w *pgWidgets) reconcile() {
	var pairs []string
	for _, kn := range w.knobs {
		pairs = append(pairs, fmt.Sprintf("[%q, %q]", kn.htmlID, kn.address))
	}
	dom.TransientJavascript(`(() => { const c = globalThis.gonb_comm; if (!c) return;
	for (const [id, address] of [` + strings.Join(pairs, ", ") + `]) { const e = document.getElementById(id); if (e) c.send(address, e.value); } })();`)
}

// pageUpdates runs page updates in a goroutine of their own: each waits for GoNB to take it
// (gonbui.Sync), and the loop must keep reading the buttons whatever happens there. post drops
// an update when the page is not keeping up (the next settle redraws the values).
func pageUpdates() (post func(func())) {
	ui := make(chan func(), 64)
	go func() {
		for f := range ui {
			f()
		}
	}()
	return func(f func()) {
		select {
		case ui <- f:
		default:
		}
	}
}

// interact runs the widgets' loop: the settings' run first, then a run per Train click.
//
// GoNB (v0.11.4) hands each value from the page to the listeners in a goroutine of its own,
// so the values of a fast slider move can arrive out of order, the last one not last. Once
// the widgets have been still for settleDelay the page is asked to send each widget's value
// once more (reconcile), and Train waits for those before it reads the knobs.
func (p *Playground) interact(w *pgWidgets, k Knobs) error {
	post := pageUpdates()
	finished := make(chan *PlayRun, 1)
	busy := false
	start := func(k Knobs) {
		busy = true
		go func() {
			r, _ := p.Train(k) // a failed run shows its error in the status block
			finished <- r
		}()
	}
	start(k)
	reason := p.loop(w, &k, post, start, finished, &busy)
	if busy {
		p.Stop()
		select {
		case <-finished:
		case <-time.After(30 * time.Second): // a long feature extraction: its cache writes are atomic
		}
	}
	p.close(reason)
	return nil
}

// loop handles the page's events until Done or Timeout without a touch, and says why it ended.
func (p *Playground) loop(w *pgWidgets, k *Knobs, post func(func()), start func(Knobs), finished <-chan *PlayRun, busy *bool) string {
	changes := w.changes()
	trainC, stopC, doneC := w.train.Listen(), w.stop.Listen(), w.done.Listen()
	note := func(msg string) {
		post(func() {
			p.status.Update(fmt.Sprintf(`<div class="flowers-progress" style="font-family:monospace;font-size:12px">%s</div>`, html.EscapeString(msg)))
		})
	}
	idle := time.NewTimer(p.Timeout)
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	trainSoon := time.NewTimer(time.Hour) // Train pressed: starts once the reconciled values are in
	trainSoon.Stop()
	for {
		select {
		case ch := <-changes:
			kn := w.knobs[ch.knob]
			if ch.pos == kn.pos {
				continue // the page confirming a value (reconcile); not a touch
			}
			kn.pos = ch.pos
			kn.set(k, ch.pos)
			if kn.showValue {
				id, text := "flowers-pg-"+kn.name+"-value-"+w.uid, knobText(kn.name, *k)
				post(func() { dom.SetInnerText(id, text) })
			}
			settle.Reset(settleDelay)
		case <-settle.C:
			post(w.reconcile)
		case <-trainC.C:
			if *busy {
				note("a run is in progress: press Stop first (or wait for it)")
			} else {
				post(w.reconcile)
				trainSoon.Reset(2 * settleDelay)
			}
		case <-trainSoon.C:
			if !*busy {
				start(*k)
			}
		case <-stopC.C:
			if *busy {
				p.Stop()
			}
		case <-doneC.C:
			return "Done pressed"
		case <-finished:
			*busy = false
		case <-idle.C:
			if !*busy {
				return fmt.Sprintf("%s without a touch", p.Timeout)
			}
		}
		idle.Reset(p.Timeout)
	}
}

// close replaces the controls by a line saying the playground closed, and where its runs are;
// bounded to 10 s, so that the cell ends even if GoNB stopped answering.
func (p *Playground) close(reason string) {
	p.mu.Lock()
	n := len(p.overlay.all)
	p.mu.Unlock()
	closed := make(chan struct{})
	go func() {
		p.controls.Update(fmt.Sprintf(`<div class="flowers-playground-closed"><i>Playground closed (%s) after %d runs; the runs are in %s. Run the cell again to continue.</i></div>`,
			html.EscapeString(reason), n, html.EscapeString(p.folder())))
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
	}
}
