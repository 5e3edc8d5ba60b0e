package figure

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// BarSeries is one bar per group, in the groups' order, with optional
// error bars Err (e.g. the standard deviation over seeds; nil for none, and
// a zero or NaN entry draws no error bar on that bar).
type BarSeries struct {
	Name        string
	Values, Err []float64
}

// Reference is a horizontal dashed line across a bar chart, e.g. the
// baseline the bars are relative to, with its legend entry.
type Reference struct {
	Y    float64
	Name string
}

// BarOptions configures GroupedBars.
type BarOptions struct {
	Title, XLabel, YLabel string
	// Fill is the fraction of the distance between two groups that a
	// group's bars cover; zero means 0.8.
	Fill float64
	// Reference, if not nil, is drawn as a dashed gray line.
	Reference *Reference
}

// GroupedBars draws one group of bars per label in groups (a "\n" in a
// label starts a new line), one bar per series side by side, with error
// bars where the series has them, and a legend (which SavePlot and Draw put
// outside the data area). Bar widths are fractions of the distance between
// groups, so bars never overlap the next group however wide the figure is;
// give a wide figure to many groups. The y axis starts at 0.
func GroupedBars(groups []string, series []BarSeries, opts BarOptions) (*plot.Plot, error) {
	if len(groups) == 0 || len(series) == 0 {
		return nil, errors.New("figure: no bars to draw")
	}
	if opts.Fill == 0 {
		opts.Fill = 0.8
	}
	if opts.Fill < 0 || opts.Fill > 1 {
		return nil, fmt.Errorf("figure: bar fill %g is outside (0, 1]", opts.Fill)
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = opts.Title, opts.XLabel, opts.YLabel
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	top := 0.0
	for k, s := range series {
		if len(s.Values) != len(groups) || (s.Err != nil && len(s.Err) != len(groups)) {
			return nil, fmt.Errorf("figure: series %q has %d values and %d errors for %d groups", s.Name, len(s.Values), len(s.Err), len(groups))
		}
		for i, v := range s.Values {
			if bad(v) || v < 0 {
				return nil, fmt.Errorf("figure: series %q value %d is %v", s.Name, i, v)
			}
			top = max(top, v)
			if s.Err != nil && !math.IsNaN(s.Err[i]) {
				if math.IsInf(s.Err[i], 0) || s.Err[i] < 0 {
					return nil, fmt.Errorf("figure: series %q error %d is %v", s.Name, i, s.Err[i])
				}
				top = max(top, v+s.Err[i])
			}
		}
		b := &bars{values: s.Values, errs: s.Err, slot: k, slots: len(series), fill: opts.Fill, color: plotutil.Color(k)}
		p.Add(b)
		p.Legend.Add(s.Name, b)
	}
	if r := opts.Reference; r != nil {
		if bad(r.Y) {
			return nil, fmt.Errorf("figure: reference line at %v", r.Y)
		}
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: r.Y}, {X: float64(len(groups)) - 0.5, Y: r.Y}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = color.Gray{Y: 90}, vg.Points(1.2)
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(r.Name, l)
		top = max(top, r.Y)
	}
	// A little room above the tallest bar or error bar.
	p.Y.Min, p.Y.Max = 0, 1.05*top+1e-9
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	ticks := make(plot.ConstantTicks, len(groups))
	for i, g := range groups {
		ticks[i] = plot.Tick{Value: float64(i), Label: g}
	}
	p.X.Tick.Marker = ticks
	p.X.Tick.Length = 0
	p.Y.Tick.Marker = NiceTicks{}
	return p, nil
}

// bars is one series of GroupedBars: bar slot of slots in every group,
// its width a fraction of the distance between groups.
type bars struct {
	values, errs []float64
	slot, slots  int
	fill         float64
	color        color.Color
}

// errStyle draws error bars.
var errStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(1)}

// Plot implements plot.Plotter.
func (b *bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	w := b.fill / float64(b.slots)
	for i, v := range b.values {
		x0 := float64(i) - b.fill/2 + float64(b.slot)*w
		left, right := trX(x0+0.04*w), trX(x0+0.96*w)
		base, tip := trY(max(0, p.Y.Min)), trY(v)
		c.FillPolygon(b.color, c.ClipPolygonXY([]vg.Point{{X: left, Y: base}, {X: right, Y: base}, {X: right, Y: tip}, {X: left, Y: tip}}))
		if b.errs == nil || !(b.errs[i] > 0) {
			continue
		}
		mid, tick := (left+right)/2, min((right-left)/3, vg.Points(4))
		lo, hi := trY(v-b.errs[i]), trY(v+b.errs[i])
		c.StrokeLines(errStyle, c.ClipLinesXY(
			[]vg.Point{{X: mid, Y: lo}, {X: mid, Y: hi}},
			[]vg.Point{{X: mid - tick, Y: lo}, {X: mid + tick, Y: lo}},
			[]vg.Point{{X: mid - tick, Y: hi}, {X: mid + tick, Y: hi}})...)
	}
}

// DataRange implements plot.DataRanger.
func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for i, v := range b.values {
		ymax = max(ymax, v)
		if b.errs != nil && b.errs[i] > 0 {
			ymax = max(ymax, v+b.errs[i])
		}
	}
	return -0.5, float64(len(b.values)) - 0.5, 0, ymax
}

// Thumbnail implements plot.Thumbnailer: a square of the bars' color.
func (b *bars) Thumbnail(c *draw.Canvas) {
	h := c.Max.Y - c.Min.Y
	x := (c.Min.X + c.Max.X - h) / 2
	c.FillPolygon(b.color, []vg.Point{{X: x, Y: c.Min.Y}, {X: x + h, Y: c.Min.Y}, {X: x + h, Y: c.Max.Y}, {X: x, Y: c.Max.Y}})
}
