package linalg

import (
	"math"
	"testing"
)

// TestRelErrors pins the rule for zeros and NaN shared by MaxRelError and
// RelDistance.
func TestRelErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name          string
		got, want     []float64
		maxRel, l2Rel float64
	}{
		{"exact", []float64{1, -2}, []float64{1, -2}, 0, 0},
		{"relative", []float64{1, -2.5}, []float64{1, -2}, 0.25, 0.5 / math.Sqrt(5)},
		{"want zero", []float64{0, 3}, []float64{0, 0}, 3, 3},
		{"both zero", []float64{0, 0}, []float64{0, 0}, 0, 0},
		{"empty", nil, nil, 0, 0},
		{"NaN in got", []float64{nan, 1}, []float64{1, 1}, nan, nan},
		{"NaN in want", []float64{1, 1}, []float64{1, nan}, nan, nan},
		{"NaN with zero want", []float64{0, nan}, []float64{0, 0}, nan, nan},
		{"Inf - Inf", []float64{inf}, []float64{inf}, nan, nan},
	} {
		for _, f := range []struct {
			name string
			fn   func(got, want []float64) float64
			want float64
		}{{"MaxRelError", MaxRelError, c.maxRel}, {"RelDistance", RelDistance, c.l2Rel}} {
			got := f.fn(c.got, c.want)
			if math.IsNaN(f.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-f.want) > 1e-15) {
				t.Errorf("%s %s: %g, want %g", f.name, c.name, got, f.want)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MaxRelError of different lengths did not panic")
		}
	}()
	MaxRelError([]float64{1}, []float64{1, 2})
}
