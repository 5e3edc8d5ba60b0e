package figure

import (
	"fmt"

	"gonum.org/v1/plot"
)

// Headroom raises the top of p's y axis so that the range of the data
// takes 1/f of the height (f > 1), leaving room for a legend at the top.
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
