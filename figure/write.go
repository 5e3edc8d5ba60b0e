package figure

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/lqf-go/lqf/internal/atomicfile"
)

// EncodePNG writes img to w in PNG format. For a Grid g, pass g.Image();
// for any vgimg canvas c, pass c.Image().
func EncodePNG(w io.Writer, img image.Image) error {
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("figure: encoding PNG: %w", err)
	}
	return nil
}

// WritePNG writes img to path as a PNG file, atomically.
func WritePNG(path string, img image.Image) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error { return EncodePNG(w, img) })
}

// SavePlot renders p at size w x h as Draw lays it out (a margin, the
// title clear of the top edge, the legend outside the data area) and
// writes it to path, atomically. The format follows path's extension:
// .png, .svg, .pdf, or any other that plot.Plot.WriterTo accepts.
func SavePlot(p *plot.Plot, w, h vg.Length, path string) error {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if format == "" {
		return fmt.Errorf("figure: %s has no extension to choose the format (.png, .svg, .pdf)", path)
	}
	c, err := draw.NewFormattedCanvas(w, h, format)
	if err != nil {
		return fmt.Errorf("figure: rendering %s: %w", path, err)
	}
	Draw(p, draw.New(c))
	return atomicfile.WriteFile(path, func(f io.Writer) error {
		_, err := c.WriteTo(f)
		return err
	})
}
