package figure

import (
	"fmt"
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

// TestNiceTicks: 4 to 7 labels at round steps, written with the step's
// decimals.
func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []string
	}{
		{0.02, 0.67, []string{"0.1", "0.2", "0.3", "0.4", "0.5", "0.6"}},
		{0, 5.3, []string{"0", "1", "2", "3", "4", "5"}},
		{0.0675, 0.1525, []string{"0.08", "0.10", "0.12", "0.14"}},
		{50, 250, []string{"50", "100", "150", "200", "250"}},
		{-1, 1, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}},
	} {
		var got []string
		for _, tk := range (NiceTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Label)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("[%g, %g]: ticks %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}

// TestLog10Ticks: powers of ten labelled in their shortest form, without
// floating-point noise; the multiples 2 and 5 too in a range holding
// fewer than two powers of ten.
func TestLog10Ticks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   []string
	}{
		{1e-6, 2.5, []string{"1e-06", "1e-05", "0.0001", "0.001", "0.01", "0.1", "1"}},
		{0.05, 400, []string{"0.1", "1", "10", "100"}},
		{3, 40, []string{"5", "10", "20"}},
	} {
		var got []string
		minor := 0
		for _, tk := range (Log10Ticks{}).Ticks(c.lo, c.hi) {
			if tk.Value < c.lo || tk.Value > c.hi {
				t.Errorf("[%g, %g]: tick %g outside", c.lo, c.hi, tk.Value)
			}
			if tk.Label == "" {
				minor++
			} else {
				got = append(got, tk.Label)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || minor == 0 {
			t.Errorf("[%g, %g]: labels %q and %d minor ticks, want %q and some", c.lo, c.hi, got, minor, c.want)
		}
	}
}
