package nb

import (
	"fmt"
	"html"
	"image"
	"strings"

	"github.com/flowerlib/flowers/flowerlib/charts"
	"github.com/flowerlib/flowers/flowerlib/images"
	"github.com/flowerlib/flowers/flowerlib/labels"
	"github.com/flowerlib/flowers/flowerlib/learner"
	"github.com/flowerlib/flowers/flowerlib/plots"
	"github.com/pkg/errors"
)

// HeadTable returns the first n rows of t as an HTML table with the article's columns
// (images, labels), like pandas' labels.head().
func HeadTable(t *labels.Table, n int) string {
	rows := make([][]string, 0, n)
	for i, r := range t.Rows[:min(n, len(t.Rows))] {
		rows = append(rows, []string{fmt.Sprint(i), r.Path, r.Label})
	}
	return Table([]string{"", "images", "labels"}, rows)
}

// ImgTag returns an <img> with img embedded as PNG and a caption under it.
func ImgTag(img image.Image, caption string) (string, error) {
	uri, err := plots.DataURI(img, false)
	if err != nil {
		return "", err
	}
	b := img.Bounds()
	return fmt.Sprintf(`<figure style="margin:0;text-align:center"><img src="%s" width="%d" height="%d" style="image-rendering:auto"/>`+
		`<figcaption style="font-size:12px">%s</figcaption></figure>`, uri, b.Dx(), b.Dy(), html.EscapeString(caption)), nil
}

// ResizeDemo shows one photo three ways, side by side: as stored (shrunk for display), resized to
// size×size (what the model sees, in RGB) and the same pixels in OpenCV's BGR order drawn as if
// they were RGB — what plt.imshow shows when the article's cv2.cvtColor(BGR2RGB) is left out.
func ResizeDemo(path string, size int) (string, error) {
	orig, info, err := images.ReadFile(path)
	if err != nil {
		return "", err
	}
	resized, err := images.Load(path, size)
	if err != nil {
		return "", err
	}
	bgr := &images.RGB{Width: resized.Width, Height: resized.Height, Pix: resized.BGR()}
	var parts []string
	for _, p := range []struct {
		img     image.Image
		caption string
	}{
		{plots.Shrink(charts.Image(orig), size*3/2), fmt.Sprintf("stored: %d×%d %s", info.Width, info.Height, info.Format)},
		{charts.Image(resized), fmt.Sprintf("resized: %d×%d RGB (bilinear)", size, size)},
		{charts.Image(bgr), "BGR bytes shown as RGB (cv2 without cvtColor)"},
	} {
		tag, err := ImgTag(p.img, p.caption)
		if err != nil {
			return "", errors.WithMessagef(err, "showing %q", path)
		}
		parts = append(parts, tag)
	}
	return Row(parts...), nil
}

// HeadLayers returns the head's Keras-style summary as an HTML table: the frozen base and what
// it gives the head, each layer of the head with its output shape and parameters, then the
// totals (BatchNormalization's moving mean and variance count as non-trainable, as in Keras).
func HeadLayers(h learner.HeadInfo) string {
	shape := func(d []int) string {
		s := "(None"
		for _, v := range d {
			s += fmt.Sprintf(", %d", v)
		}
		return s + ")"
	}
	rows := [][]string{{"resnet50 (the frozen base, pooling " + h.Pooling + ")", shape(h.Input), "23,587,712 (frozen)"}}
	counts := map[string]int{}
	for _, l := range h.Layers {
		name := l.Name
		if name == "" { // Keras names layers without weights by their type
			name = strings.ToLower(l.Type)
			if n := counts[name]; n > 0 {
				name = fmt.Sprintf("%s_%d", name, n)
			}
			counts[strings.ToLower(l.Type)]++
		}
		rows = append(rows, []string{fmt.Sprintf("%s (%s)", name, l.Type), shape(l.Output), commas(l.Trainable + l.NonTrainable)})
	}
	tr, non := h.Params()
	rows = append(rows, []string{"head total", "", fmt.Sprintf("%s (trainable %s, non-trainable %s)", commas(tr+non), commas(tr), commas(non))})
	return Table([]string{"layer (type)", "output shape", "params"}, rows)
}

// commas formats n with thousands separators, as Keras' summary does.
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// DecodeAll decodes and resizes every photo of t to size×size, in parallel batches as
// read_images does (bounded memory), with a live progress line, and returns the summary
// (photos decoded, skipped ones with the reason).
func DecodeAll(t *labels.Table, size int) (string, error) {
	paths := make([]string, len(t.Rows))
	for i, r := range t.Rows {
		paths[i] = r.Path
	}
	p := NewProgress("")
	it := images.NewBatches(paths, images.BatchOptions{Size: size, Progress: p})
	defer it.Close()
	for range it.All() {
	}
	p.Done()
	if err := it.Err(); err != nil {
		return "", err
	}
	return it.Summary(), nil
}
