package plots

import (
	"math"
	"strconv"
)

// span is the range [lo, hi] of an axis in axis units, its ticks and how a tick is labelled
// (nil: tickLabel).
type span struct {
	ticks  []float64
	lo, hi float64
	label  func(float64) string
}

func (s span) labelOf(t float64) string {
	if s.label == nil {
		return tickLabel(t)
	}
	return s.label(t)
}

// valueAxis is the y axis of a line or XY chart: values as they are, or their log10 when
// log (Chart.LogY).
type valueAxis struct{ log bool }

// of returns y in axis units: NaN for a value a log axis cannot show (≤ 0).
func (v valueAxis) of(y float64) float64 {
	if !v.log {
		return y
	}
	if !(y > 0) {
		return math.NaN()
	}
	return math.Log10(y)
}

// value is the inverse of of: the value at axis position u.
func (v valueAxis) value(u float64) float64 {
	if v.log {
		return math.Pow(10, u)
	}
	return u
}

// span returns the axis over [lo, hi] (axis units) with round ticks.
func (v valueAxis) span(lo, hi float64) span {
	if v.log {
		return logTicks(lo, hi)
	}
	ticks, tlo, thi := niceTicks(lo, hi, 6)
	return span{ticks: ticks, lo: tlo, hi: thi}
}

// logTicks returns a logarithmic axis over [lo, hi] (log10 of the values) with at most 8
// ticks, labelled with the values. Over less than a factor 3 it is the round values of a
// linear axis (0.9, 1, 1.1, …) and ends at ticks; over more, the axis spans the data (and a
// margin of 4%) with ticks at 1-1.5-2-3-4-5-6-8, 1-2-3-5, 1-2-5 or 1-3 times the powers of
// ten, whichever is the finest that fits, or every 1, 2, … decades over many.
func logTicks(lo, hi float64) span {
	if !(hi > lo) {
		lo, hi = lo-0.1, hi+0.1
	}
	label := func(t float64) string { return tickLabel(round12(math.Pow(10, t))) }
	if hi-lo < math.Log10(3) {
		vt, vlo, vhi := niceTicks(round12(math.Pow(10, lo)), round12(math.Pow(10, hi)), 6)
		if vlo > 0 {
			ticks := make([]float64, len(vt))
			for i, v := range vt {
				ticks[i] = math.Log10(v)
			}
			return span{ticks: ticks, lo: math.Log10(vlo), hi: math.Log10(vhi), label: label}
		}
	}
	pad := 0.04 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	for _, mantissas := range [][]float64{{1, 1.5, 2, 3, 4, 5, 6, 8}, {1, 2, 3, 5}, {1, 2, 5}, {1, 3}, {1}} {
		var ticks []float64
		for d := math.Floor(lo); d <= math.Ceil(hi); d++ {
			for _, m := range mantissas {
				if t := d + math.Log10(m); t >= lo && t <= hi {
					ticks = append(ticks, t)
				}
			}
		}
		if len(ticks) <= 8 {
			return span{ticks: ticks, lo: lo, hi: hi, label: label}
		}
	}
	step := math.Ceil((hi - lo) / 8)
	var ticks []float64
	for d := math.Ceil(lo/step) * step; d <= hi; d += step {
		ticks = append(ticks, d)
	}
	return span{ticks: ticks, lo: lo, hi: hi, label: label}
}

// round12 rounds v to 12 significant digits (10^log10(0.3) → 0.3).
func round12(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	return r
}
