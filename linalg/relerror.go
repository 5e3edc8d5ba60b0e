package linalg

import (
	"fmt"
	"math"
)

// Relative errors of got against the reference want share one rule for
// zeros and NaN: a NaN anywhere (in got, in want, or a difference such as
// Inf - Inf) gives NaN, so that a check "e > tol || math.IsNaN(e)" fails;
// when want is all zero the error is the absolute one (0 when got is zero
// too) rather than a division by zero. got and want must have the same
// length.

// MaxRelError is max_i |got_i - want_i| / max_i |want_i|: the largest
// error relative to the largest reference value (the rule for zeros and NaN
// is above).
func MaxRelError(got, want []float64) float64 {
	checkLengths("MaxRelError", got, want)
	var num, den float64
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(d) {
			return math.NaN()
		}
		num = math.Max(num, d)
		den = math.Max(den, math.Abs(want[i]))
	}
	if den == 0 {
		return num
	}
	return num / den
}

// RelDistance is ||got - want|| / ||want|| in the Euclidean norm (the rule
// for zeros and NaN is above).
func RelDistance(got, want []float64) float64 {
	checkLengths("RelDistance", got, want)
	var num, den float64
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func checkLengths(name string, got, want []float64) {
	if len(got) != len(want) {
		panic(fmt.Sprintf("linalg: %s of %d values against %d", name, len(got), len(want)))
	}
}
