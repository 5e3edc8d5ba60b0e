package figure

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one curve: Y against X, with optional error bars Err (e.g. the
// standard deviation over seeds; nil or zeros for none).
type Series struct {
	Name    string
	X, Y    []float64
	Err     []float64
	Dashed  bool
	NoPoint bool
}

// LineOptions configures Lines.
type LineOptions struct {
	Title, XLabel, YLabel string
	LogX, LogY            bool
}

// Lines draws series as lines with points and error bars, in distinct
// colors, with a legend (which SavePlot and Draw put outside the data
// area). Linear axes are labelled by NiceTicks, logarithmic ones by
// Log10Ticks.
func Lines(series []Series, opts LineOptions) (*plot.Plot, error) {
	if len(series) == 0 {
		return nil, errors.New("figure: no series to draw")
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = opts.Title, opts.XLabel, opts.YLabel
	p.X.Tick.Marker, p.Y.Tick.Marker = NiceTicks{}, NiceTicks{}
	if opts.LogX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, Log10Ticks{}
	}
	if opts.LogY {
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, Log10Ticks{}
	}
	p.Add(plotter.NewGrid())
	for k, s := range series {
		if len(s.X) != len(s.Y) || (s.Err != nil && len(s.Err) != len(s.Y)) || len(s.X) == 0 {
			return nil, fmt.Errorf("figure: series %q has %d x, %d y and %d error values", s.Name, len(s.X), len(s.Y), len(s.Err))
		}
		pts := make(plotter.XYs, len(s.X))
		errs := make(plotter.YErrors, len(s.X))
		for i := range s.X {
			if bad(s.X[i]) || bad(s.Y[i]) || (opts.LogX && s.X[i] <= 0) || (opts.LogY && s.Y[i] <= 0) {
				return nil, fmt.Errorf("figure: series %q point %d (%v, %v) cannot be drawn", s.Name, i, s.X[i], s.Y[i])
			}
			pts[i] = plotter.XY{X: s.X[i], Y: s.Y[i]}
			if s.Err != nil {
				errs[i].Low, errs[i].High = s.Err[i], s.Err[i]
			}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(k)
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		thumbs := []plot.Thumbnailer{l}
		if !s.NoPoint {
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, err
			}
			sc.Color, sc.Shape = plotutil.Color(k), plotutil.Shape(k)
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		p.Legend.Add(s.Name, thumbs...)
		if s.Err != nil {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{pts, errs})
			if err != nil {
				return nil, err
			}
			eb.Color = plotutil.Color(k)
			p.Add(eb)
		}
	}
	return p, nil
}

func bad(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
