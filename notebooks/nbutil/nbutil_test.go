package nbutil

import (
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func TestQuick(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "true": true, "TRUE": true, "no": false} {
		t.Setenv("LQF_QUICK", v)
		if got := Quick(); got != want {
			t.Errorf("LQF_QUICK=%q: Quick() = %v, want %v", v, got, want)
		}
	}
}

func TestParagraphHTML(t *testing.T) {
	if got, want := ParagraphHTML("verdict:", "a < b & c"), "<p><b>verdict:</b> a &lt; b &amp; c</p>\n"; got != want {
		t.Errorf("ParagraphHTML = %q, want %q", got, want)
	}
}

func TestTableHTMLEscapes(t *testing.T) {
	got := TableHTML([]string{"a<b", "x"}, [][]string{{`"q"&`, "<script>"}})
	for _, want := range []string{"<th>a&lt;b</th>", "<td>&#34;q&#34;&amp;</td>", "<td>&lt;script&gt;</td>"} {
		if !strings.Contains(got, want) {
			t.Errorf("TableHTML output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<script>") {
		t.Errorf("TableHTML did not escape <script>:\n%s", got)
	}
	if n := strings.Count(got, "<tr>"); n != 2 {
		t.Errorf("got %d rows, want 2:\n%s", n, got)
	}
}

// DisplayPlot outside a GoNB kernel must still render without error
// (gonbui's display calls are no-ops there).
func TestDisplayPlot(t *testing.T) {
	p := plot.New()
	line, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		t.Fatal(err)
	}
	p.Add(line)
	if err := DisplayPlot(p, 2*vg.Inch, 2*vg.Inch); err != nil {
		t.Fatal(err)
	}
}

func TestDisplayCanvas(t *testing.T) {
	p := plot.New()
	p.Title.Text = "x"
	c := vgimg.New(2*vg.Inch, 2*vg.Inch)
	p.Draw(draw.New(c))
	if err := DisplayCanvas(c); err != nil {
		t.Fatal(err)
	}
}
