package kfac

import (
	"errors"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Spectrum is the result of Lanczos on a symmetric operator: Ritz values
// (ascending) and their quadrature weights (stochastic Lanczos quadrature:
// the squared first components of T's eigenvectors), which estimate the
// eigenvalue density for histograms; Min and Max approximate the extreme
// eigenvalues.
type Spectrum struct {
	Values  []float64 `json:"ritz_values"`
	Weights []float64 `json:"weights"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
}

// Kappa is the condition number Max/Min.
func (s *Spectrum) Kappa() float64 { return s.Max / s.Min }

// Lanczos runs k steps of the Lanczos iteration with full
// reorthogonalization on the symmetric operator apply (dimension dim),
// from a random start drawn with seed.
func Lanczos(apply func(v []float64) ([]float64, error), dim, k int, seed uint64) (*Spectrum, error) {
	if dim < 1 || k < 1 {
		return nil, errors.New("lanczos: dimension and steps must be positive")
	}
	k = min(k, dim)
	rng := rand.New(rand.NewPCG(seed, 0x6c616e63))
	q := make([]float64, dim)
	for i := range q {
		q[i] = rng.NormFloat64()
	}
	scale(q, 1/norm(q))
	var basis [][]float64
	var alpha, beta []float64
	for j := 0; j < k; j++ {
		basis = append(basis, q)
		w, err := apply(q)
		if err != nil {
			return nil, err
		}
		a := dot(w, q)
		alpha = append(alpha, a)
		// Full reorthogonalization (twice) keeps the Ritz values clean.
		for range 2 {
			for _, b := range basis {
				c := dot(w, b)
				for i := range w {
					w[i] -= c * b[i]
				}
			}
		}
		bnorm := norm(w)
		if j == k-1 || bnorm < 1e-12*math.Abs(a) {
			break
		}
		beta = append(beta, bnorm)
		q = append([]float64(nil), w...)
		scale(q, 1/bnorm)
	}
	m := len(alpha)
	t := mat.NewSymDense(m, nil)
	for i := range m {
		t.SetSym(i, i, alpha[i])
		if i+1 < m {
			t.SetSym(i, i+1, beta[i])
		}
	}
	var e mat.EigenSym
	if !e.Factorize(t, true) {
		return nil, errors.New("lanczos: tridiagonal eigendecomposition failed")
	}
	var vecs mat.Dense
	e.VectorsTo(&vecs)
	s := &Spectrum{Values: e.Values(nil)}
	for i := range m {
		s.Weights = append(s.Weights, vecs.At(0, i)*vecs.At(0, i))
	}
	s.Min, s.Max = s.Values[0], s.Values[m-1]
	return s, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func scale(a []float64, c float64) {
	for i := range a {
		a[i] *= c
	}
}
