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
func ConfusionMatrix(title string, classes []string, counts [][]int) (*Figure, error) {
	n := len(classes)
	if n == 0 {
		return nil, errors.New("plots.ConfusionMatrix: no classes")
	}
	if len(counts) != n {
		return nil, errors.Errorf("plots.ConfusionMatrix: %d rows of counts for %d classes", len(counts), n)
	}
	for i, row := range counts {
		if len(row) != n {
			return nil, errors.Errorf("plots.ConfusionMatrix: row %d (%s) has %d columns, want %d", i, classes[i], len(row), n)
		}
		for j, v := range row {
			if v < 0 {
				return nil, errors.Errorf("plots.ConfusionMatrix: negative count %d at [%s][%s]", v, classes[i], classes[j])
			}
		}
	}
	labelW := 0.0
	for _, c := range classes {
		labelW = max(labelW, 7.5*float64(len([]rune(c))), labelWidth(c, 12))
	}
	cell := math.Max(44, math.Min(72, 440/float64(n)))
	x0, y0 := labelW+44, 56.0
	w := int(x0 + cell*float64(n) + 70)
	h := int(y0 + cell*float64(n) + labelW + 40)
	f := newFigure("flowers-confusion-matrix", w, h)
	f.Title = title
	if title != "" {
		f.text(float64(w)/2, 22, title, titleStyle)
	}
	f.text(x0+cell*float64(n)/2, 44, "predicted", textStyle{anchor: "middle", class: "xlabel"})
	cy := y0 + cell*float64(n)/2
	f.text(14, cy, "true", textStyle{anchor: "middle", class: "ylabel", rotate: -90})
	f.text(x0+cell*float64(n)+36, y0-6, "recall", textStyle{anchor: "middle", class: "xlabel", size: 11})
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
			f.rect(x, y, cell, cell, style{class: "cell", attrs: fmt.Sprintf(`data-row="%d" data-col="%d"`, i, j),
				fill: heat(frac), stroke: "white", tip: fmt.Sprintf("true %s, predicted %s: %d", classes[i], classes[j], v)})
			color := "#222"
			if frac > 0.55 {
				color = "white"
			}
			f.text(x+cell/2, y+cell/2+5, fmt.Sprint(v), textStyle{anchor: "middle", class: "count", fill: color, size: 14, bold: i == j})
		}
		f.text(x0-6, y+cell/2+4, classes[i], textStyle{anchor: "end", class: "row-label"})
		recall := "-"
		if sum > 0 {
			recall = fmt.Sprintf("%.0f%%", 100*float64(row[i])/float64(sum))
		}
		f.text(x0+cell*float64(n)+36, y+cell/2+4, recall, textStyle{anchor: "middle", class: "recall"})
	}
	for j, c := range classes {
		x := x0 + cell*float64(j) + cell/2
		y := y0 + cell*float64(n) + 8
		f.text(x, y, c, textStyle{anchor: "end", class: "col-label", rotate: -45})
	}
	if total > 0 {
		f.text(float64(w)/2, float64(h)-10, fmt.Sprintf("accuracy %.1f%% (%d of %d)", 100*float64(correct)/float64(total), correct, total),
			textStyle{anchor: "middle", class: "accuracy"})
	}
	return f, nil
}

// heat maps 0..1 to white..dark blue.
func heat(f float64) string {
	f = math.Max(0, math.Min(1, f))
	lerp := func(a, b float64) int { return int(math.Round(a + (b-a)*f)) }
	return fmt.Sprintf("#%02x%02x%02x", lerp(247, 8), lerp(251, 48), lerp(255, 107))
}
