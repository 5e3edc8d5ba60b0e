package figure

import (
	"errors"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one bar per group, in the groups' order, with optional
// error bars Err (e.g. the standard deviation over seeds; nil for none).
type BarSeries struct {
	Name        string
	Values, Err []float64
}

// BarOptions configures GroupedBars.
type BarOptions struct {
	Title, YLabel string
	// GroupWidth is the width of one group of bars; default 60 points.
	GroupWidth vg.Length
}

// GroupedBars draws one group of bars per label in groups, one bar per
// series side by side, with a legend and room above the bars for it.
func GroupedBars(groups []string, series []BarSeries, opts BarOptions) (*plot.Plot, error) {
	if len(groups) == 0 || len(series) == 0 {
		return nil, errors.New("figure: no bars to draw")
	}
	if opts.GroupWidth == 0 {
		opts.GroupWidth = vg.Points(60)
	}
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = opts.Title, opts.YLabel
	p.Legend.Top = true
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	width := opts.GroupWidth / vg.Length(len(series))
	top := 0.0
	for k, s := range series {
		if len(s.Values) != len(groups) || (s.Err != nil && len(s.Err) != len(groups)) {
			return nil, fmt.Errorf("figure: series %q has %d values and %d errors for %d groups", s.Name, len(s.Values), len(s.Err), len(groups))
		}
		for i, v := range s.Values {
			if bad(v) {
				return nil, fmt.Errorf("figure: series %q value %d is %v", s.Name, i, v)
			}
			e := 0.0
			if s.Err != nil {
				e = s.Err[i]
			}
			top = max(top, v+e)
		}
		bars, err := plotter.NewBarChart(plotter.Values(s.Values), width)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(k)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(k)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.Name, bars)
		if s.Err != nil {
			pts := make(plotter.XYs, len(groups))
			errs := make(plotter.YErrors, len(groups))
			for i := range groups {
				pts[i] = plotter.XY{X: float64(i), Y: s.Values[i]}
				errs[i].Low, errs[i].High = s.Err[i], s.Err[i]
			}
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{pts, errs})
			if err != nil {
				return nil, err
			}
			p.Add(shifted{eb, bars.Offset})
		}
	}
	// Headroom for the legend above the bars.
	p.Y.Min, p.Y.Max = 0, 1.4*top+0.01
	p.NominalX(groups...)
	return p, nil
}

// shifted draws error bars moved horizontally by offset on the canvas, to
// sit on bars drawn with the same offset.
type shifted struct {
	*plotter.YErrorBars
	offset vg.Length
}

func (s shifted) Plot(c draw.Canvas, p *plot.Plot) {
	c.Rectangle.Min.X += s.offset // c is a copy: only these bars move
	c.Rectangle.Max.X += s.offset
	s.YErrorBars.Plot(c, p)
}
