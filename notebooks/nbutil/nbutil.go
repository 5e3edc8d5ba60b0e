// Package nbutil holds small helpers for lqf notebooks run with the GoNB
// kernel: quick-mode detection and rendering of tables and plots.
//
// It holds none of the paper's equations: the notebooks it serves show
// lqf's linearization, curvature, attribution and its reproductions of the
// paper's figures and tables.
package nbutil

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"os"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/lqf-go/lqf/figure"
)

// Quick reports whether notebooks should run in quick mode (small data, few
// steps), as requested by LQF_QUICK=1 or LQF_QUICK=true. notebooks/run sets it
// in CI; unset or "0" means full mode.
func Quick() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("LQF_QUICK"))) {
	case "1", "true":
		return true
	}
	return false
}

// TableHTML renders header and rows as an HTML table, escaping every cell.
func TableHTML(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table>\n")
	writeRow := func(tag string, cells []string) {
		b.WriteString("<tr>")
		for _, c := range cells {
			fmt.Fprintf(&b, "<%s>%s</%s>", tag, html.EscapeString(c), tag)
		}
		b.WriteString("</tr>\n")
	}
	if len(header) > 0 {
		writeRow("th", header)
	}
	for _, r := range rows {
		writeRow("td", r)
	}
	b.WriteString("</table>\n")
	return b.String()
}

// ParagraphHTML renders text as an HTML paragraph led by label in bold,
// both escaped.
func ParagraphHTML(label, text string) string {
	return fmt.Sprintf("<p><b>%s</b> %s</p>\n", html.EscapeString(label), html.EscapeString(text))
}

// DisplayParagraph shows text led by label in bold, e.g. a finding or a
// verdict, as a paragraph that wraps with the notebook's width.
func DisplayParagraph(label, text string) {
	gonbui.DisplayHTML(ParagraphHTML(label, text))
}

// DisplayTable shows header and rows as an HTML table in the notebook.
func DisplayTable(header []string, rows [][]string) {
	gonbui.DisplayHTML(TableHTML(header, rows))
}

// DisplayPlot renders p as a w x h PNG, laid out as figure.Draw lays it out
// (the title clear of the edge, the legend outside the data), and shows it
// in the notebook.
func DisplayPlot(p *plot.Plot, w, h vg.Length) error {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseBackgroundColor(color.White))
	figure.Draw(p, draw.New(c))
	return DisplayCanvas(c)
}

// DisplayPanels shows plots side by side, cols per row, each panel w x h,
// with one legend outside them (figure.Panels).
func DisplayPanels(plots []*plot.Plot, cols int, w, h vg.Length) error {
	return DisplayCanvas(figure.Panels(plots, cols, w, h))
}

// DisplayCanvas shows a drawn image canvas (for example several plots tiled
// with plot.Align) as a PNG.
func DisplayCanvas(c *vgimg.Canvas) error {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return fmt.Errorf("nbutil: encoding canvas: %w", err)
	}
	gonbui.DisplayPNG(buf.Bytes())
	return nil
}

// DisplayPNGFile shows a PNG file written by lqf (a figure of `lqf
// reproduce`, an image grid).
func DisplayPNGFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("nbutil: %w", err)
	}
	gonbui.DisplayPNG(b)
	return nil
}
