package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// CGOptions are CG's optional settings; the zero value starts at x = 0.
type CGOptions struct {
	// X0 is the starting point (copied, len(b)); nil starts at zero
	// without spending a product on the first residual.
	X0 []float64
	// Confirm recomputes the residual b - A x (one more product) when the
	// recurrence reaches the tolerance, since the recurrence drifts from
	// the true residual in floating point: CG stops if the recomputed one
	// is within the tolerance too and otherwise restarts from it (a
	// steepest-descent step).
	Confirm bool
	// Progress, when not nil, sees every iterate: it is called with
	// k = 0, 1, ... iterations done, x_k (read only, valid during the call)
	// and the recurrence's relative residual ||r_k|| / ||b||, before the
	// test for convergence; returning true stops CG at x_k.
	Progress func(k int, x []float64, relResidual float64) (stop bool)
}

// CGResult is where CG stopped.
type CGResult struct {
	X []float64
	// Iterations counts the iterations, one product of A each (the
	// products for X0 and Confirm come on top).
	Iterations int
	// RelResidual is ||b - A x|| / ||b|| by the recurrence (recomputed
	// when Confirm stopped CG).
	RelResidual float64
	// Converged says whether RelResidual <= tol.
	Converged bool
}

// CG solves A x = b by conjugate gradients (Hestenes and Stiefel), for a
// symmetric positive definite A given as apply(v, out), which stores A v in
// out (len(b) each; it must not keep v or out), until
// ||b - A x|| <= tol ||b|| or maxIter iterations. Running out of iterations
// is no error (CGResult.Converged is false); an error of apply is, and so
// is a search direction p with p^T A p <= 0 or NaN (A is not positive
// definite, or holds NaN). b = 0 gives x = 0 at once.
//
// The vector operations are gonum's pure Go (level 1 BLAS stays gonum's
// even when OpenBLAS is in use): dot products through blas64, updates
// x + s p elementwise.
func CG(apply func(v, out []float64) error, b []float64, tol float64, maxIter int, opts CGOptions) (CGResult, error) {
	n := len(b)
	switch {
	case !(tol >= 0):
		return CGResult{}, fmt.Errorf("linalg: CG tolerance %g must be >= 0", tol)
	case maxIter < 0:
		return CGResult{}, fmt.Errorf("linalg: CG needs maxIter >= 0, not %d", maxIter)
	case opts.X0 != nil && len(opts.X0) != n:
		return CGResult{}, fmt.Errorf("linalg: CG start of %d values for %d equations", len(opts.X0), n)
	}
	bnorm := math.Sqrt(sumSquares(b))
	if bnorm == 0 {
		return CGResult{X: make([]float64, n), Converged: true}, nil
	}
	x, r := make([]float64, n), make([]float64, n)
	// residual stores b - A x in r.
	residual := func() error {
		if err := apply(x, r); err != nil {
			return err
		}
		for i := range r {
			r[i] = b[i] - r[i]
		}
		return nil
	}
	if opts.X0 == nil {
		copy(r, b)
	} else {
		copy(x, opts.X0)
		if err := residual(); err != nil {
			return CGResult{}, err
		}
	}
	dir, q := append([]float64(nil), r...), make([]float64, n)
	xv, rv, dv, qv := mat.NewVecDense(n, x), mat.NewVecDense(n, r), mat.NewVecDense(n, dir), mat.NewVecDense(n, q)
	rr := dot(r, r)
	result := func(it int, rel float64) CGResult {
		return CGResult{X: x, Iterations: it, RelResidual: rel, Converged: rel <= tol}
	}
	for it := 0; ; it++ {
		if opts.Progress != nil && opts.Progress(it, x, math.Sqrt(rr)/bnorm) {
			return result(it, math.Sqrt(rr)/bnorm), nil
		}
		if math.Sqrt(rr) <= tol*bnorm {
			if !opts.Confirm {
				return result(it, math.Sqrt(rr)/bnorm), nil
			}
			if err := residual(); err != nil {
				return CGResult{}, err
			}
			rr = dot(r, r)
			if rel := math.Sqrt(rr) / bnorm; rel <= tol {
				return result(it, rel), nil
			}
			copy(dir, r)
		}
		if it == maxIter {
			return result(it, math.Sqrt(rr)/bnorm), nil
		}
		if err := apply(dir, q); err != nil {
			return CGResult{}, err
		}
		pq := dot(dir, q)
		if !(pq > 0) {
			return CGResult{}, fmt.Errorf("linalg: CG iteration %d: p^T A p = %g, the operator is not positive definite", it+1, pq)
		}
		step := rr / pq
		xv.AddScaledVec(xv, step, dv)
		rv.AddScaledVec(rv, -step, qv)
		rrNew := dot(r, r)
		dv.AddScaledVec(rv, rrNew/rr, dv)
		rr = rrNew
	}
}

// ShiftedOperator returns the operator v -> (K + rho I) v of the kernel
// system (K + rho I) a = R, for CG.
func ShiftedOperator(k *mat.SymDense, rho float64) func(v, out []float64) error {
	n := k.SymmetricDim()
	return func(v, out []float64) error {
		vv, o := mat.NewVecDense(n, v), mat.NewVecDense(n, out)
		o.MulVec(k, vv)
		o.AddScaledVec(o, rho, vv)
		return nil
	}
}

// dot is the BLAS dot product of two vectors of equal length.
func dot(a, b []float64) float64 {
	return blas64.Dot(blas64.Vector{N: len(a), Inc: 1, Data: a}, blas64.Vector{N: len(b), Inc: 1, Data: b})
}

// sumSquares is sum_i x_i^2, summed in order.
func sumSquares(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return s
}
