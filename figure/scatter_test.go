package figure

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

func TestScatter(t *testing.T) {
	x := []float64{-0.3, -0.1, 0, 0.2, 0.5}
	y := []float64{-0.25, -0.12, 0.01, 0.22, 0.45}
	p, err := Scatter(x, y, ScatterOptions{Title: "LQF attribution", Correlation: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Title.Text != "LQF attribution" || p.X.Label.Text != "predicted" || p.Y.Label.Text != "actual" {
		t.Errorf("title %q, labels %q and %q", p.Title.Text, p.X.Label.Text, p.Y.Label.Text)
	}
	if p.X.Min != p.Y.Min || p.X.Max != p.Y.Max || p.X.Min > -0.3 || p.X.Max < 0.5 {
		t.Errorf("axes [%v, %v] x [%v, %v]: want equal ranges covering the data", p.X.Min, p.X.Max, p.Y.Min, p.Y.Max)
	}
	wt, err := p.WriterTo(3*vg.Inch, 3*vg.Inch, "png")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 3*96 || b.Dy() != 3*96 {
		t.Errorf("PNG bounds %v, want 288x288", b)
	}

	// A single value: the axes still span a non-empty range.
	p, err = Scatter([]float64{1}, []float64{1}, ScatterOptions{XLabel: "x", YLabel: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if !(p.X.Min < 1 && p.X.Max > 1) || p.X.Label.Text != "x" || p.Y.Label.Text != "y" {
		t.Errorf("single point: axis [%v, %v], labels %q, %q", p.X.Min, p.X.Max, p.X.Label.Text, p.Y.Label.Text)
	}
}

func TestScatterErrors(t *testing.T) {
	for name, c := range map[string]struct {
		x, y []float64
		msg  string
	}{
		"lengths": {[]float64{1, 2}, []float64{1}, "2 x values against 1 y values"},
		"empty":   {nil, nil, "no points"},
		"NaN":     {[]float64{1, math.NaN()}, []float64{1, 2}, "point 1"},
		"Inf":     {[]float64{1, 2}, []float64{math.Inf(-1), 2}, "point 0"},
	} {
		if _, err := Scatter(c.x, c.y, ScatterOptions{}); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.msg)
		}
	}
}

func TestSavePlotAtomic(t *testing.T) {
	p, err := Scatter([]float64{0, 1, 2}, []float64{0, 1.1, 1.9}, ScatterOptions{Correlation: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"s.png", "s.svg"} {
		if err := SavePlot(p, 2*vg.Inch, 2*vg.Inch, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "s.png"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("s.png: %v", err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "s.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<svg")) {
		t.Error("s.svg holds no <svg element")
	}
	for _, name := range []string{"s", "s.bogus"} {
		if err := SavePlot(p, vg.Inch, vg.Inch, filepath.Join(dir, name)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d files, want s.png and s.svg only", len(entries))
	}
}
