package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGramAgainstSums compares Gram and CrossGram with float64 sums written
// out, on sizes that leave partial column blocks and row tiles.
func TestGramAgainstSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ra, rb, p := gramRows+77, 130, gramColumns+301
	ja, jb := make([]float32, ra*p), make([]float32, rb*p)
	for i := range ja {
		ja[i] = float32(rng.NormFloat64())
	}
	for i := range jb {
		jb[i] = float32(rng.NormFloat64())
	}
	dot := func(x, y []float32) float64 {
		s := 0.0
		for i := range x {
			s += float64(x[i]) * float64(y[i])
		}
		return s
	}
	k := Gram(ja, ra, p)
	x := CrossGram(ja, ra, jb, rb, p)
	worst := 0.0
	for i := range ra {
		for j := range ra {
			want := dot(ja[i*p:(i+1)*p], ja[j*p:(j+1)*p])
			worst = math.Max(worst, math.Abs(k.At(i, j)-want)/math.Sqrt(float64(p)))
		}
		for j := range rb {
			want := dot(ja[i*p:(i+1)*p], jb[j*p:(j+1)*p])
			worst = math.Max(worst, math.Abs(x.At(i, j)-want)/math.Sqrt(float64(p)))
		}
	}
	// Entries are sums of p products of size ~1 (diagonal ~p): float64
	// rounding of a reordered sum, far below float32's 6e-8.
	if worst > 1e-12 {
		t.Errorf("Gram/CrossGram differ from the sums by %.3g (in units of sqrt(p))", worst)
	}
}
