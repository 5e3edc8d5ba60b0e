package weightdecay

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
)

// Path is LQF's exact solution path over the weight decay lambda in kernel
// form, from one symmetric eigendecomposition of the empirical NTK
// K = J J^T = U diag(s) U^T [N*C, N*C] (float64, linalg.SymEigen).
//
// With the mean-form objective (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2 the
// optimum is dw*(lambda) = J^T a(lambda) with coefficients
//
//	a(lambda) = (K + rho I)^-1 R = U diag(1/(s + rho)) U^T R,   rho = lambda N / 2,
//
// so every lambda costs O((N*C)^2) for the coefficients, O(N*C) for GCV and
// O(T*C * N*C) for predictions on T prepared samples (Path.On), against
// O((N*C)^3) for a fresh factorization. A Path holds U: 8 (N*C)^2 bytes.
type Path struct {
	n, c, rows int
	s          []float64  // eigenvalues of K, ascending
	u          *mat.Dense // eigenvectors (columns) [rows, rows]
	ur         []float64  // U^T R
}

// NewPath eigendecomposes the kernel k [N*C, N*C] (symmetric positive
// semi-definite, e.g. linalg.Gram) for the residuals r = alpha Y - f0 [N*C]
// of n training samples (so C = N*C / n outputs per sample).
func NewPath(k *mat.SymDense, r []float64, n int) (*Path, error) {
	if k == nil {
		return nil, errors.New("weightdecay: nil kernel")
	}
	rows := k.SymmetricDim()
	switch {
	case rows == 0:
		return nil, errors.New("weightdecay: empty kernel")
	case n < 1 || rows%n != 0:
		return nil, fmt.Errorf("weightdecay: %d kernel rows are not a multiple of n = %d samples", rows, n)
	case len(r) != rows:
		return nil, fmt.Errorf("weightdecay: %d residuals for a %d x %d kernel", len(r), rows, rows)
	}
	if err := finite("residuals", r); err != nil {
		return nil, err
	}
	for i := range rows {
		for j := i; j < rows; j++ {
			if v := k.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("weightdecay: kernel entry (%d, %d) is %g", i, j, v)
			}
		}
	}
	u, s, err := linalg.SymEigen(k)
	if err != nil {
		return nil, fmt.Errorf("weightdecay: kernel: %w", err)
	}
	p := &Path{n: n, c: rows / n, rows: rows, s: s, u: u}
	var ur mat.VecDense
	ur.MulVec(p.u.T(), mat.NewVecDense(rows, append([]float64(nil), r...)))
	p.ur = ur.RawVector().Data
	return p, nil
}

// N returns the number of training samples.
func (p *Path) N() int { return p.n }

// Classes returns the number C of outputs per sample.
func (p *Path) Classes() int { return p.c }

// Eigenvalues returns the eigenvalues s of K in ascending order (a copy).
func (p *Path) Eigenvalues() []float64 { return append([]float64(nil), p.s...) }

// Ridge returns rho = lambda N / 2, the ridge that weight decay lambda adds
// to K (linalg.RidgeTerm).
func (p *Path) Ridge(lambda float64) float64 { return lambda * float64(p.n) / 2 }

// ridge checks lambda and returns rho, with K + rho I positive definite.
func (p *Path) ridge(lambda float64) (float64, error) {
	if !(lambda > 0) || math.IsInf(lambda, 0) {
		return 0, fmt.Errorf("weightdecay: lambda %g must be positive and finite", lambda)
	}
	rho := p.Ridge(lambda)
	// The eigenvalues of K carry round-off of about rows * eps * s_max, so
	// below that K + rho I is not positive definite to working precision,
	// whatever sign the solver gave the smallest one.
	floor := float64(p.rows) * 0x1p-52 * math.Abs(p.s[len(p.s)-1])
	if !(p.s[0]+rho > floor) {
		return 0, fmt.Errorf("weightdecay: K + rho I is not positive definite to working precision at lambda %g (smallest eigenvalue of K %g, rho %g, round-off %g): use a larger lambda", lambda, p.s[0], rho, floor)
	}
	return rho, nil
}

// spectral returns w_j = (U^T R)_j / (s_j + rho)^power for power 1 or 2,
// scaled by scale.
func (p *Path) spectral(rho float64, power int, scale float64) []float64 {
	w := make([]float64, p.rows)
	for j, s := range p.s {
		d := 1 / (s + rho)
		if power == 2 {
			d *= d
		}
		w[j] = scale * p.ur[j] * d
	}
	return w
}

// Coefficients returns a(lambda) = (K + rho I)^-1 R [N*C], rho = lambda N / 2.
func (p *Path) Coefficients(lambda float64) ([]float64, error) {
	rho, err := p.ridge(lambda)
	if err != nil {
		return nil, err
	}
	var a mat.VecDense
	a.MulVec(p.u, mat.NewVecDense(p.rows, p.spectral(rho, 1, 1)))
	return a.RawVector().Data, nil
}

// Weights returns the optimum in parameter space, dw*(lambda) = J^T a(lambda)
// [P], from the training Jacobian rows J [N*C, P] (row-major float32, as
// model.Network.JacobianRows returns them).
func (p *Path) Weights(J []float32, numParams int, lambda float64) ([]float64, error) {
	if numParams < 1 || len(J) != p.rows*numParams {
		return nil, fmt.Errorf("weightdecay: %d Jacobian values for %d rows x %d parameters", len(J), p.rows, numParams)
	}
	a, err := p.Coefficients(lambda)
	if err != nil {
		return nil, err
	}
	return transposeTimes(J, p.rows, numParams, a), nil
}

// transposeTimes returns J^T a for J [rows, cols] row-major.
func transposeTimes(J []float32, rows, cols int, a []float64) []float64 {
	out := make([]float64, cols)
	for i := range rows {
		ai := a[i]
		for j, v := range J[i*cols : (i+1)*cols] {
			out[j] += ai * float64(v)
		}
	}
	return out
}

// Cross is a Path prepared on a cross kernel Kx = J_x J^T [T*C, N*C] (for
// example linalg.CrossGram between validation or test and training
// samples): it stores Kx U, so that the predictions of the linear part,
// Kx a(lambda) = (Kx U) diag(1/(s + rho)) U^T R, cost O(T*C * N*C) per
// lambda.
type Cross struct {
	path *Path
	rows int
	kxu  *mat.Dense // Kx U [rows, N*C]
}

// On prepares the path on the cross kernel kx [T*C, N*C].
func (p *Path) On(kx mat.Matrix) (*Cross, error) {
	if kx == nil {
		return nil, errors.New("weightdecay: nil cross kernel")
	}
	rows, cols := kx.Dims()
	if cols != p.rows || rows == 0 {
		return nil, fmt.Errorf("weightdecay: cross kernel is %d x %d, want T*C x %d", rows, cols, p.rows)
	}
	for i := range rows {
		for j := range cols {
			if v := kx.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("weightdecay: cross kernel entry (%d, %d) is %g", i, j, v)
			}
		}
	}
	c := &Cross{path: p, rows: rows, kxu: new(mat.Dense)}
	c.kxu.Mul(kx, p.u)
	return c, nil
}

// Predict returns the linear part Kx a(lambda) [T*C] of the outputs: the
// predictions are f0(x) + Kx a(lambda).
func (c *Cross) Predict(lambda float64) ([]float64, error) {
	rho, err := c.path.ridge(lambda)
	if err != nil {
		return nil, err
	}
	return c.apply(c.path.spectral(rho, 1, 1)), nil
}

// apply returns (Kx U) w.
func (c *Cross) apply(w []float64) []float64 {
	var out mat.VecDense
	out.MulVec(c.kxu, mat.NewVecDense(len(w), w))
	return out.RawVector().Data
}

func finite(what string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("weightdecay: %s[%d] is %g", what, i, v)
		}
	}
	return nil
}
