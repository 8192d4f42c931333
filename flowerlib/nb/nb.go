// Package nb holds the notebooks' display helpers: thin wrappers over GoNB's gonbui
// (HTML, SVG, Markdown, live-updating outputs) plus the few notebook-only helpers that
// keep cells to a few lines (settings from the environment, tables, galleries, training
// curves). Figures go out as SVG and PNG in one output (Show), so they survive a shared,
// untrusted copy of the notebook. Outside a GoNB cell every Display function falls back to plain text on stdout,
// so the same code runs from `go run` or a test.
//
// An HTML copy to send (every figure as an embedded PNG, with nbconvert 6.5 and 7 alike):
//
//	jupyter nbconvert --to html "--NbConvertBase.display_data_priority=[…]" NOTEBOOK.ipynb
//
// with the list of HTMLExportFlag (HTMLExportCommand is the whole line). A plain
// `jupyter nbconvert --to html` with Debian's nbconvert 6.5 leaves every figure blank.
package nb

import (
	"fmt"
	"html"
	"io"
	"os"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Out is where the text fallbacks go outside a notebook (tests replace it).
var Out io.Writer = os.Stdout

// IsNotebook reports whether the program runs as a GoNB cell (rich output available).
func IsNotebook() bool { return gonbui.IsNotebook }

// HTML displays an HTML fragment as the cell's output; outside a notebook it prints a
// one-line note with its size (HTML is not readable as text).
func HTML(s string) {
	if IsNotebook() {
		gonbui.DisplayHTML(s)
		Sync()
		return
	}
	fmt.Fprintf(Out, "[HTML output, %d bytes: shown in a notebook]\n", len(s))
}

// Show displays a figure (from flowerlib/plots) as one output carrying it twice: as SVG
// (image/svg+xml, sharp, chosen where the notebook is trusted) and as PNG (image/png at
// 2× with its CSS size in the metadata, chosen where it is not: a shared copy, GitHub,
// nbviewer, and an HTML export made with HTMLExportCommand), plus its title as text/plain.
// Outside a notebook it prints the title.
func Show(fig *plots.Figure) {
	if IsNotebook() {
		data, err := figureData(fig, "")
		Check(err)
		gonbui.SendData(data)
		Sync()
		return
	}
	fmt.Fprintf(Out, "[figure %q, %d×%d: shown in a notebook]\n", fig.Title, fig.Width, fig.Height)
}

// HTMLExportFlag is the nbconvert option of an HTML export that shows every figure:
// nbconvert's own order of preference of an output's types (HTMLExporter's
// display_data_priority) with image/png and image/jpeg moved before image/svg+xml.
//
// Why an option: nbconvert 6.5 (Debian's, what kernel/install.sh --apt installs, and the
// classic Notebook's File → Download as → HTML) prefers a figure's image/svg+xml and passes
// it through lxml's clean_html, which keeps the <svg> element but drops every shape and text
// inside it: each figure comes out blank. nbconvert and JupyterLab rank an output's types by
// their own lists, not by the bundle's order, and anything ranked above SVG in the bundle
// (text/html, text/markdown) would also be what a trusted JupyterLab shows instead of the SVG;
// so the bundle cannot choose for the export, and the export command does. nbconvert 7
// (JupyterLab 4's, and its File → Save and Export Notebook As → HTML) embeds the SVG as an
// <img>, which survives; with this option it embeds the PNG, as 6.5 then does.
const HTMLExportFlag = "--NbConvertBase.display_data_priority=['application/vnd.jupyter.widget-view+json', 'application/javascript', " +
	"'text/html', 'text/markdown', 'image/png', 'image/jpeg', 'image/svg+xml', 'text/latex', 'text/plain']"

// HTMLExportCommand is the shell command that writes NOTEBOOK.html beside NOTEBOOK.ipynb, every
// figure in it (see HTMLExportFlag).
const HTMLExportCommand = `jupyter nbconvert --to html "` + HTMLExportFlag + `" NOTEBOOK.ipynb`

// figureData is the mime bundle of fig (see Show); displayID "" for a new output.
func figureData(fig *plots.Figure, displayID string) (*protocol.DisplayData, error) {
	png, err := fig.PNG()
	if err != nil {
		return nil, err
	}
	title := fig.Title
	if title == "" {
		title = fig.Class
	}
	return &protocol.DisplayData{
		Data: map[protocol.MIMEType]any{
			protocol.MIMEImageSVG:  fig.SVG(),
			protocol.MIMEImagePNG:  png,
			protocol.MIMETextPlain: fmt.Sprintf("[%s]", title),
		},
		// Both frontends size an image/png by its metadata: the 2× raster shows at CSS size.
		Metadata:  map[string]any{string(protocol.MIMEImagePNG): map[string]int{"width": fig.Width, "height": fig.Height}},
		DisplayID: displayID,
	}, nil
}

// Markdown displays Markdown; outside a notebook it prints it as is.
func Markdown(md string) {
	if IsNotebook() {
		gonbui.DisplayMarkdown(md)
		Sync()
		return
	}
	fmt.Fprintln(Out, md)
}

// Row lays HTML fragments out side by side, wrapping on narrow screens.
func Row(parts ...string) string {
	var b strings.Builder
	b.WriteString(`<div class="flowers-row" style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">`)
	for _, p := range parts {
		b.WriteString("<div>")
		b.WriteString(p)
		b.WriteString("</div>")
	}
	b.WriteString("</div>")
	return b.String()
}

// Table returns an HTML table (header row, then rows; cells are escaped), styled like a
// pandas DataFrame. Numbers in cells are right-aligned.
func Table(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString(`<table class="flowers-table" style="border-collapse:collapse;font-size:12px">`)
	if len(header) > 0 {
		b.WriteString(`<thead><tr>`)
		for _, h := range header {
			fmt.Fprintf(&b, `<th style="text-align:left;padding:2px 10px;border-bottom:1px solid #999">%s</th>`, html.EscapeString(h))
		}
		b.WriteString(`</tr></thead>`)
	}
	b.WriteString(`<tbody>`)
	for i, row := range rows {
		bg := ""
		if i%2 == 1 {
			bg = ` style="background:#f5f5f5"`
		}
		fmt.Fprintf(&b, `<tr%s>`, bg)
		for _, c := range row {
			align := "left"
			if charts.IsNumber(c) {
				align = "right"
			}
			fmt.Fprintf(&b, `<td style="text-align:%s;padding:2px 10px">%s</td>`, align, html.EscapeString(c))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table>`)
	return b.String()
}

// ShowTable displays Table(header, rows) in a notebook, or prints it aligned outside one.
func ShowTable(header []string, rows [][]string) {
	if IsNotebook() {
		gonbui.DisplayHTML(Table(header, rows))
		Sync()
		return
	}
	fmt.Fprint(Out, charts.TextTable(header, rows))
}

// Must returns v, or stops the program with err (see Check).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Check stops the cell when err is not nil: in a notebook it prints "error: …" on stderr
// and exits with status 1, which GoNB shows as the cell's error (and which fails a
// headless nbconvert run); elsewhere it panics, so callers and tests see a stack.
func Check(err error) {
	if err == nil {
		return
	}
	if IsNotebook() {
		Sync()
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	panic(err)
}

// Sync waits until every output sent so far has reached the notebook. Every display helper
// here calls it: GoNB (v0.11.4) closes its end of the pipe when the cell's program exits, so
// a display sent just before the end could otherwise be lost (seen in CI: a cell ending in
// a chart showed nothing).
func Sync() { gonbui.Sync() }

// Must2 is Must for functions returning two values and an error.
func Must2[A, B any](a A, b B, err error) (A, B) {
	Check(err)
	return a, b
}

// Details returns a collapsed block (<details>) with summary as its title and text, in a
// monospace font, inside: long listings such as model.summary() stay one click away.
func Details(summary, text string) string {
	return fmt.Sprintf(`<details><summary style="cursor:pointer">%s</summary><pre style="font-size:11px;line-height:1.25">%s</pre></details>`,
		html.EscapeString(summary), html.EscapeString(text))
}

// BannerHTML is a warning strip for HTML outputs (see Settings.Banner); its text survives
// an untrusted view (which drops the styles).
func BannerHTML(text string) string {
	return fmt.Sprintf(`<div class="flowers-banner" style="background:#fff3c4;color:%s;font-weight:bold;padding:4px 8px;margin:4px 0">⚠ %s</div>`,
		plots.BannerColor, html.EscapeString(text))
}
