package figure

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// table1Like is the case where gonum's placement (legend at the top right,
// inside the axes) hid data: five series over eight tasks, one of them
// peaking at the right end of the x range, at the top of the y range.
func table1Like(t *testing.T) (*plot.Plot, []Series) {
	t.Helper()
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	series := []Series{
		{Name: "NLFT", X: x, Y: []float64{0.09, 0.05, 0.21, 0.07, 0.30, 0.15, 0.11, 0.28}},
		{Name: "LQF", X: x, Y: []float64{0.06, 0.02, 0.18, 0.05, 0.22, 0.07, 0.05, 0.21}},
		{Name: "LQF-FC", X: x, Y: []float64{0.10, 0.06, 0.20, 0.08, 0.27, 0.18, 0.14, 0.25}, Dashed: true},
		{Name: "GaF", X: x, Y: []float64{0.21, 0.16, 0.36, 0.26, 0.60, 0.66, 0.46, 0.47}, Dashed: true},
		{Name: "FC", X: x, Y: []float64{0.11, 0.09, 0.21, 0.09, 0.33, 0.26, 0.19, 0.68}, Dashed: true},
	}
	p, err := Lines(series, LineOptions{Title: "Test error by task, near to far (3 seeds)", XLabel: "task", YLabel: "test error (fraction)"})
	if err != nil {
		t.Fatal(err)
	}
	return p, series
}

// points returns the canvas positions of every point of series in a data
// area.
func points(p *plot.Plot, data vg.Rectangle, series []Series) []vg.Point {
	dc := draw.Canvas{Rectangle: data}
	trX, trY := p.Transforms(&dc)
	var out []vg.Point
	for _, s := range series {
		for i := range s.X {
			out = append(out, vg.Point{X: trX(s.X[i]), Y: trY(s.Y[i])})
		}
	}
	return out
}

// inside reports whether pt lies in r grown by pad on every side.
func inside(pt vg.Point, r vg.Rectangle, pad vg.Length) bool {
	return pt.X >= r.Min.X-pad && pt.X <= r.Max.X+pad && pt.Y >= r.Min.Y-pad && pt.Y <= r.Max.Y+pad
}

func overlaps(a, b vg.Rectangle) bool {
	return a.Min.X < b.Max.X && b.Min.X < a.Max.X && a.Min.Y < b.Max.Y && b.Min.Y < a.Max.Y
}

// TestLegendHidesNoData: where gonum's own top-right placement put the
// legend over plotted points, Draw puts it outside the data area, and no
// point (nor its marker) lies in the legend's box.
func TestLegendHidesNoData(t *testing.T) {
	const w, h = 400, 280
	p, series := table1Like(t)

	// The old placement: gonum draws the legend inside the axes, in the
	// corner given by Top and Left; its box is the legend's size at that
	// corner of the area right of the y axis and above the x axis.
	old := draw.New(vgimg.New(w, h))
	p.Legend.Top = true
	data := p.DataCanvas(old).Rectangle
	size := legendSize(&p.Legend, old)
	oldBox := vg.Rectangle{Min: vg.Point{X: old.Max.X - size.X, Y: old.Max.Y - size.Y}, Max: old.Max}
	hidden := 0
	for _, pt := range points(p, data, series) {
		if inside(pt, oldBox, 0) {
			hidden++
		}
	}
	if hidden == 0 {
		t.Fatalf("the test case is wrong: gonum's legend box %v hides no point", oldBox)
	}

	l := Draw(p, draw.New(vgimg.New(w, h)))
	if l.Side == NoLegend {
		t.Fatal("no legend drawn")
	}
	if overlaps(l.Legend, l.Data) {
		t.Errorf("legend box %v overlaps the data area %v", l.Legend, l.Data)
	}
	for _, pt := range points(p, l.Data, series) {
		if inside(pt, l.Legend, vg.Points(4)) { // a marker's radius and more
			t.Errorf("point %v lies in the legend box %v", pt, l.Legend)
		}
	}
	if l.Legend.Min.X < Margin || l.Legend.Min.Y < Margin || l.Legend.Max.X > w-Margin || l.Legend.Max.Y > h-Margin {
		t.Errorf("legend box %v leaves the %v x %v canvas's margin", l.Legend, w, h)
	}
	// Draw put the legend back: the plot drawn again has it.
	if legendSize(&p.Legend, old).X == 0 || p.Title.Padding != 0 {
		t.Errorf("Draw changed the plot: legend size %v, title padding %v", legendSize(&p.Legend, old), p.Title.Padding)
	}
}

// TestLegendSide: a legend of long names goes below the plot, one of many
// short names to its right.
func TestLegendSide(t *testing.T) {
	x := []float64{1, 2}
	long, err := Lines([]Series{
		{Name: "Gauss-Newton at w0 (kappa 3.42e+06)", X: x, Y: x},
		{Name: "K-FAC-preconditioned at w0 (kappa 3.18e+04)", X: x, Y: x},
	}, LineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var short []Series
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		short = append(short, Series{Name: n, X: x, Y: x})
	}
	tall, err := Lines(short, LineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    *plot.Plot
		want LegendSide
	}{{long, LegendBelow}, {tall, LegendRight}, {plot.New(), NoLegend}} {
		l := Draw(c.p, draw.New(vgimg.New(400, 300)))
		if l.Side != c.want {
			t.Errorf("legend side %v, want %v", l.Side, c.want)
		}
		if c.want == LegendBelow && l.Legend.Max.Y > l.Data.Min.Y {
			t.Errorf("legend %v not below the data %v", l.Legend, l.Data)
		}
		if c.want == LegendRight && l.Legend.Min.X < l.Data.Max.X {
			t.Errorf("legend %v not right of the data %v", l.Legend, l.Data)
		}
	}
}

// blank reports whether every pixel of img in r is white.
func blank(img image.Image, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c.R < 250 || c.G < 250 || c.B < 250 {
				return false
			}
		}
	}
	return true
}

// TestTitleClear: gonum draws the title touching the image's top edge;
// Draw leaves a blank band along every edge.
func TestTitleClear(t *testing.T) {
	p, _ := table1Like(t)
	band := int(Margin.Dots(vgimg.DefaultDPI)) - 2 // pixels
	top := func(img image.Image) image.Rectangle {
		b := img.Bounds()
		return image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+band)
	}
	old := vgimg.New(400, 280)
	p.Draw(draw.New(old))
	if blank(old.Image(), top(old.Image())) {
		t.Fatal("the test case is wrong: gonum's title does not reach the top band")
	}
	c := vgimg.New(400, 280)
	Draw(p, draw.New(c))
	img := c.Image()
	b := img.Bounds()
	for name, r := range map[string]image.Rectangle{
		"top":    top(img),
		"bottom": image.Rect(b.Min.X, b.Max.Y-band, b.Max.X, b.Max.Y),
		"left":   image.Rect(b.Min.X, b.Min.Y, b.Min.X+band, b.Max.Y),
		"right":  image.Rect(b.Max.X-band, b.Min.Y, b.Max.X, b.Max.Y),
	} {
		if !blank(img, r) {
			t.Errorf("ink in the %s band %v", name, r)
		}
	}
	if blank(img, image.Rect(b.Min.X, band, b.Max.X, 3*band)) {
		t.Error("no title below the top band")
	}
}

// TestSavePanelsSharedLegend: SavePanels draws one legend outside the
// panels, growing the image by its size, and leaves the plots as they
// were.
func TestSavePanelsSharedLegend(t *testing.T) {
	x := []float64{1, 2, 3}
	var plots []*plot.Plot
	for range 3 {
		p, err := Lines([]Series{{Name: "warm, from a(0.1)", X: x, Y: x}, {Name: "cold, from 0", X: x, Y: []float64{3, 2, 1}}},
			LineOptions{Title: "panel", XLabel: "iterations", YLabel: "residual"})
		if err != nil {
			t.Fatal(err)
		}
		plots = append(plots, p)
	}
	path := filepath.Join(t.TempDir(), "panels.png")
	if err := SavePanels(plots, 3, 200, 150, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	px := func(l vg.Length) int { return int(l.Dots(vgimg.DefaultDPI) + 0.5) }
	if cfg.Width <= px(3*200) && cfg.Height <= px(150) {
		t.Errorf("image %dx%d: no room added for the shared legend", cfg.Width, cfg.Height)
	}
	for _, p := range plots {
		if legendSize(&p.Legend, draw.Canvas{}).X == 0 || p.Title.Padding != 0 {
			t.Error("SavePanels changed a plot")
		}
	}
}

// TestLongTitleWraps: a title wider than the canvas, which gonum centres
// and cuts off at both sides, is wrapped onto lines that stay on it.
func TestLongTitleWraps(t *testing.T) {
	p, _ := table1Like(t)
	p.Title.Text = "Test error relative to NLFT, per task (mean ± std over 3 seeds), near to far from the source"
	band := int(Margin.Dots(vgimg.DefaultDPI)) - 2
	sides := func(img image.Image) (l, r image.Rectangle) {
		b := img.Bounds()
		return image.Rect(b.Min.X, b.Min.Y, b.Min.X+band, b.Min.Y+40), image.Rect(b.Max.X-band, b.Min.Y, b.Max.X, b.Min.Y+40)
	}
	old := vgimg.New(220, 200)
	p.Draw(draw.New(old))
	if l, r := sides(old.Image()); blank(old.Image(), l) || blank(old.Image(), r) {
		t.Fatal("the test case is wrong: gonum's title does not reach the sides")
	}
	c := vgimg.New(220, 200)
	Draw(p, draw.New(c))
	if l, r := sides(c.Image()); !blank(c.Image(), l) || !blank(c.Image(), r) {
		t.Error("the title reaches a side of the image")
	}
	if p.Title.Text == "" {
		t.Error("Draw lost the title")
	}
}
