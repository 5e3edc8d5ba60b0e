package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat"
)

// TestMeanStdIsGonums: MeanStd is stat.MeanStdDev (the unbiased, n - 1,
// standard deviation) up to rounding, with 0 for a single value.
func TestMeanStdIsGonums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 1000 {
		x := make([]float64, 2+trial%20)
		for i := range x {
			x[i] = r.Float64()
		}
		m, s := MeanStd(x)
		gm, gs := stat.MeanStdDev(x, nil)
		if math.Abs(m-gm) > 1e-14 || math.Abs(s-gs) > 1e-12*gs {
			t.Fatalf("%v: MeanStd (%v, %v), stat.MeanStdDev (%v, %v)", x, m, s, gm, gs)
		}
	}
	if m, s := MeanStd([]float64{0.25}); m != 0.25 || s != 0 {
		t.Errorf("one value: (%v, %v), want (0.25, 0)", m, s)
	}
}
