package plots

import (
	"fmt"
	"math"

	"github.com/pkg/errors"
)

// ConfusionMatrix draws counts[true][predicted] as a heat-map with the count in every
// cell: rows are the true classes, columns the predicted ones, the diagonal is right.
// Each row is shaded by its share of the row's total (so classes of different sizes read
// alike), and the row's recall is printed on the right. counts must be len(classes) ×
// len(classes) with non-negative entries.
func ConfusionMatrix(title string, classes []string, counts [][]int) (string, error) {
	n := len(classes)
	if n == 0 {
		return "", errors.New("plots.ConfusionMatrix: no classes")
	}
	if len(counts) != n {
		return "", errors.Errorf("plots.ConfusionMatrix: %d rows of counts for %d classes", len(counts), n)
	}
	for i, row := range counts {
		if len(row) != n {
			return "", errors.Errorf("plots.ConfusionMatrix: row %d (%s) has %d columns, want %d", i, classes[i], len(row), n)
		}
		for j, v := range row {
			if v < 0 {
				return "", errors.Errorf("plots.ConfusionMatrix: negative count %d at [%s][%s]", v, classes[i], classes[j])
			}
		}
	}
	labelW := 0.0
	for _, c := range classes {
		labelW = max(labelW, 7.5*float64(len([]rune(c))))
	}
	cell := math.Max(44, math.Min(72, 440/float64(n)))
	x0, y0 := labelW+44, 56.0
	w := int(x0 + cell*float64(n) + 70)
	h := int(y0 + cell*float64(n) + labelW + 40)
	b := newSVG("flowers-confusion-matrix", w, h)
	if title != "" {
		b.text(float64(w)/2, 22, "middle", title, `class="title" font-size="15" font-weight="bold"`)
	}
	b.text(x0+cell*float64(n)/2, 44, "middle", "predicted", `class="xlabel"`)
	cy := y0 + cell*float64(n)/2
	b.text(14, cy, "middle", "true", fmt.Sprintf(`class="ylabel" transform="rotate(-90 14 %s)"`, num(cy)))
	b.text(x0+cell*float64(n)+36, y0-6, "middle", "recall", `class="xlabel" font-size="11"`)
	correct, total := 0, 0
	for i, row := range counts {
		sum := 0
		for _, v := range row {
			sum += v
		}
		correct += row[i]
		total += sum
		y := y0 + cell*float64(i)
		for j, v := range row {
			frac := 0.0
			if sum > 0 {
				frac = float64(v) / float64(sum)
			}
			x := x0 + cell*float64(j)
			fill := heat(frac)
			fmt.Fprintf(b, `<rect class="cell" data-row="%d" data-col="%d" x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="white"><title>true %s, predicted %s: %d</title></rect>`,
				i, j, num(x), num(y), num(cell), num(cell), fill, esc(classes[i]), esc(classes[j]), v)
			color := "#222"
			if frac > 0.55 {
				color = "white"
			}
			weight := ""
			if i == j {
				weight = ` font-weight="bold"`
			}
			b.text(x+cell/2, y+cell/2+5, "middle", fmt.Sprint(v), fmt.Sprintf(`class="count" fill="%s" font-size="14"%s`, color, weight))
		}
		b.text(x0-6, y+cell/2+4, "end", classes[i], `class="row-label"`)
		recall := "-"
		if sum > 0 {
			recall = fmt.Sprintf("%.0f%%", 100*float64(row[i])/float64(sum))
		}
		b.text(x0+cell*float64(n)+36, y+cell/2+4, "middle", recall, `class="recall"`)
	}
	for j, c := range classes {
		x := x0 + cell*float64(j) + cell/2
		y := y0 + cell*float64(n) + 8
		b.text(x, y, "end", c, fmt.Sprintf(`class="col-label" transform="rotate(-45 %s %s)"`, num(x), num(y)))
	}
	if total > 0 {
		b.text(float64(w)/2, float64(h)-10, "middle",
			fmt.Sprintf("accuracy %.1f%% (%d of %d)", 100*float64(correct)/float64(total), correct, total), `class="accuracy"`)
	}
	return b.done(), nil
}

// heat maps 0..1 to white..dark blue.
func heat(f float64) string {
	f = math.Max(0, math.Min(1, f))
	lerp := func(a, b float64) int { return int(math.Round(a + (b-a)*f)) }
	return fmt.Sprintf("#%02x%02x%02x", lerp(247, 8), lerp(251, 48), lerp(255, 107))
}
