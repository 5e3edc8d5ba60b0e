package figure

import (
	"bytes"
	"image/png"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func TestLines(t *testing.T) {
	p, err := Lines([]Series{
		{Name: "a", X: []float64{1, 2, 5}, Y: []float64{0.3, 0.2, 0.1}, Err: []float64{0.01, 0.02, 0.01}},
		{Name: "b", X: []float64{1, 2, 5}, Y: []float64{0.4, 0.3, 0.2}, Dashed: true},
	}, LineOptions{Title: "t", XLabel: "shots", YLabel: "error", LogX: true})
	if err != nil {
		t.Fatal(err)
	}
	c := vgimg.New(4*vg.Inch, 3*vg.Inch)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if err := EncodePNG(&buf, c.Image()); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Series{
		nil,
		{{Name: "x", X: []float64{1}, Y: []float64{1, 2}}},
		{{Name: "x", X: []float64{0, 1}, Y: []float64{1, 2}}}, // log x of 0
		{{Name: "x", X: []float64{1, 2}, Y: []float64{1, 2}, Err: []float64{1}}},
	} {
		if _, err := Lines(bad, LineOptions{LogX: true}); err == nil {
			t.Errorf("Lines accepted %+v", bad)
		}
	}
}

func TestGroupedBars(t *testing.T) {
	p, err := GroupedBars([]string{"a", "b"}, []BarSeries{{Name: "x", Values: []float64{0.2, 0.3}, Err: []float64{0.01, 0.02}}, {Name: "y", Values: []float64{0.1, 0.4}}},
		BarOptions{Title: "t", YLabel: "error"})
	if err != nil {
		t.Fatal(err)
	}
	// Room above the tallest bar plus its error for the legend.
	if p.Y.Min != 0 || p.Y.Max < 0.4*1.4 {
		t.Errorf("y range [%g, %g]", p.Y.Min, p.Y.Max)
	}
	c := vgimg.New(4*vg.Inch, 3*vg.Inch)
	p.Draw(draw.New(c))
	for _, bad := range [][]BarSeries{nil, {{Name: "x", Values: []float64{1}}}, {{Name: "x", Values: []float64{1, 2}, Err: []float64{1}}}} {
		if _, err := GroupedBars([]string{"a", "b"}, bad, BarOptions{}); err == nil {
			t.Errorf("GroupedBars accepted %+v", bad)
		}
	}
}
