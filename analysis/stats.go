package analysis

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// MeanStd returns the mean and the sample standard deviation of x over
// seeds (stat.MeanStdDev: sqrt(sum_i (x_i - mean)^2 / (n - 1)), the
// unbiased variance's root); the standard deviation is 0 for fewer than 2
// values, where the sample variance is undefined.
func MeanStd(x []float64) (mean, std float64) {
	if len(x) < 2 {
		return stat.Mean(x, nil), 0
	}
	return stat.MeanStdDev(x, nil)
}

// PlusMinus formats mean ± std over seeds (MeanStd).
func PlusMinus(x []float64, format string) string {
	m, s := MeanStd(x)
	if len(x) < 2 {
		return fmt.Sprintf(format, m)
	}
	return fmt.Sprintf(format+" ± "+format, m, s)
}

// median returns the median of x, the mean of the two middle values when
// len(x) is even (NaN for none).
func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	if n := len(y); n%2 == 1 {
		return y[n/2]
	} else {
		return (y[n/2-1] + y[n/2]) / 2
	}
}
