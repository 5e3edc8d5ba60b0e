package figure

import (
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
)

// TestAxesAndPanels: Headroom stretches the y axis by its factor, IntTicks
// labels the given integers, SavePanels writes a PNG with an empty panel.
func TestAxesAndPanels(t *testing.T) {
	p, err := Lines([]Series{{Name: "a", X: []float64{1, 10}, Y: []float64{0.2, 0.4}}}, LineOptions{LogX: true})
	if err != nil {
		t.Fatal(err)
	}
	p.Y.Min, p.Y.Max = 0, 1
	Headroom(p, 1.5)
	if p.Y.Max != 1.5 {
		t.Errorf("Headroom: y max %g, want 1.5", p.Y.Max)
	}
	ticks := IntTicks([]int{2, 10})
	if len(ticks) != 2 || ticks[1].Value != 10 || ticks[1].Label != "10" {
		t.Errorf("IntTicks: %v", ticks)
	}
	path := filepath.Join(t.TempDir(), "panels.png")
	if err := SavePanels([]*plot.Plot{p, plot.New(), p}, 2, 100, 80, path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("SavePanels wrote nothing: %v", err)
	}
}
