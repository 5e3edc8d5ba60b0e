package weightdecay

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
)

// WarmStartResult compares solving LQF at a new weight decay from the
// solution at the old one with solving it from zero (paper Fig. 8).
type WarmStartResult struct {
	Lambda0, Lambda float64
	Tol             float64
	// ItersWarm and ItersCold are the conjugate-gradient iterations to
	// ||R - (K + rho I) a|| <= Tol ||R|| from a(Lambda0) and from 0.
	ItersWarm, ItersCold int
	// Start is a(Lambda0) [N*C]; Warm and Cold are the solutions reached.
	Start, Warm, Cold []float64
	// RelResidualWarm and RelResidualCold are the final
	// ||R - (K + rho I) a|| / ||R||, recomputed from K.
	RelResidualWarm, RelResidualCold float64
}

// WarmStart fine-tunes LQF's solution from weight decay lambda0 to lambda
// by conjugate gradients on the kernel system (K + rho I) a = R,
// rho = lambda n / 2, for the kernel k [N*C, N*C], residuals r [N*C] and n
// training samples: once started at a(lambda0) = (K + rho0 I)^-1 R (a
// Cholesky factorization) and once at zero, each until the relative
// residual is at most tol (at most 10 N*C + 100 iterations, else an
// error). The residual at the warm start is (rho0 - rho) a(lambda0), small
// when lambda0 is close to lambda.
func WarmStart(k *mat.SymDense, r []float64, n int, lambda0, lambda, tol float64) (*WarmStartResult, error) {
	if k == nil {
		return nil, errors.New("weightdecay: nil kernel")
	}
	rows := k.SymmetricDim()
	switch {
	case rows == 0 || len(r) != rows:
		return nil, fmt.Errorf("weightdecay: %d residuals for a %d x %d kernel", len(r), rows, rows)
	case n < 1 || rows%n != 0:
		return nil, fmt.Errorf("weightdecay: %d kernel rows are not a multiple of n = %d samples", rows, n)
	case !(lambda0 > 0) || !(lambda > 0) || math.IsInf(lambda0, 0) || math.IsInf(lambda, 0):
		return nil, fmt.Errorf("weightdecay: lambda0 %g and lambda %g must be positive and finite", lambda0, lambda)
	case !(tol > 0 && tol < 1):
		return nil, fmt.Errorf("weightdecay: tolerance %g must be in (0, 1)", tol)
	}
	if err := finite("residuals", r); err != nil {
		return nil, err
	}
	rnorm := math.Sqrt(sumSquares(r))
	if rnorm == 0 {
		return nil, errors.New("weightdecay: the residuals are all zero")
	}
	chol, err := linalg.ShiftedCholesky(k, linalg.RidgeTerm(lambda0, n))
	if err != nil {
		return nil, err
	}
	var a0 mat.VecDense
	if err := chol.SolveVecTo(&a0, mat.NewVecDense(rows, append([]float64(nil), r...))); err != nil {
		return nil, err
	}
	res := &WarmStartResult{Lambda0: lambda0, Lambda: lambda, Tol: tol, Start: a0.RawVector().Data}
	rho, maxIter := linalg.RidgeTerm(lambda, n), 10*rows+100
	if res.Warm, res.ItersWarm, res.RelResidualWarm, err = conjugateGradient(k, r, rho, res.Start, tol, maxIter); err != nil {
		return nil, fmt.Errorf("weightdecay: warm start: %w", err)
	}
	if res.Cold, res.ItersCold, res.RelResidualCold, err = conjugateGradient(k, r, rho, nil, tol, maxIter); err != nil {
		return nil, fmt.Errorf("weightdecay: cold start: %w", err)
	}
	return res, nil
}

// conjugateGradient solves (K + rho I) x = r from x0 (nil: zero) by
// linalg.CG until ||r - (K + rho I) x|| <= tol ||r||, checked on the
// residual recomputed from K (CGOptions.Confirm), and returns x, the
// iterations and the final relative residual; not converging in maxIter
// iterations is an error.
func conjugateGradient(k *mat.SymDense, r []float64, rho float64, x0 []float64, tol float64, maxIter int) ([]float64, int, float64, error) {
	res, err := linalg.CG(linalg.ShiftedOperator(k, rho), r, tol, maxIter, linalg.CGOptions{X0: x0, Confirm: true})
	switch {
	case err != nil:
		return nil, res.Iterations, 0, err
	case !res.Converged:
		return nil, res.Iterations, 0, fmt.Errorf("conjugate gradients did not reach relative residual %g in %d iterations (at %g)", tol, maxIter, res.RelResidual)
	}
	return res.X, res.Iterations, res.RelResidual, nil
}
