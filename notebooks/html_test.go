package notebooks_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/internal/testdata"
)

// htmlFiguresCell shows what a notebook shows, through flowerlib/nb: a chart, the training
// curves under the random-weights banner, a photo grid, a live figure drawn twice (the saved
// notebook keeps the second) and a table.
const htmlFiguresCell = `import (
	"image"
	"image/color"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/nb"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/flowerlib/flowers/flowerlib/trainer"
)

%%
nb.Show(plots.BarChart(plots.Chart{Title: "images per class"}, []plots.Bar{{Label: "daisy", Value: 3}, {Label: "roses", Value: 5}}))
h := trainer.History{{Epoch: 1, Loss: 1.6, Accuracy: 0.3, ValLoss: 112, ValAccuracy: 0.2}, {Epoch: 2, Loss: 0.6, Accuracy: 0.5, ValLoss: 70, ValAccuracy: 0.2}}
nb.Show(plots.WithBanner(charts.Curves(h), "random ResNet50 weights"))
photo := image.NewRGBA(image.Rect(0, 0, 64, 48))
for i := range photo.Pix {
	photo.Pix[i] = uint8(i * 7)
}
photo.Set(0, 0, color.RGBA{255, 0, 0, 255})
nb.Show(nb.Must(plots.ImageGrid([]plots.Tile{{Image: photo, Caption: "a photo", Mark: plots.Mistake}}, plots.GridOptions{Title: "photos"})))
live := nb.NewLive()
live.Show(charts.Curves(h[:1]))
live.Show(charts.Curves(h))
nb.ShowTable([]string{"class", "count"}, [][]string{{"daisy", "3"}, {"roses", "5"}})
`

// htmlFigure is a figure output of an executed notebook: its PNG (base64) and CSS size.
type htmlFigure struct {
	png           string
	width, height int
}

// TestHTMLExport executes a notebook of figures (the kernel, flowerlib/nb, as a student's
// notebook does), exports it with `jupyter nbconvert --to html` (Debian's nbconvert 6.5, and
// JupyterLab 4's nbconvert 7 when $FLOWERS_JUPYTERLAB is set) and checks that every figure
// is in the HTML: with nb.HTMLExportFlag as an <img> of its own PNG at its CSS size, in both;
// without it as an <img> of its SVG with nbconvert 7, and blank with 6.5 (the reason for the
// flag: its clean_html strips the SVG's shapes and text).
func TestHTMLExport(t *testing.T) {
	jupyter := requireKernel(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "figures.ipynb")
	writeFiguresNotebook(t, src)
	out := outDir(t)
	executed := filepath.Join(out, "html-figures.executed.ipynb")
	executeNotebook(t, jupyter, KernelName, "embedded", src, executed)
	figs, svgs := executedFigures(t, executed)
	if len(figs) != 4 {
		t.Fatalf("%d figure outputs in the executed notebook, want 4 (chart, curves, photos, the live figure)", len(figs))
	}
	exporters := []string{jupyter}
	if lab := os.Getenv("FLOWERS_JUPYTERLAB"); lab != "" {
		exporters = append(exporters, lab)
	} else {
		t.Log("$FLOWERS_JUPYTERLAB is not set (source .ci/venv.sh): JupyterLab 4's nbconvert 7 not checked")
	}
	for _, exp := range exporters {
		version := nbconvertVersion(t, exp)
		t.Run("nbconvert-"+version, func(t *testing.T) {
			tag := strings.SplitN(version, ".", 2)[0]
			html := exportHTML(t, exp, executed, filepath.Join(out, "html-figures.nbconvert"+tag+".html"), nb.HTMLExportFlag)
			imgs := pngImages(html)
			for i, f := range figs {
				size, ok := imgs[f.png]
				if !ok {
					t.Errorf("figure %d: its PNG is not in the HTML as an <img> (data URI)", i)
					continue
				}
				if size != [2]int{f.width, f.height} {
					t.Errorf("figure %d: <img> %d×%d, want its CSS size %d×%d (the PNG is drawn at 2×)", i, size[0], size[1], f.width, f.height)
				}
			}
			if !strings.Contains(html, "roses") || !strings.Contains(html, "<table") {
				t.Error("the table is not in the HTML")
			}
			// Without the flag.
			plain := exportHTML(t, exp, executed, filepath.Join(out, "html-figures.plain.nbconvert"+tag+".html"))
			if len(pngImages(plain)) != 0 {
				t.Errorf("without the flag, nbconvert %s chose a figure's PNG: the flag is not needed any more (update nb.HTMLExportFlag's note)", version)
			}
			if major, _ := strconv.Atoi(tag); major >= 7 {
				for i, svg := range svgs {
					if !strings.Contains(plain, `src="data:image/svg+xml;base64,`+base64.StdEncoding.EncodeToString([]byte(svg))+`"`) {
						t.Errorf("nbconvert %s without the flag: figure %d's SVG is not embedded as an <img>", version, i)
					}
				}
				return
			}
			// nbconvert 6: each figure's SVG output keeps its <svg> elements (a blank box of its
			// size) and loses every shape and text element inside.
			kept := regexp.MustCompile(`(?s)data-mime-type="image/svg\+xml">(.*?)</div>`).FindAllStringSubmatch(plain, -1)
			if len(kept) != len(figs) {
				t.Errorf("nbconvert %s without the flag: %d SVG outputs, want %d: the note of nb.HTMLExportFlag may be out of date", version, len(kept), len(figs))
			}
			for i, k := range kept {
				if !strings.Contains(k[1], "<svg") || regexp.MustCompile(`<(rect|text|polyline|line|circle)\b`).MatchString(k[1]) {
					t.Errorf("nbconvert %s without the flag: figure %d's SVG is not blanked as nb.HTMLExportFlag's note says: %.300s", version, i, k[1])
				}
			}
		})
	}
}

// writeFiguresNotebook writes the notebook of figures: the walkthrough's first cell (this
// module and the GoMLX versions, pinned) without its warm-up, then htmlFiguresCell.
func writeFiguresNotebook(t *testing.T, path string) {
	t.Helper()
	walk := readNotebook(t, filepath.Join(notebooksDir, BrowserNotebook))
	first := ""
	for _, c := range walk.Cells {
		if c.CellType == "code" {
			first = c.source()
			break
		}
	}
	first, _, _ = strings.Cut(first, " && ")
	first = strings.ReplaceAll(first, "${GONB_DIR}/..", repoRoot)
	if !strings.HasPrefix(first, "!*go mod edit -require=github.com/flowerlib/flowers@v0.0.0 -replace=github.com/flowerlib/flowers="+repoRoot) {
		t.Fatalf("%s: the first code cell is not the module's pin: %q", BrowserNotebook, first)
	}
	code := func(src string) map[string]any {
		return map[string]any{"cell_type": "code", "execution_count": nil, "metadata": map[string]any{}, "outputs": []any{}, "source": src}
	}
	doc := map[string]any{
		"cells": []any{code(first), code(htmlFiguresCell)},
		"metadata": map[string]any{
			"kernelspec":    map[string]any{"name": KernelName, "display_name": "Go (GoNB, flowers)", "language": "go"},
			"language_info": map[string]any{"name": "go"},
		},
		"nbformat": 4, "nbformat_minor": 5,
	}
	data, _ := json.MarshalIndent(doc, "", " ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// executedFigures returns the figure outputs of an executed notebook (those with an
// image/png: each also carries its SVG) and their SVGs.
func executedFigures(t *testing.T, path string) ([]htmlFigure, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cells []struct {
			Outputs []struct {
				Data     map[string]any `json:"data"`
				Metadata map[string]any `json:"metadata"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var figs []htmlFigure
	var svgs []string
	for _, c := range doc.Cells {
		for _, o := range c.Outputs {
			b64 := strings.Join(strings.Fields(joinText(o.Data["image/png"])), "")
			if b64 == "" {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatalf("an image/png output is not base64: %v", err)
			}
			img, err := png.Decode(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("an image/png output is not a PNG: %v", err)
			}
			meta, _ := o.Metadata["image/png"].(map[string]any)
			w, _ := meta["width"].(float64)
			h, _ := meta["height"].(float64)
			if w == 0 || h == 0 || img.Bounds().Dx() < int(w) {
				t.Errorf("a figure's PNG is %v, its metadata %v: want its CSS size", img.Bounds(), meta)
			}
			figs = append(figs, htmlFigure{png: b64, width: int(w), height: int(h)})
			svgs = append(svgs, joinText(o.Data["image/svg+xml"]))
		}
	}
	return figs, svgs
}

// nbconvertVersion is `jupyter nbconvert --version` of a jupyter command.
func nbconvertVersion(t *testing.T, jupyter string) string {
	out, err := exec.Command(jupyter, "nbconvert", "--version").Output()
	if err != nil {
		testdata.Need(t, "%s nbconvert --version: %v", jupyter, err)
	}
	return strings.TrimSpace(string(out))
}

// exportHTML runs `jupyter nbconvert --to html` with the given options on the executed
// notebook, writes dest and returns it.
func exportHTML(t *testing.T, jupyter, notebook, dest string, options ...string) string {
	t.Helper()
	args := append([]string{"nbconvert", "--to", "html"}, options...)
	args = append(args, "--output-dir", filepath.Dir(dest), "--output", filepath.Base(dest), notebook)
	cmd := exec.Command(jupyter, args...)
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", jupyter, strings.Join(args, " "), err, out)
	}
	html, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	return string(html)
}

var (
	imgTag  = regexp.MustCompile(`(?s)<img\b([^>]*)>`)
	imgAttr = regexp.MustCompile(`(\w+)=(?:"([^"]*)"|(\S+))`)
)

// pngImages returns the <img> elements of html with a PNG data URI: base64 → width, height.
func pngImages(html string) map[string][2]int {
	out := map[string][2]int{}
	for _, tag := range imgTag.FindAllStringSubmatch(html, -1) {
		attrs := map[string]string{}
		for _, a := range imgAttr.FindAllStringSubmatch(tag[1], -1) {
			attrs[a[1]] = a[2] + a[3]
		}
		if b64, ok := strings.CutPrefix(attrs["src"], "data:image/png;base64,"); ok {
			w, _ := strconv.Atoi(attrs["width"])
			h, _ := strconv.Atoi(attrs["height"])
			out[strings.Join(strings.Fields(b64), "")] = [2]int{w, h}
		}
	}
	return out
}
