package figure

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// uniformTile returns an h x w grayscale tile of constant intensity v.
func uniformTile(h, w int, v float32) Tile {
	px := make([]float32, h*w)
	for i := range px {
		px[i] = v
	}
	return Tile{Pixels: px, Height: h, Width: w, Channels: 1}
}

func rgba(img image.Image, p image.Point) color.RGBA {
	return color.RGBAModel.Convert(img.At(p.X, p.Y)).(color.RGBA)
}

func centre(r image.Rectangle) image.Point {
	return image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
}

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	red   = color.RGBA{255, 0, 0, 255}
)

func TestImageGrid(t *testing.T) {
	w, b := uniformTile(28, 28, 1), uniformTile(28, 28, 0)
	grey := uniformTile(28, 28, 0.5)
	framed := b
	framed.Frame = red
	rgb := Tile{Pixels: make([]float32, 28*28*3), Height: 28, Width: 28, Channels: 3}
	for i := 0; i < len(rgb.Pixels); i += 3 {
		rgb.Pixels[i] = 2 // clamped to 1: pure red
	}
	rows := []Row{{Tiles: []Tile{w, b, grey}}, {Tiles: []Tile{b, framed, rgb}}}
	// At 72 dpi a 56 pt tile is 56 pixels; tiles are 7 pixels apart and
	// from the border.
	g, err := ImageGrid(rows, GridOptions{TileSize: 56, DPI: 72})
	if err != nil {
		t.Fatal(err)
	}
	img := g.Image()
	if got, want := img.Bounds(), image.Rect(0, 0, 7+3*(56+7), 7+2*(56+7)); got != want {
		t.Errorf("image bounds %v, want %v", got, want)
	}
	want := [][]color.RGBA{{white, black, {128, 128, 128, 255}}, {black, black, red}}
	for i := range rows {
		for j := range rows[i].Tiles {
			r := g.Bounds[i][j]
			wantR := image.Rect(7+j*63, 7+i*63, 7+j*63+56, 7+i*63+56)
			if r != wantR {
				t.Errorf("tile (%d,%d) at %v, want %v", i, j, r, wantR)
			}
			for _, p := range []image.Point{centre(r), r.Min, r.Max.Sub(image.Pt(1, 1))} {
				if got := rgba(img, p); got != want[i][j] {
					t.Errorf("tile (%d,%d) pixel %v is %v, want %v", i, j, p, got, want[i][j])
				}
			}
		}
	}
	// The framed tile has a red frame just outside its image; the others
	// have none.
	if got := rgba(img, g.Bounds[1][1].Min.Sub(image.Pt(1, 1))); got != red {
		t.Errorf("frame pixel is %v, want red", got)
	}
	if got := rgba(img, g.Bounds[1][0].Min.Sub(image.Pt(1, 1))); got != white {
		t.Errorf("pixel outside an unframed tile is %v, want white", got)
	}
}

func TestImageGridNearestNeighbour(t *testing.T) {
	// A 2x2 checkerboard upscaled to 56x56 must stay two colours, in
	// four uniform quadrants.
	checker := Tile{Pixels: []float32{0, 1, 1, 0}, Height: 2, Width: 2, Channels: 1}
	g, err := ImageGrid([]Row{{Tiles: []Tile{checker}}}, GridOptions{TileSize: 56, DPI: 72})
	if err != nil {
		t.Fatal(err)
	}
	r := g.Bounds[0][0]
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			want := black
			if (x-r.Min.X < 28) != (y-r.Min.Y < 28) {
				want = white
			}
			if got := rgba(g.Image(), image.Pt(x, y)); got != want {
				t.Fatalf("pixel (%d,%d) is %v, want %v", x, y, got, want)
			}
		}
	}
}

func TestImageGridAspectAndText(t *testing.T) {
	tall := uniformTile(28, 14, 0)
	tall.Caption = "proponent #1\nscore 0.93, a rather long caption that wraps"
	rows := []Row{
		{Title: "query: predicted sandal", Tiles: []Tile{uniformTile(28, 28, 0)}},
		{Title: "top proponents", Tiles: []Tile{tall, uniformTile(28, 28, 0)}},
	}
	g, err := ImageGrid(rows, GridOptions{Title: "Attribution", DPI: 72})
	if err != nil {
		t.Fatal(err)
	}
	img := g.Image()
	// Default tile size: one inch, 72 pixels at 72 dpi; the tall tile is
	// fitted into it keeping its aspect ratio.
	if got := g.Bounds[1][0].Size(); got != image.Pt(36, 72) {
		t.Errorf("tall tile size %v, want 36x72", got)
	}
	if got := g.Bounds[0][0].Size(); got != image.Pt(72, 72) {
		t.Errorf("square tile size %v, want 72x72", got)
	}
	for _, r := range [][]image.Rectangle{g.Bounds[0], g.Bounds[1]} {
		for _, b := range r {
			if !b.In(img.Bounds()) {
				t.Errorf("tile %v outside image %v", b, img.Bounds())
			}
		}
	}
	// Text is drawn above each row (the titles) and below the captioned
	// tile, and nothing overlaps the tiles.
	inked := func(r image.Rectangle) bool {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if rgba(img, image.Pt(x, y)) != white {
					return true
				}
			}
		}
		return false
	}
	top := image.Rect(0, 0, img.Bounds().Dx(), g.Bounds[0][0].Min.Y)
	between := image.Rect(0, g.Bounds[0][0].Max.Y, img.Bounds().Dx(), g.Bounds[1][0].Min.Y)
	below := image.Rect(0, g.Bounds[1][0].Max.Y, img.Bounds().Dx(), img.Bounds().Dy())
	for name, r := range map[string]image.Rectangle{"title": top, "row title": between, "caption": below} {
		if !inked(r) {
			t.Errorf("no %s drawn in %v", name, r)
		}
	}
	if lines := wrap(tall.Caption, textStyle(7.2, false, 0), vg.Inch); len(lines) < 3 {
		t.Errorf("caption wrapped into %q, want at least 3 lines", lines)
	}
}

func TestImageGridErrors(t *testing.T) {
	ok := uniformTile(2, 2, 0.5)
	bad := func(f func(*Tile)) []Row {
		t := ok
		t.Pixels = append([]float32(nil), ok.Pixels...)
		f(&t)
		return []Row{{Tiles: []Tile{ok}}, {Tiles: []Tile{ok, t}}}
	}
	for name, c := range map[string]struct {
		rows []Row
		opts GridOptions
		msg  string
	}{
		"short pixels":  {bad(func(t *Tile) { t.Pixels = t.Pixels[:3] }), GridOptions{}, "row 1, tile 1: 3 pixel values; want"},
		"channels":      {bad(func(t *Tile) { t.Channels = 2 }), GridOptions{}, "2 channels"},
		"zero height":   {bad(func(t *Tile) { t.Height = 0 }), GridOptions{}, "not positive"},
		"RGB mismatch":  {bad(func(t *Tile) { t.Channels = 3 }), GridOptions{}, "want Height*Width*Channels"},
		"NaN":           {bad(func(t *Tile) { t.Pixels[2] = float32(math.NaN()) }), GridOptions{}, "NaN"},
		"no rows":       {nil, GridOptions{}, "no tiles"},
		"empty rows":    {[]Row{{Title: "x"}}, GridOptions{}, "no tiles"},
		"negative DPI":  {[]Row{{Tiles: []Tile{ok}}}, GridOptions{DPI: -1}, "DPI"},
		"tiny tiles":    {[]Row{{Tiles: []Tile{ok}}}, GridOptions{TileSize: 0.1}, "under one pixel"},
		"negative size": {[]Row{{Tiles: []Tile{ok}}}, GridOptions{TileSize: -vg.Inch}, "under one pixel"},
	} {
		_, err := ImageGrid(c.rows, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.msg)
		}
	}
}

func TestWritePNGAtomic(t *testing.T) {
	g, err := ImageGrid([]Row{{Tiles: []Tile{uniformTile(4, 4, 1)}}}, GridOptions{TileSize: 16, DPI: 72})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "grid.png")
	if err := WritePNG(path, g.Image()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "grid.png" {
		t.Errorf("directory holds %v, want only grid.png", entries)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != g.Image().Bounds() {
		t.Errorf("decoded bounds %v, want %v", img.Bounds(), g.Image().Bounds())
	}
	if err := WritePNG(filepath.Join(dir, "missing", "grid.png"), g.Image()); err == nil {
		t.Error("no error writing into a missing directory")
	}
}
