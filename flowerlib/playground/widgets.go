package playground

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/comms"
	"github.com/janpfeifer/gonb/gonbui/widgets"
	"github.com/pkg/errors"
)

// pgWidgets are the playground's controls on the page: one slider or selector per knob row
// (by name), and the buttons.
type pgWidgets struct {
	uid               string
	knobs             []*knobWidget
	train, stop, done *widgets.ButtonBuilder
}

// knobWidget is a slider or the selector, with the position last seen.
type knobWidget struct {
	name, label     string
	htmlID, address string
	c               *comms.AddressChan[int]
	pos             int
	set             func(k *Knobs, pos int)
	build           func(k Knobs, id, parent string) widgetBuilder // creates the widget on the page
	position        func(k Knobs) int
	showValue       bool // the value column follows the widget (the selector's shows a legend)
	builtInHeadOnly bool // the dropout of the built-in head: hidden for a head written in code
}

// widgetBuilder is what a built slider and selector have in common.
type widgetBuilder interface {
	HtmlId() string
	Address() string
	Listen() *comms.AddressChan[int]
}

// Slider ranges (integer positions): augmentation in quarters, dropout in tenths.
const (
	maxEpochs   = 60
	augmentStep = 0.25
	augmentMax  = 4
	dropoutStep = 0.1
	dropoutMax  = 8
	// label smoothing in steps of 0.05 up to 0.3
	smoothingStep = 0.05
	smoothingMax  = 6
)

// knobRows are the controls, in display order.
func knobRows() []*knobWidget {
	slider := func(lo, hi func(k Knobs) int, pos func(k Knobs) int) func(Knobs, string, string) widgetBuilder {
		return func(k Knobs, id, parent string) widgetBuilder {
			return widgets.Slider(lo(k), hi(k), pos(k)).WithHtmlId(id).AppendTo(parent).Done()
		}
	}
	c := func(v int) func(Knobs) int { return func(Knobs) int { return v } }
	lrPos := func(k Knobs) int { return LearningRates.Index(k.LearningRate) }
	epochsPos := func(k Knobs) int { return k.Epochs }
	batchPos := func(k Knobs) int { return nearest(BatchSizes, k.BatchSize) }
	augPos := func(k Knobs) int { return int(math.Round(min(k.Augment, 1) / augmentStep)) }
	dropPos := func(k Knobs) int { return int(math.Round(k.Dropout / dropoutStep)) }
	headPos := func(k Knobs) int { return max(0, slices.Index(Heads, k.Head)) }
	lsPos := func(k Knobs) int { return int(math.Round(k.LabelSmoothing / smoothingStep)) }
	ttaPos := func(k Knobs) int {
		if k.TTA {
			return 1
		}
		return 0
	}
	return []*knobWidget{
		{name: "lr", label: "learning rate", position: lrPos, showValue: true,
			build: slider(c(0), c(LearningRates.Positions()-1), lrPos),
			set:   func(k *Knobs, v int) { k.LearningRate = LearningRates.Value(v) }},
		{name: "epochs", label: "epochs", position: epochsPos, showValue: true,
			build: slider(c(1), func(k Knobs) int { return max(maxEpochs, k.Epochs) }, epochsPos),
			set:   func(k *Knobs, v int) { k.Epochs = max(1, v) }},
		{name: "batch", label: "batch size", position: batchPos, showValue: true,
			build: slider(c(0), c(len(BatchSizes)-1), batchPos),
			set:   func(k *Knobs, v int) { k.BatchSize = BatchSizes[min(max(v, 0), len(BatchSizes)-1)] }},
		{name: "aug", label: "augmentation", position: augPos, showValue: true,
			build: slider(c(0), c(augmentMax), augPos),
			set:   func(k *Knobs, v int) { k.Augment = float64(min(max(v, 0), augmentMax)) * augmentStep }},
		{name: "drop", label: "dropout", position: dropPos, showValue: true, builtInHeadOnly: true,
			build: slider(c(0), c(dropoutMax), dropPos),
			set:   func(k *Knobs, v int) { k.Dropout = math.Round(float64(min(max(v, 0), dropoutMax))*dropoutStep*10) / 10 }},
		{name: "schedule", label: "schedule", position: func(k Knobs) int { return max(0, slices.Index(Schedules, k.Schedule)) },
			build: func(k Knobs, id, parent string) widgetBuilder {
				return widgets.Select(Schedules).SetDefault(max(0, slices.Index(Schedules, k.Schedule))).WithHtmlId(id).AppendTo(parent).Done()
			},
			set: func(k *Knobs, v int) { k.Schedule = Schedules[min(max(v, 0), len(Schedules)-1)] }},
		{name: "ls", label: "label smoothing", position: lsPos, showValue: true,
			build: slider(c(0), c(smoothingMax), lsPos),
			set: func(k *Knobs, v int) {
				k.LabelSmoothing = math.Round(float64(min(max(v, 0), smoothingMax))*smoothingStep*100) / 100
			}},
		{name: "tta", label: "test-time augmentation", position: ttaPos,
			build: func(k Knobs, id, parent string) widgetBuilder {
				return widgets.Select([]string{"off", "on (7 passes over the validation photos)"}).SetDefault(ttaPos(k)).WithHtmlId(id).AppendTo(parent).Done()
			},
			set: func(k *Knobs, v int) { k.TTA = v == 1 }},
		{name: "head", label: "the base gives the head", position: headPos,
			build: func(k Knobs, id, parent string) widgetBuilder {
				return widgets.Select(Heads).SetDefault(headPos(k)).WithHtmlId(id).AppendTo(parent).Done()
			},
			set: func(k *Knobs, v int) { k.Head = Heads[min(max(v, 0), len(Heads)-1)] }},
	}
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
	case "ls":
		return fmt.Sprint(k.LabelSmoothing)
	case "head":
		return "flatten: its 7×7×2048 map; avg, max: pooled to 2048"
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
	for _, kn := range knobRows() {
		if !kn.builtInHeadOnly || p.Config.Head == nil {
			w.knobs = append(w.knobs, kn)
		}
	}
	id := func(part string) string { return "flowers-pg-" + part + "-" + w.uid }
	var b strings.Builder
	// Wide sliders: 17 learning rates need room for a finger or a mouse.
	fmt.Fprintf(&b, `<style>#%s input[type=range] { width: 260px; }</style>`, id("root"))
	fmt.Fprintf(&b, `<div class="flowers-playground" id="%s"><table style="font-size:13px">`, id("root"))
	for _, kn := range w.knobs {
		fmt.Fprintf(&b, `<tr><td style="text-align:left;padding:2px 10px">%s</td><td id="%s" style="text-align:left"></td>`+
			`<td id="%s" style="text-align:left;font-family:monospace">%s</td></tr>`,
			kn.label, id(kn.name+"-cell"), id(kn.name+"-value"), html.EscapeString(knobText(kn.name, k)))
	}
	fmt.Fprintf(&b, `</table><div id="%s" style="margin:6px 10px;display:flex;gap:8px"></div></div>`, id("buttons"))
	p.controls.Update(b.String())

	ready := make(chan struct{})
	go func() {
		for _, kn := range w.knobs {
			wb := kn.build(k, id(kn.name), id(kn.name+"-cell"))
			kn.htmlID, kn.address, kn.pos = wb.HtmlId(), wb.Address(), kn.position(k)
			kn.c = wb.Listen().LatestOnly()
		}
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
