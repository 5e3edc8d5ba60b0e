package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// Residuals returns R = alpha Y - f0 [N, C] (row-major), the targets of the
// linear part of LQF, from the outputs f0 at dw = 0 and labels.
func Residuals(f0 []float32, labels []int32, classes int, alpha float64) []float64 {
	r := make([]float64, len(labels)*classes)
	for i, l := range labels {
		for c := range classes {
			y := 0.0
			if int(l) == c {
				y = alpha
			}
			r[i*classes+c] = y - float64(f0[i*classes+c])
		}
	}
	return r
}

// RidgeTerm is rho = lambda N / 2, the ridge added to J^T J (or to the
// kernel J J^T) for weight decay lambda and n = N training samples under
// lqf's convention: the objective is a mean over the N samples plus
// lambda/2 ||dw||^2 (Objective), so eq. 4's ridge is lambda N / 2 (with
// the sum of eq. 3 it would be lambda / 2).
func RidgeTerm(lambda float64, n int) float64 { return lambda * float64(n) / 2 }

// SolveLinearHead returns the LQF-FC optimum for fixed features: the head
// displacement (dW [F, C], db [C], row-major) minimizing
// (1/N) sum_i ||f0_i + h_i dW + db - alpha y_i||^2 + lambda/2 (||dW||^2 + ||db||^2),
// in primal form: with Phi = [H, 1] (N x (F+1)) and R = alpha Y - F0,
// (Phi^T Phi + (lambda N / 2) I) [dW; db] = Phi^T R, solved by Cholesky in
// float64; the C classes share the factorization.
//
// features is [N, F], f0 is [N, C] (the outputs at dw = 0), labels in [0, C).
func SolveLinearHead(features []float32, f0 []float32, labels []int32, numFeatures, numClasses int, alpha, lambda float64) (dW, db []float64, err error) {
	n := len(labels)
	if n == 0 || len(features) != n*numFeatures || len(f0) != n*numClasses {
		return nil, nil, fmt.Errorf("SolveLinearHead: %d labels, %d feature values (want %d), %d outputs (want %d)",
			n, len(features), n*numFeatures, len(f0), n*numClasses)
	}
	if lambda <= 0 {
		return nil, nil, fmt.Errorf("SolveLinearHead: lambda %g must be > 0 (the problem must be strictly convex)", lambda)
	}
	d := numFeatures + 1
	phi := mat.NewDense(n, d, nil)
	r := mat.NewDense(n, numClasses, Residuals(f0, labels, numClasses, alpha))
	for i := range n {
		for j := range numFeatures {
			phi.Set(i, j, float64(features[i*numFeatures+j]))
		}
		phi.Set(i, numFeatures, 1)
	}
	gram := mat.NewSymDense(d, nil)
	gram.SymOuterK(1, phi.T())
	ridge := RidgeTerm(lambda, n)
	for j := range d {
		gram.SetSym(j, j, gram.At(j, j)+ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(gram) {
		return nil, nil, fmt.Errorf("SolveLinearHead: the regularized Gram matrix is not positive definite")
	}
	var rhs, sol mat.Dense
	rhs.Mul(phi.T(), r)
	if err := chol.SolveTo(&sol, &rhs); err != nil {
		return nil, nil, err
	}
	dW = make([]float64, numFeatures*numClasses)
	db = make([]float64, numClasses)
	for c := range numClasses {
		for j := range numFeatures {
			dW[j*numClasses+c] = sol.At(j, c)
		}
		db[c] = sol.At(numFeatures, c)
	}
	return dW, db, nil
}

// Objective is LQF's objective (eq. 3 in lqf's mean form) at dw from the
// Jacobian rows J [N*C, p] and residuals R = alpha Y - f0:
// (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2.
func Objective(J []float32, p int, residual, dw []float64, lambda float64, n int) float64 {
	return ObjectiveGradient(J, p, residual, dw, lambda, n, nil)
}

// ObjectiveGradient returns Objective and, if grad is not nil (len p),
// stores its gradient (2/N) J^T (J dw - R) + lambda dw there.
func ObjectiveGradient(J []float32, p int, residual, dw []float64, lambda float64, n int, grad []float64) float64 {
	data, sq := 0.0, 0.0
	var e []float64
	if grad != nil {
		e = make([]float64, len(residual))
	}
	for r := range len(residual) {
		d := -residual[r]
		for k, v := range J[r*p : (r+1)*p] {
			d += float64(v) * dw[k]
		}
		if e != nil {
			e[r] = d
		}
		data += d * d
	}
	for k, v := range dw {
		sq += v * v
		if grad != nil {
			grad[k] = lambda * v
		}
	}
	for r, d := range e {
		c := 2 / float64(n) * d
		for k, v := range J[r*p : (r+1)*p] {
			grad[k] += c * float64(v)
		}
	}
	return data/float64(n) + lambda/2*sq
}
