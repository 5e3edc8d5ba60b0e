package figure

import (
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Margin is the blank border that Draw, SavePlot and SavePanels leave
// around a figure, so that no title, tick label or legend touches the
// image's edge.
const Margin = vg.Length(8)

// TitlePadding is the space between a title and the top of the plot's
// axes when the plot's own Title.Padding is zero.
const TitlePadding = vg.Length(6)

// legendGap separates a legend drawn outside from the plot beside it.
const legendGap = vg.Length(10)

// LegendSide is where Draw put a plot's legend.
type LegendSide int

const (
	// NoLegend: the plot has no legend entries.
	NoLegend LegendSide = iota
	// LegendRight: in a column right of the plot, its top level with the
	// top of the data area.
	LegendRight
	// LegendBelow: in a column below the x axis, centred under the data
	// area.
	LegendBelow
)

// Layout is where Draw put the parts of a plot, in the canvas's
// coordinates.
type Layout struct {
	// Data is the data area, inside the axes: every plotted point lies in
	// it.
	Data vg.Rectangle
	// Legend is the box of the legend's entries (zero when Side is
	// NoLegend). It never intersects Data.
	Legend vg.Rectangle
	Side   LegendSide
}

// Draw draws p on c the way SavePlot renders it: inside a Margin on
// every side; with the title, wrapped at spaces to the canvas's width,
// centred above the data area (moved sideways as far as it must to stay
// on the canvas) and TitlePadding above the axes (gonum's own placement
// lets a title touch the top edge, and cuts off one wider than the
// canvas); the axis labels centred on the data area; and the legend, if p
// has one, outside the data area, so that it can hide no data: to the
// right of the plot, or below it when that takes clearly the smaller share
// of the canvas (a wide legend of a few long names). p.Legend's Top, Left
// and offsets are ignored. p is left as it was.
func Draw(p *plot.Plot, c draw.Canvas) Layout {
	if p.BackgroundColor != nil {
		c.SetColor(p.BackgroundColor)
		c.Fill(c.Rectangle.Path())
	}
	c = inset(c, Margin)
	t := takeParts(p)
	defer t.restore()
	t.wrapTitle(c.Max.X - c.Min.X)
	side, size := chooseSide(&t.legend, c)
	pc := besideLegend(c, side, size)
	top, left, bottom := t.room()
	data := t.drawIn(pc, draw.Crop(pc, left, 0, bottom, -top))
	if side == NoLegend {
		return Layout{Data: data}
	}
	box := legendBox(side, size, c, data)
	drawLegend(t.legend, draw.Canvas{Canvas: c.Canvas, Rectangle: box})
	return Layout{Data: data, Legend: box, Side: side}
}

// parts holds what Draw takes out of a plot to draw itself: the legend,
// the title and the axis labels. gonum centres an axis label's glyph box
// at the arithmetic middle of the axis range, which on a logarithmic axis
// lies near its end, and shrinks the data area until the label fits there
// (a long label on a log axis left a wide blank band); Draw centres the
// labels on the data area itself.
type parts struct {
	p                   *plot.Plot
	legend              plot.Legend
	title, xText, yText string
	// lines is the title wrapped to the canvas's width, lines joined by
	// "\n".
	lines string
}

// takeParts takes p's legend, title and axis labels out of p, until
// restore.
func takeParts(p *plot.Plot) *parts {
	t := &parts{p: p, legend: p.Legend, title: p.Title.Text, xText: p.X.Label.Text, yText: p.Y.Label.Text, lines: p.Title.Text}
	p.Legend = plot.NewLegend()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = "", "", ""
	return t
}

// restore puts back what takeParts took.
func (t *parts) restore() {
	t.p.Legend = t.legend
	t.p.Title.Text, t.p.X.Label.Text, t.p.Y.Label.Text = t.title, t.xText, t.yText
}

// wrapTitle breaks the title at spaces into lines at most width wide
// (a single word wider than that stays whole).
func (t *parts) wrapTitle(width vg.Length) {
	t.lines = strings.Join(wrap(t.title, t.p.Title.TextStyle, width), "\n")
}

// room returns the height above the axes that the title takes, the width
// left of the y axis and the height below the x axis that the axis labels
// take (as gonum reserves them).
func (t *parts) room() (top, left, bottom vg.Length) {
	if t.lines != "" {
		top = t.p.Title.TextStyle.Height(t.lines) + t.titlePadding()
	}
	if y := t.p.Y.Label; t.yText != "" {
		left = y.TextStyle.FontExtents().Descent + y.TextStyle.Height(t.yText) + y.Padding
	}
	if x := t.p.X.Label; t.xText != "" {
		bottom = x.TextStyle.Height(t.xText) + x.Padding
	}
	return top, left, bottom
}

// titlePadding is the plot's title padding, or TitlePadding for none.
func (t *parts) titlePadding() vg.Length {
	if t.p.Title.Padding > 0 {
		return t.p.Title.Padding
	}
	return TitlePadding
}

// drawIn draws the plot on ac (c less the room of the title and labels)
// and the title and labels in c's top, left and bottom edges, centred on
// the data area, and returns the data area.
func (t *parts) drawIn(c, ac draw.Canvas) vg.Rectangle {
	t.p.Draw(ac)
	data := t.p.DataCanvas(ac).Rectangle
	mid := vg.Point{X: (data.Min.X + data.Max.X) / 2, Y: (data.Min.Y + data.Max.Y) / 2}
	if t.lines != "" {
		sty := t.p.Title.TextStyle
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		half := sty.Width(t.lines) / 2
		x := max(c.Min.X+half, min(c.Max.X-half, mid.X))
		// Just above the data area, so that the titles of aligned panels
		// line up.
		y := min(c.Max.Y, data.Max.Y+t.titlePadding()+sty.Height(t.lines))
		c.FillText(sty, vg.Point{X: x, Y: y}, t.lines)
	}
	if t.yText != "" {
		y := t.p.Y.Label
		sty := y.TextStyle
		sty.Rotation += math.Pi / 2
		x := c.Min.X + y.TextStyle.Height(t.yText) - y.TextStyle.FontExtents().Descent
		c.FillText(sty, vg.Point{X: x, Y: mid.Y}, t.yText)
	}
	if t.xText != "" {
		x := t.p.X.Label
		c.FillText(x.TextStyle, vg.Point{X: mid.X, Y: c.Min.Y + x.TextStyle.FontExtents().Descent}, t.xText)
	}
	return data
}

// legendBox returns the box of a legend of the given size drawn on side
// of the data area, within c.
func legendBox(side LegendSide, size vg.Point, c draw.Canvas, data vg.Rectangle) vg.Rectangle {
	var box vg.Rectangle
	if side == LegendRight {
		// Level with the top of the data area, or higher if it is taller
		// than the data area reaches.
		box.Min.X, box.Max.Y = c.Max.X-size.X, max(data.Max.Y, min(c.Max.Y, c.Min.Y+size.Y))
	} else {
		box.Min.X = max(c.Min.X, min(c.Max.X-size.X, (data.Min.X+data.Max.X-size.X)/2))
		box.Max.Y = c.Min.Y + size.Y
	}
	box.Max.X, box.Min.Y = box.Min.X+size.X, box.Max.Y-size.Y
	return box
}

// inset returns c less a border of m on every side.
func inset(c draw.Canvas, m vg.Length) draw.Canvas {
	return draw.Crop(c, m, -m, m, -m)
}

// legendSize returns the size of l's entries drawn as one column, or a
// zero size when l has no entries.
func legendSize(l *plot.Legend, c draw.Canvas) vg.Point {
	s := l.Rectangle(c).Size()
	if s.X <= 0 || s.Y <= 0 {
		return vg.Point{}
	}
	// plot.Legend.Draw puts its last entry a font descent lower than
	// Rectangle counts.
	s.Y += l.TextStyle.FontExtents().Descent
	return s
}

// belowBias favours a legend to the right: one column of entries below a
// plot leaves most of its width empty, so it goes there only when it
// takes clearly less of the canvas's height than it would of its width.
const belowBias = 0.6

// besideLegend is c less the room of a legend of the given size (and its
// gap) on its side.
func besideLegend(c draw.Canvas, side LegendSide, size vg.Point) draw.Canvas {
	switch side {
	case LegendRight:
		c.Max.X -= size.X + legendGap
	case LegendBelow:
		c.Min.Y += size.Y + legendGap
	}
	return c
}

// chooseSide returns where a legend l beside a plot drawn on c takes the
// smaller share of c (see belowBias), and the legend's size.
func chooseSide(l *plot.Legend, c draw.Canvas) (LegendSide, vg.Point) {
	s := legendSize(l, c)
	if s.X == 0 {
		return NoLegend, s
	}
	w, h := c.Max.X-c.Min.X, c.Max.Y-c.Min.Y
	if (s.Y+legendGap)/h < belowBias*(s.X+legendGap)/w {
		return LegendBelow, s
	}
	return LegendRight, s
}

// drawLegend draws l's entries in one column filling c from its top left:
// thumbnails on the left, names after them.
func drawLegend(l plot.Legend, c draw.Canvas) {
	l.Top, l.Left = true, true
	l.XOffs, l.YOffs = 0, 0
	c.Max.Y += l.TextStyle.FontExtents().Descent // Draw starts a descent below the top
	l.Draw(c)
}
