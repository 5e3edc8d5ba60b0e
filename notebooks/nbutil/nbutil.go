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
	"os"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/vgimg"
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

// DisplayTable shows header and rows as an HTML table in the notebook.
func DisplayTable(header []string, rows [][]string) {
	gonbui.DisplayHTML(TableHTML(header, rows))
}

// DisplayPlot renders p as a w x h PNG and shows it in the notebook.
func DisplayPlot(p *plot.Plot, w, h vg.Length) error {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return fmt.Errorf("nbutil: rendering plot: %w", err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("nbutil: encoding plot: %w", err)
	}
	gonbui.DisplayPNG(buf.Bytes())
	return nil
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
