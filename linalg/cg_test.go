package linalg

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// kernelSystem returns a Gram matrix K = X X^T of rank 8 [n x n] and a
// right-hand side: K + rho I is positive definite and, for small rho,
// ill-conditioned, like LQF's kernel systems.
func kernelSystem(n int, seed uint64) (*mat.SymDense, []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	x := mat.NewDense(n, 8, nil)
	for i := range n {
		for j := range 8 {
			x.Set(i, j, rng.NormFloat64())
		}
	}
	k := mat.NewSymDense(n, nil)
	k.SymOuterK(1, x)
	b := make([]float64, n)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	return k, b
}

// trueRelResidual is ||b - (K + rho I) x|| / ||b||.
func trueRelResidual(k *mat.SymDense, rho float64, x, b []float64) float64 {
	ax := make([]float64, len(b))
	if err := ShiftedOperator(k, rho)(x, ax); err != nil {
		panic(err)
	}
	return RelDistance(ax, b)
}

// TestCG: CG reaches the Cholesky solution of (K + rho I) a = b, cold and
// from a start; Confirm stops on the recomputed residual; started at the
// solution it needs no iteration; Progress sees every iterate and can stop
// it; running out of iterations is no error.
func TestCG(t *testing.T) {
	const n, rho, tol = 40, 0.5, 1e-10
	k, b := kernelSystem(n, 1)
	chol, err := ShiftedCholesky(k, rho)
	if err != nil {
		t.Fatal(err)
	}
	var want mat.VecDense
	if err := chol.SolveVecTo(&want, mat.NewVecDense(n, append([]float64(nil), b...))); err != nil {
		t.Fatal(err)
	}
	apply := ShiftedOperator(k, rho)
	start := make([]float64, n)
	for i := range start {
		start[i] = float64(i%3) - 1
	}
	for name, opts := range map[string]CGOptions{"cold": {}, "warm": {X0: start}, "confirm": {X0: start, Confirm: true}} {
		t.Run(name, func(t *testing.T) {
			var seen []int
			opts.Progress = func(k int, x []float64, rel float64) bool {
				seen = append(seen, k)
				return false
			}
			res, err := CG(apply, b, tol, 10*n, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Converged || !(res.RelResidual <= tol) || res.Iterations > 12 {
				t.Errorf("converged %v at relative residual %.3g after %d iterations (9 distinct eigenvalues: want about 9)", res.Converged, res.RelResidual, res.Iterations)
			}
			if len(seen) != res.Iterations+1 || seen[len(seen)-1] != res.Iterations {
				t.Errorf("Progress saw iterates %v, want 0 to %d", seen, res.Iterations)
			}
			if e := MaxRelError(res.X, want.RawVector().Data); !(e <= 1e-8) {
				t.Errorf("solution differs from Cholesky's by %.3g (relative)", e)
			}
			if rel := trueRelResidual(k, rho, res.X, b); opts.Confirm && !(rel <= tol) {
				t.Errorf("Confirm: recomputed relative residual %.3g > %g", rel, tol)
			}
			if name == "warm" && start[0] != -1 {
				t.Error("CG modified X0")
			}
		})
	}
	res, err := CG(apply, b, tol, 10, CGOptions{X0: want.RawVector().Data})
	if err != nil || res.Iterations != 0 || !res.Converged {
		t.Errorf("started at the solution: %d iterations, converged %v, error %v", res.Iterations, res.Converged, err)
	}
	res, err = CG(apply, b, tol, 3, CGOptions{})
	if err != nil || res.Iterations != 3 || res.Converged || !(res.RelResidual > tol) {
		t.Errorf("3 iterations: %d, converged %v at %.3g, error %v", res.Iterations, res.Converged, res.RelResidual, err)
	}
	res, err = CG(apply, b, tol, 100, CGOptions{Progress: func(k int, _ []float64, _ float64) bool { return k == 2 }})
	if err != nil || res.Iterations != 2 || res.Converged {
		t.Errorf("stopped by Progress at 2: %d iterations, converged %v, error %v", res.Iterations, res.Converged, err)
	}
	res, err = CG(apply, make([]float64, n), tol, 100, CGOptions{X0: start})
	if err != nil || !res.Converged || MaxRelError(res.X, make([]float64, n)) != 0 {
		t.Errorf("b = 0: x %v, converged %v, error %v", res.X, res.Converged, err)
	}
}

// TestCGErrors: an indefinite operator, NaN, an error of apply and bad
// arguments are errors, never panics.
func TestCGErrors(t *testing.T) {
	neg := func(v, out []float64) error {
		for i := range v {
			out[i] = -v[i]
		}
		return nil
	}
	nan := func(v, out []float64) error {
		for i := range v {
			out[i] = math.NaN()
		}
		return nil
	}
	failing := func(v, out []float64) error { return errors.New("sentinel") }
	b := []float64{1, 2}
	for _, c := range []struct {
		name  string
		apply func(v, out []float64) error
		tol   float64
		iter  int
		x0    []float64
		want  string
	}{
		{"indefinite", neg, 1e-8, 10, nil, "not positive definite"},
		{"NaN", nan, 1e-8, 10, nil, "not positive definite"},
		{"apply", failing, 1e-8, 10, nil, "sentinel"},
		{"apply at X0", failing, 1e-8, 10, []float64{1, 1}, "sentinel"},
		{"tolerance", neg, math.NaN(), 10, nil, "tolerance"},
		{"maxIter", neg, 1e-8, -1, nil, "maxIter"},
		{"X0", neg, 1e-8, 10, []float64{1}, "start"},
	} {
		if _, err := CG(c.apply, b, c.tol, c.iter, CGOptions{X0: c.x0}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
