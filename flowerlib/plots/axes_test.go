package plots

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestLogTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64 // values
		want   []string
	}{
		{0.3, 112, []string{"0.5", "1", "2", "5", "10", "20", "50", "100"}}, // a training loss beside a huge val_loss
		{0.3, 1.6, []string{"0.3", "0.4", "0.5", "0.6", "0.8", "1", "1.5"}},
		{0.05, 2, []string{"0.05", "0.1", "0.2", "0.3", "0.5", "1", "2"}},
		{0.9, 1.3, []string{"0.9", "1", "1.1", "1.2", "1.3"}}, // under a factor 3: a linear axis's round values
		{1e-6, 10, []string{"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1", "10"}},
		{1e-9, 1e6, []string{"1e-09", "1e-06", "0.001", "1", "1000", "1e+06"}},
		{2, 2, []string{"1.4", "1.6", "1.8", "2", "2.2", "2.4", "2.6"}},
	} {
		s := logTicks(math.Log10(c.lo), math.Log10(c.hi))
		var got []string
		for _, tk := range s.ticks {
			got = append(got, s.labelOf(tk))
		}
		if len(s.ticks) < 2 || len(s.ticks) > 8 || s.lo > math.Log10(c.lo)+1e-9 || s.hi < math.Log10(c.hi)-1e-9 || !slices.IsSorted(s.ticks) ||
			s.ticks[0] < s.lo-1e-9 || s.ticks[len(s.ticks)-1] > s.hi+1e-9 {
			t.Errorf("logTicks(%g, %g): %q over [%g, %g]: want 2 to 8 ticks inside an axis covering the range", c.lo, c.hi, got, math.Pow(10, s.lo), math.Pow(10, s.hi))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("logTicks(%g, %g) = %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

// TestLineChartLogY: a training loss of 1.6 → 0.3 beside a validation loss of 112 → 70 (random
// weights, BatchNorm's moving statistics): on a log axis both keep their shape (each spans a
// good part of the plot's height), the axis is labelled with round values, and a value ≤ 0
// breaks the line.
func TestLineChartLogY(t *testing.T) {
	loss := []float64{1.6, 1.0, 0.6, 0.3}
	val := []float64{112, 95, 80, 70}
	c := Chart{Title: "loss", XLabel: "epoch", YLabel: "loss (log scale)", Width: 400, Height: 280}
	extent := func(c Chart) (train, valid, plotH float64) {
		es := parseSVG(t, LineChart(c, []Series{{Name: "loss", Y: loss}, {Name: "val_loss", Y: val, Dashed: true}}).SVG())
		ys := func(p *elem) (lo, hi float64) {
			lo, hi = math.Inf(1), math.Inf(-1)
			for _, pt := range strings.Fields(p.attrs["points"]) {
				y, _ := strconv.ParseFloat(strings.Split(pt, ",")[1], 64)
				lo, hi = min(lo, y), max(hi, y)
			}
			return
		}
		pl := find(es, "polyline", "")
		l0, l1 := ys(pl[0])
		v0, v1 := ys(pl[1])
		return l1 - l0, v1 - v0, 280 - 48 - 36
	}
	tr, va, h := extent(c)
	if tr > 0.05*h {
		t.Fatalf("linear axis: the training loss spans %.1f of %.0f pixels; the test's premise (it is flattened) does not hold", tr, h)
	}
	c.LogY = true
	tr, va, h = extent(c)
	if tr < 0.25*h || va < 0.06*h {
		t.Errorf("log axis: the training loss spans %.1f and val_loss %.1f of %.0f pixels, want ≥ 25%% and ≥ 6%%", tr, va, h)
	}
	fig := LineChart(c, []Series{{Name: "loss", Y: loss}, {Name: "val_loss", Y: val, Dashed: true}})
	savePNG(t, "line-logy.png", fig)
	es := parseSVG(t, fig.SVG())
	if got := texts(find(es, "text", "tick")); !slices.Contains(got, "0.5") || !slices.Contains(got, "100") || !slices.Contains(got, "10") {
		t.Errorf("log axis ticks %q", got)
	}
	if got := texts(find(es, "text", "ylabel")); len(got) != 1 || got[0] != "loss (log scale)" {
		t.Errorf("y label %q", got)
	}
	// 0 cannot be shown on a log axis: the line breaks there (two pieces, one a single point).
	es = parseSVG(t, LineChart(c, []Series{{Name: "loss", Y: []float64{1, 0.5, 0, 0.2}}}).SVG())
	if n, m := len(find(es, "polyline", "")), len(find(es, "circle", "")); n != 1 || m != 3 {
		t.Errorf("a 0 on a log axis: %d polylines and %d points, want 1 and 3", n, m)
	}
}
