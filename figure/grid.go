package figure

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"

	xdraw "golang.org/x/image/draw"
	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// DefaultTileSize is the side of a grid tile when GridOptions.TileSize is
// zero.
const DefaultTileSize = vg.Inch

// Tile is one image of a grid.
type Tile struct {
	// Pixels holds Height*Width*Channels intensities in [0, 1], row-major
	// with the channels last (HWC). Values outside [0, 1] are clamped.
	Pixels []float32

	// Height and Width are the image's size in pixels.
	Height, Width int

	// Channels is 1 for a grayscale image or 3 for RGB.
	Channels int

	// Caption is written below the tile in a small font. A "\n" starts a
	// new line and lines wider than the tile wrap at spaces.
	Caption string

	// Frame, if not nil, is the color of a frame drawn around the tile,
	// for example to mark the query image or proponents and opponents.
	Frame color.Color
}

// Row is one row of a grid: a title written above tiles laid out left to
// right.
type Row struct {
	Title string
	Tiles []Tile
}

// GridOptions configures ImageGrid. The zero value gives one-inch tiles at
// vgimg.DefaultDPI and no title.
type GridOptions struct {
	// TileSize is the side of the square each tile's image is fitted into;
	// zero means DefaultTileSize.
	TileSize vg.Length

	// Title, if not empty, is written centred above all rows.
	Title string

	// DPI is the resolution in dots per inch; zero means vgimg.DefaultDPI.
	DPI int
}

// Grid is a rendered image grid.
type Grid struct {
	// Canvas holds the drawing; Canvas.Image() is the rendered image.
	Canvas *vgimg.Canvas

	// Bounds[i][j] is the rectangle of Canvas.Image(), in pixels, covered
	// by the image of rows[i].Tiles[j] (inside its frame, if any).
	Bounds [][]image.Rectangle
}

// Image returns the rendered grid.
func (g *Grid) Image() image.Image { return g.Canvas.Image() }

// Validate returns an error describing the first inconsistency of t: a
// non-positive size, a channel count other than 1 or 3, a Pixels length
// other than Height*Width*Channels, or a NaN intensity.
func (t *Tile) Validate() error {
	if t.Height <= 0 || t.Width <= 0 {
		return fmt.Errorf("size %dx%d is not positive", t.Height, t.Width)
	}
	if t.Channels != 1 && t.Channels != 3 {
		return fmt.Errorf("%d channels; want 1 (grayscale) or 3 (RGB)", t.Channels)
	}
	if want := t.Height * t.Width * t.Channels; len(t.Pixels) != want {
		return fmt.Errorf("%d pixel values; want Height*Width*Channels = %d*%d*%d = %d",
			len(t.Pixels), t.Height, t.Width, t.Channels, want)
	}
	for i, v := range t.Pixels {
		if math.IsNaN(float64(v)) {
			return fmt.Errorf("pixel value %d is NaN", i)
		}
	}
	return nil
}

// image converts t, which must be valid, to an 8-bit RGBA image.
func (t *Tile) image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, t.Width, t.Height))
	for p := 0; p < t.Height*t.Width; p++ {
		px := img.Pix[4*p : 4*p+4]
		for c := 0; c < 3; c++ {
			v := t.Pixels[p*t.Channels+min(c, t.Channels-1)]
			px[c] = uint8(math.Round(float64(255 * max(0, min(1, v)))))
		}
		px[3] = 255
	}
	return img
}

// ImageGrid draws rows of tiles on a white background: the options' title on
// top, then each row's title above its tiles, and each tile's caption below
// it. Tiles are fitted, keeping their aspect ratio, into squares of side
// opts.TileSize and upscaled by nearest neighbour. It returns an error if a
// tile is inconsistent (see Tile.Validate), if there are no tiles, or if
// the options are out of range.
func ImageGrid(rows []Row, opts GridOptions) (*Grid, error) {
	if opts.TileSize == 0 {
		opts.TileSize = DefaultTileSize
	}
	if opts.DPI == 0 {
		opts.DPI = vgimg.DefaultDPI
	}
	if opts.DPI < 0 {
		return nil, fmt.Errorf("figure: DPI %d is negative", opts.DPI)
	}
	dpi := float64(opts.DPI)
	tile := int(math.Round(opts.TileSize.Dots(dpi)))
	if tile < 1 {
		return nil, fmt.Errorf("figure: tile size %v is under one pixel at %d dpi", opts.TileSize, opts.DPI)
	}
	cols := 0
	for i, r := range rows {
		for j := range r.Tiles {
			if err := r.Tiles[j].Validate(); err != nil {
				return nil, fmt.Errorf("figure: row %d, tile %d: %w", i, j, err)
			}
		}
		cols = max(cols, len(r.Tiles))
	}
	if cols == 0 {
		return nil, errors.New("figure: no tiles to draw")
	}

	// Layout, in pixels from the top left corner.
	var (
		frame   = max(1, tile/24)
		gap     = max(4, 3*frame, tile/8)
		pt      = opts.TileSize / vg.Inch * 72 // tile size in points
		capSty  = textStyle(max(6, pt/10), false, text.XCenter)
		rowSty  = textStyle(max(8, pt/7), true, text.XLeft)
		headSty = textStyle(max(10, pt/5.5), true, text.XCenter)
		lineH   = func(s text.Style) int { return int(math.Ceil(s.FontExtents().Height.Dots(dpi))) }
		width   = 2*gap + cols*tile + (cols-1)*gap
		y       = gap
	)
	type label struct {
		sty  text.Style
		x, y int // top left, or top centre for centred styles
		txt  string
	}
	var labels []label
	if opts.Title != "" {
		width = max(width, 2*gap+int(math.Ceil(headSty.Width(opts.Title).Dots(dpi))))
		labels = append(labels, label{headSty, -1, y, opts.Title}) // x set below
		y += lineH(headSty) + gap/2
	}
	g := &Grid{Bounds: make([][]image.Rectangle, len(rows))}
	for i, r := range rows {
		if r.Title != "" {
			width = max(width, 2*gap+int(math.Ceil(rowSty.Width(r.Title).Dots(dpi))))
			labels = append(labels, label{rowSty, gap, y, r.Title})
			y += lineH(rowSty) + gap/2
		}
		capLines := 0
		for j, t := range r.Tiles {
			x := gap + j*(tile+gap)
			s := float64(tile) / float64(max(t.Height, t.Width))
			w, h := int(math.Round(float64(t.Width)*s)), int(math.Round(float64(t.Height)*s))
			x0, y0 := x+(tile-w)/2, y+(tile-h)/2
			g.Bounds[i] = append(g.Bounds[i], image.Rect(x0, y0, x0+w, y0+h))
			lines := wrap(t.Caption, capSty, vg.Length(tile+gap*2/3)/vg.Length(dpi)*vg.Inch)
			for k, l := range lines {
				labels = append(labels, label{capSty, x + tile/2, y + tile + gap/2 + k*lineH(capSty), l})
			}
			capLines = max(capLines, len(lines))
		}
		y += tile
		if capLines > 0 {
			y += gap/2 + capLines*lineH(capSty)
		}
		y += gap
	}
	height := y

	toVg := func(px int) vg.Length { return vg.Length(px) / vg.Length(dpi) * vg.Inch }
	g.Canvas = vgimg.NewWith(vgimg.UseWH(toVg(width), toVg(height)), vgimg.UseDPI(opts.DPI),
		vgimg.UseBackgroundColor(color.White))
	dc := vgdraw.New(g.Canvas)
	for _, l := range labels {
		if l.x < 0 {
			l.x = width / 2
		}
		dc.FillText(l.sty, vg.Point{X: toVg(l.x), Y: toVg(height - l.y)}, l.txt)
	}
	dst := g.Canvas.Image()
	for i, r := range rows {
		for j := range r.Tiles {
			t, b := &r.Tiles[j], g.Bounds[i][j]
			if t.Frame != nil {
				draw.Draw(dst, b.Inset(-frame), image.NewUniform(t.Frame), image.Point{}, draw.Src)
			}
			src := t.image()
			xdraw.NearestNeighbor.Scale(dst, b, src, src.Bounds(), draw.Src, nil)
		}
	}
	return g, nil
}

// textStyle returns the style of grid text of the given size in points.
func textStyle(size vg.Length, bold bool, align text.XAlignment) text.Style {
	f := plot.DefaultFont
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{
		Color:   color.Black,
		Font:    font.From(f, size),
		XAlign:  align,
		YAlign:  text.YTop,
		Handler: plot.DefaultTextHandler,
	}
}

// wrap splits s into lines at "\n" and, greedily, at spaces so that lines
// are at most width wide where possible (a single long word overflows).
func wrap(s string, sty text.Style, width vg.Length) []string {
	if s == "" {
		return nil
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			lines = append(lines, "")
			continue
		}
		line := words[0]
		for _, w := range words[1:] {
			if sty.Width(line+" "+w) <= width {
				line += " " + w
			} else {
				lines = append(lines, line)
				line = w
			}
		}
		lines = append(lines, line)
	}
	return lines
}
