package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"
)

// TestMeanStdIsGonums: MeanStd is stat.MeanStdDev (the unbiased, n - 1,
// standard deviation), with 0 instead of gonum's NaN for a single value.
func TestMeanStdIsGonums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 1000 {
		x := make([]float64, 2+trial%20)
		for i := range x {
			x[i] = r.Float64()
		}
		m, s := MeanStd(x)
		gm, gs := stat.MeanStdDev(x, nil)
		if m != gm || s != gs {
			t.Fatalf("%v: MeanStd (%v, %v), stat.MeanStdDev (%v, %v)", x, m, s, gm, gs)
		}
	}
	// Two values: std |a - b| / sqrt(2).
	if m, s := MeanStd([]float64{1, 3}); m != 2 || math.Abs(s-math.Sqrt2) > 1e-15 {
		t.Errorf("two values: (%v, %v), want (2, sqrt 2)", m, s)
	}
	if m, s := MeanStd([]float64{0.25}); m != 0.25 || s != 0 {
		t.Errorf("one value: (%v, %v), want (0.25, 0)", m, s)
	}
	if m, s := MeanStd(nil); !math.IsNaN(m) || s != 0 {
		t.Errorf("no value: (%v, %v), want (NaN, 0)", m, s)
	}
}
