package figure

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// ScatterOptions configures Scatter.
type ScatterOptions struct {
	// Title is the plot's title.
	Title string

	// XLabel and YLabel label the axes; empty means "predicted" and
	// "actual".
	XLabel, YLabel string

	// Correlation, if true, adds a legend giving the Pearson correlation
	// of x and y.
	Correlation bool
}

// Scatter plots y (for example the actual change of a test output after
// retraining) against x (its predicted change), one point per pair, with the
// diagonal y = x drawn as a dashed line. Both axes span the same range, so
// points on the diagonal are perfect predictions. It returns an error if x
// and y differ in length, are empty, or hold a NaN or infinity.
func Scatter(x, y []float64, opts ScatterOptions) (*plot.Plot, error) {
	if len(x) != len(y) {
		return nil, fmt.Errorf("figure: scatter of %d x values against %d y values", len(x), len(y))
	}
	if len(x) == 0 {
		return nil, errors.New("figure: scatter of no points")
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	xys := make(plotter.XYs, len(x))
	for i := range x {
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, fmt.Errorf("figure: scatter point %d (%v, %v) is not finite", i, x[i], y[i])
		}
		xys[i] = plotter.XY{X: x[i], Y: y[i]}
		lo, hi = min(lo, x[i], y[i]), max(hi, x[i], y[i])
	}
	pad := 0.05 * (hi - lo)
	if pad == 0 {
		pad = max(0.5, 0.05*math.Abs(lo))
	}
	lo, hi = lo-pad, hi+pad

	p := plot.New()
	p.Title.Text = opts.Title
	p.X.Label.Text = opts.XLabel
	if p.X.Label.Text == "" {
		p.X.Label.Text = "predicted"
	}
	p.Y.Label.Text = opts.YLabel
	if p.Y.Label.Text == "" {
		p.Y.Label.Text = "actual"
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = NiceTicks{}, NiceTicks{}
	p.Add(plotter.NewGrid())

	diag, err := plotter.NewLine(plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}})
	if err != nil {
		return nil, fmt.Errorf("figure: %w", err)
	}
	diag.Color = color.Gray{Y: 128}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	pts, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, fmt.Errorf("figure: %w", err)
	}
	pts.GlyphStyle = draw.GlyphStyle{
		Color:  color.RGBA{R: 31, G: 119, B: 180, A: 255},
		Radius: vg.Points(2),
		Shape:  draw.CircleGlyph{},
	}
	p.Add(diag, pts)
	if opts.Correlation {
		p.Legend.Add(fmt.Sprintf("Pearson r = %.3f (n = %d)", stat.Correlation(x, y, nil), len(x)), pts)
		p.Legend.Add("y = x", diag)
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, hi, lo, hi
	return p, nil
}
