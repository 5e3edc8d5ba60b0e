package figure

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// SavePanels writes Panels(plots, cols, w, h) into a PNG at path,
// atomically.
func SavePanels(plots []*plot.Plot, cols int, w, h vg.Length, path string) error {
	return WritePNG(path, Panels(plots, cols, w, h).Image())
}

// Panels draws plots side by side, cols per row, each panel w x h with
// their axes aligned (plot.Align), onto a new canvas. Nil
// plots leave their panel empty. The panels are taken to show the same
// series: the legend of the first panel that has one is drawn once, outside
// every panel, to the right of the grid or below it (as Draw chooses),
// and the image grows by its size; the other panels'
// legends are not drawn. Like SavePlot it leaves a Margin around the
// figure, keeps the titles clear of the top edge and centres the axis
// labels on each panel's data area.
func Panels(plots []*plot.Plot, cols int, w, h vg.Length) *vgimg.Canvas {
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	// Take the legends, titles and axis labels out of the panels (and put
	// them back at the end); a plot may fill several panels.
	var leg *plot.Legend
	var top, left, bottom vg.Length // the most room a panel's title and labels take
	taken := map[*plot.Plot]*parts{}
	for _, p := range plots {
		if p == nil || taken[p] != nil {
			continue
		}
		if leg == nil && legendSize(&p.Legend, draw.Canvas{}).X > 0 {
			l := p.Legend
			leg = &l
		}
		t := takeParts(p)
		defer t.restore()
		t.wrapTitle(w - panelGap)
		taken[p] = t
		tp, l, b := t.room()
		top, left, bottom = max(top, tp), max(left, l), max(bottom, b)
	}
	W, H := w*vg.Length(cols), h*vg.Length(rows)
	side, size := NoLegend, vg.Point{}
	if leg != nil {
		side, size = chooseSide(leg, draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: W, Y: H}}})
		if side == LegendRight {
			W += size.X + legendGap
		} else {
			H += size.Y + legendGap
		}
	}
	W, H = W+2*Margin, H+2*Margin
	img := vgimg.NewWith(vgimg.UseWH(W, H), vgimg.UseBackgroundColor(color.White))
	dc := inset(draw.New(img), Margin)
	pc := besideLegend(dc, side, size)
	// Align the panels with the room of their titles and labels taken off
	// every one of them alike, so that their data areas stay aligned.
	canvases := plot.Align(grid, draw.Tiles{Rows: rows, Cols: cols, PadX: panelGap, PadY: panelGap}, pc)
	var data vg.Rectangle // the union of the panels' data areas
	first := true
	for i := range grid {
		for j, p := range grid[i] {
			if p == nil {
				continue
			}
			c := canvases[i][j]
			d := taken[p].drawIn(c, draw.Crop(c, left, 0, bottom, -top))
			if first {
				data, first = d, false
			} else {
				data.Min.X, data.Min.Y = min(data.Min.X, d.Min.X), min(data.Min.Y, d.Min.Y)
				data.Max.X, data.Max.Y = max(data.Max.X, d.Max.X), max(data.Max.Y, d.Max.Y)
			}
		}
	}
	if leg != nil {
		drawLegend(*leg, draw.Canvas{Canvas: dc.Canvas, Rectangle: legendBox(side, size, dc, data)})
	}
	return img
}

// panelGap separates the panels of SavePanels.
const panelGap = vg.Length(12)
