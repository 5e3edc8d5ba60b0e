package figure

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// Headroom raises the top of p's y axis so that the range of the data
// takes 1/f of the height (f > 1), leaving room for an annotation at the
// top. Legends need none: SavePlot and Draw put them outside the data
// area.
func Headroom(p *plot.Plot, f float64) {
	p.Y.Max = p.Y.Min + f*(p.Y.Max-p.Y.Min)
}

// IntTicks labels an axis, a logarithmic one say, at the given integers
// only (the number of shots per class, for example).
func IntTicks(values []int) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	for _, k := range values {
		ticks = append(ticks, plot.Tick{Value: float64(k), Label: fmt.Sprint(k)})
	}
	return ticks
}

// NiceTicks labels a linear axis at 4 to 7 round values (steps of 1, 2,
// 2.5 or 5 times a power of ten), each with as many decimals as the step
// needs: gonum's default aims at 3 labels and writes its step's digits
// unevenly (0.1, 0.5, 0.9). Lines, GroupedBars and Scatter use it on
// their linear axes.
type NiceTicks struct{}

// Ticks implements plot.Ticker.
func (NiceTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	mag := math.Pow(10, math.Floor(math.Log10(span/5)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if span/(m*mag) <= 7 {
			step = m * mag
			break
		}
	}
	decimals := 0
	for decimals < 12 {
		v := step * math.Pow(10, float64(decimals))
		if math.Abs(v-math.Round(v)) < 1e-6*v {
			break
		}
		decimals++
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if v == 0 {
			v = 0 // not -0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
	}
	return ticks
}

// Log10Ticks labels a logarithmic axis at the powers of ten, written in
// their shortest form (10, 0.001, 1e-05: gonum's LogTicks writes 1e+01,
// or with its shortest precision 9.999999999999999e-05), with unlabelled
// ticks at 2..9 times them; a range holding fewer than two powers of ten
// also labels the multiples 2 and 5.
type Log10Ticks struct{}

// Ticks implements plot.Ticker.
func (Log10Ticks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) || math.IsInf(hi, 0) {
		return plot.LogTicks{}.Ticks(lo, hi)
	}
	k0, k1 := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	powers := 0
	for k := k0; k <= k1; k++ {
		if v := math.Pow10(k); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
			powers++
		}
	}
	var ticks []plot.Tick
	for k := k0; k <= k1; k++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow10(k)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (powers < 2 && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'g', 6, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
