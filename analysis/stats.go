package analysis

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat"
)

// MeanStd returns the mean and the sample standard deviation of x over
// seeds, stat.MeanStdDev's sqrt(sum_i (x_i - mean)^2 / (n - 1)), the root
// of the unbiased variance; with 0 for a single value, where gonum gives
// NaN (0/0).
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

// overSeeds says, in a figure's title, what its points and error bars
// are: "mean ± std over 3 seeds", or "1 seed" where there is no spread.
func overSeeds(n int) string {
	if n == 1 {
		return "1 seed"
	}
	return "mean ± std over " + plural(n, "seed")
}

// meanOverSeeds is overSeeds for a figure without error bars: "mean of 3
// seeds", or "1 seed".
func meanOverSeeds(n int) string {
	if n == 1 {
		return "1 seed"
	}
	return "mean of " + plural(n, "seed")
}
