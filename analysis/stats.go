package analysis

import (
	"fmt"
	"math"
	"sort"
)

// MeanStd returns the mean and the sample standard deviation of x over
// seeds, sqrt(sum_i (x_i - mean)^2 / (n - 1)), the root of the unbiased
// variance (0 for fewer than 2 values, where it is undefined). It is
// stat.MeanStdDev up to rounding, summed left to right: gonum's vectorized
// sum and compensated variance change the last bits of about one result in
// ten, and the reproduced numbers (lqf reproduce) must not move.
func MeanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
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
