package weightdecay

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Choices of lambda without a validation set. Both scores are in the units
// of the validation loss (1/M) ||J_v dw - R_v||^2: a mean over samples of
// the squared error summed over the C outputs.

// LOOResiduals returns the exact sample-level leave-one-out residuals at
// lambda, e [N*C]: e_I = R_I - K_{I,-I} a^(-i) is sample i's residual
// (its C outputs, rows I = iC..iC+C-1) under the solution trained without
// it at the same rho = lambda N / 2. With A = K + rho I and a = A^-1 R,
//
//	e_I = [(A^-1)_II]^-1 a_I,   (A^-1)_II = U_I diag(1/(s + rho)) U_I^T,
//
// a C x C system per sample, O((N*C)^2 C) in all.
func (p *Path) LOOResiduals(lambda float64) ([]float64, error) {
	rho, err := p.ridge(lambda)
	if err != nil {
		return nil, err
	}
	var a mat.VecDense
	a.MulVec(p.u, mat.NewVecDense(p.rows, p.spectral(rho, 1, 1)))
	// V = U diag(1/sqrt(s + rho)), so that (A^-1)_II = V_I V_I^T.
	v := mat.DenseCopyOf(p.u)
	scale := make([]float64, p.rows)
	for j, s := range p.s {
		scale[j] = 1 / math.Sqrt(s+rho)
	}
	for i := range p.rows {
		row := v.RawRowView(i)
		for j := range row {
			row[j] *= scale[j]
		}
	}
	c := p.c
	e := make([]float64, p.rows)
	block := mat.NewSymDense(c, nil)
	var chol mat.Cholesky
	var ei mat.VecDense
	for i := range p.n {
		vi := v.Slice(i*c, (i+1)*c, 0, p.rows)
		block.SymOuterK(1, vi)
		if !chol.Factorize(block) {
			return nil, fmt.Errorf("weightdecay: the inverse's block of sample %d is not positive definite at lambda %g", i, lambda)
		}
		ai := mat.NewVecDense(c, append([]float64(nil), a.RawVector().Data[i*c:(i+1)*c]...))
		if err := chol.SolveVecTo(&ei, ai); err != nil {
			return nil, fmt.Errorf("weightdecay: sample %d at lambda %g: %w", i, lambda, err)
		}
		copy(e[i*c:], ei.RawVector().Data)
	}
	return e, nil
}

// LOO returns the leave-one-out cross-validation score at lambda,
// (1/N) sum_i ||e_I||^2 with e from LOOResiduals.
func (p *Path) LOO(lambda float64) (float64, error) {
	e, err := p.LOOResiduals(lambda)
	if err != nil {
		return 0, err
	}
	return sumSquares(e) / float64(p.n), nil
}

// GCV returns the generalized cross-validation score at lambda (Golub,
// Heath & Wahba 1979) in mean form,
//
//	GCV(lambda) = (1/N) ||R - K a||^2 / (1 - tr(H) / (N C))^2,   H = K (K + rho I)^-1,
//
// which is C times the classical N C ||R - K a||^2 / (N C - tr(H))^2. From
// the eigendecomposition R - K a = U diag(rho/(s + rho)) U^T R and
// tr(H) = sum_j s_j / (s_j + rho): O(N*C) per lambda.
func (p *Path) GCV(lambda float64) (float64, error) {
	rho, err := p.ridge(lambda)
	if err != nil {
		return 0, err
	}
	var res, tr float64
	for j, s := range p.s {
		d := rho / (s + rho)
		res += d * d * p.ur[j] * p.ur[j]
		tr += s / (s + rho)
	}
	den := 1 - tr/float64(p.rows)
	if !(den > 0) {
		return 0, fmt.Errorf("weightdecay: GCV is undefined at lambda %g: tr(H) = %g of %d rows", lambda, tr, p.rows)
	}
	return res / float64(p.n) / (den * den), nil
}

// ChooseLOO returns the lambda of grid with the smallest leave-one-out
// score (the first on ties) and the score of every grid value.
func (p *Path) ChooseLOO(grid []float64) (best float64, scores []float64, err error) {
	return choose(grid, p.LOO)
}

// ChooseGCV returns the lambda of grid with the smallest GCV score and the
// score of every grid value.
func (p *Path) ChooseGCV(grid []float64) (best float64, scores []float64, err error) {
	return choose(grid, p.GCV)
}

func choose(grid []float64, score func(float64) (float64, error)) (float64, []float64, error) {
	if len(grid) == 0 {
		return 0, nil, errors.New("weightdecay: empty grid of lambdas")
	}
	scores := make([]float64, len(grid))
	best := -1
	for i, l := range grid {
		s, err := score(l)
		if err != nil {
			return 0, nil, err
		}
		scores[i] = s
		if best < 0 || s < scores[best] {
			best = i
		}
	}
	return grid[best], scores, nil
}

// LogGrid returns count lambdas spaced evenly in log from lo to hi
// (inclusive), a grid for the Choose functions.
func LogGrid(lo, hi float64, count int) ([]float64, error) {
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) || count < 1 || (count == 1 && hi != lo) {
		return nil, fmt.Errorf("weightdecay: log grid from %g to %g with %d values: want 0 < lo <= hi and count >= 1 (1 only when lo = hi)", lo, hi, count)
	}
	g := make([]float64, count)
	for i := range g {
		if count == 1 {
			g[i] = lo
			break
		}
		g[i] = math.Exp(math.Log(lo) + float64(i)*(math.Log(hi)-math.Log(lo))/float64(count-1))
	}
	g[count-1] = hi
	return g, nil
}

func sumSquares(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return s
}
