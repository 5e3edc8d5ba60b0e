package figure

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
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
		BarOptions{Title: "t", YLabel: "error", Reference: &Reference{Y: 0.5, Name: "baseline"}})
	if err != nil {
		t.Fatal(err)
	}
	// From 0 to a little above the tallest bar, error bar or reference.
	if p.Y.Min != 0 || p.Y.Max < 0.5 || p.Y.Max > 0.55 {
		t.Errorf("y range [%g, %g]", p.Y.Min, p.Y.Max)
	}
	for _, bad := range [][]BarSeries{nil, {{Name: "x", Values: []float64{1}}}, {{Name: "x", Values: []float64{1, 2}, Err: []float64{1}}},
		{{Name: "x", Values: []float64{-1, 2}}}, {{Name: "x", Values: []float64{1, 2}, Err: []float64{-1, 0}}}} {
		if _, err := GroupedBars([]string{"a", "b"}, bad, BarOptions{}); err == nil {
			t.Errorf("GroupedBars accepted %+v", bad)
		}
	}
}

// TestGroupedBarsStayInGroup: however narrow the figure, a group's bars
// stay in their group: the pixels half-way between two groups hold no
// bar's color at any height (fixed-width bars of 60 points per group ran into the
// next group in figures this narrow).
func TestGroupedBarsStayInGroup(t *testing.T) {
	groups := []string{"a", "b", "c", "d", "e", "f"}
	var series []BarSeries
	for k := range 4 {
		s := BarSeries{Name: fmt.Sprint(k)}
		for range groups {
			s.Values = append(s.Values, 1)
			s.Err = append(s.Err, 0.1)
		}
		series = append(series, s)
	}
	p, err := GroupedBars(groups, series, BarOptions{YLabel: "error (fraction)"})
	if err != nil {
		t.Fatal(err)
	}
	c := vgimg.New(200, 150)
	l := Draw(p, draw.New(c))
	img := c.Image()
	dc := draw.Canvas{Rectangle: l.Data}
	trX, trY := p.Transforms(&dc)
	px := func(v vg.Length) int { return int(v.Dots(vgimg.DefaultDPI)) }
	H := img.Bounds().Dy()
	for i := range len(groups) - 1 {
		x := px(trX(float64(i) + 0.5))
		// Image rows run top down; the bars span 0..1 in data units.
		r := image.Rect(x, H-px(trY(0.9)), x+1, H-px(trY(0.1)))
		if tinted(img, r) {
			t.Errorf("bars between groups %d and %d (pixels %v)", i, i+1, r)
		}
	}
	// And the bars are drawn: a group's centre is not white.
	x := px(trX(0))
	if !tinted(img, image.Rect(x-2, H-px(trY(0.5)), x+2, H-px(trY(0.4)))) {
		t.Error("no bars drawn")
	}
}

// tinted reports whether some pixel of img in r has a color (bars do, the
// gray grid lines do not).
func tinted(img image.Image, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if max(c.R, c.G, c.B)-min(c.R, c.G, c.B) > 40 {
				return true
			}
		}
	}
	return false
}
