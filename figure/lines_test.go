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
