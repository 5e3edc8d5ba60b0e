package influence

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/model"
)

// BlockInfluence predicts leave-one-out with the curvature of LQF's
// objective restricted to blocks: A = blockdiag_b((2/N) J_b^T J_b + lambda I)
// in place of the exact H = (2/N) J^T J + lambda I: what K-FAC would give
// if its Kronecker factors were exact, which separates the error of
// dropping cross-layer curvature from the error of factoring each block.
//
// J [N*C, p] and Jt [M, p] are the Jacobian rows of training and test
// outputs, e [N*C] the residuals alpha y - f(x) of the fitted model and
// ridge rho = lambda N / 2. With K_b = J_b J_b^T and Kt_b = Jt_b J_b^T,
// the push-through identity gives, for test output m and sample i,
//
//	T = sum_b Kt_b (K_b + rho I)^-1                   [M, N*C]
//	S_i = sum_b [K_b (K_b + rho I)^-1]_ii             [C, C]
//	D[i][m] = T_m,I (I - S_i)^-1 e_I   (lev LeverageExact; clamped like K-FAC's)
//	D[i][m] = T_m,I e_I                (lev LeverageNone: the influence function)
//
// with I the C rows of sample i; D has the layout of Exact.LeaveOneOut,
// which one block covering every parameter reproduces with LeverageExact.
type BlockInfluence struct {
	classes, tests int
	t, s, e        []float64 // T^T [N*C, M], S_i stacked [N*C, C], e [N*C]
}

// NewBlockInfluence computes T and S from the Jacobian rows J [N*C, p] and
// Jt [M, p], the residuals e [N*C], rho and the blocks. Cost: per block a
// Gram matrix, a Cholesky and an inverse of order N*C.
func NewBlockInfluence(J, Jt []float32, p, classes int, e []float64, ridge float64, blocks []model.Block) (*BlockInfluence, error) {
	c := classes
	if c < 1 || p < 1 {
		return nil, fmt.Errorf("influence: %d classes and %d parameters; need at least 1 of each", c, p)
	}
	nc, m := len(e), len(Jt)/p
	switch {
	case nc == 0 || nc%c != 0 || len(J) != nc*p:
		return nil, fmt.Errorf("influence: %d Jacobian values for %d residuals of %d classes and %d parameters", len(J), nc, c, p)
	case len(Jt) != m*p:
		return nil, fmt.Errorf("influence: %d test Jacobian values are not a multiple of %d parameters", len(Jt), p)
	}
	if err := checkRidge(ridge); err != nil {
		return nil, err
	}
	for k, b := range blocks {
		if b.Start < 0 || b.End > p || b.Start >= b.End || (k > 0 && b.Start < blocks[k-1].End) {
			return nil, fmt.Errorf("influence: block %d [%d, %d) is empty, out of [0, %d) or overlaps the previous one", k, b.Start, b.End, p)
		}
	}
	if len(blocks) == 0 {
		return nil, errors.New("influence: no blocks")
	}
	T := make([]float64, nc*m) // T^T [N*C, M]
	S := make([]float64, nc*c) // S_i stacked [N*C, C]
	for _, b := range blocks {
		w := b.End - b.Start
		jb, jtb := columns(J, nc, p, b), columns(Jt, m, p, b)
		a := make([]float64, nc*nc)
		blas64.Syrk(blas.NoTrans, 1, general(nc, w, jb), 0, blas64.Symmetric{Uplo: blas.Upper, N: nc, Stride: nc, Data: a})
		for i := range nc {
			a[i*nc+i] += ridge
		}
		if !invertSPD(a, nc) { // (K_b + rho I)^-1, full
			return nil, fmt.Errorf("influence: K_b + rho I of block [%d, %d) is not positive definite", b.Start, b.End)
		}
		kt := make([]float64, nc*m) // K_b,t = J_b Jt_b^T [N*C, M]
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(nc, w, jb), general(m, w, jtb), 0, general(nc, m, kt))
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(nc, nc, a), general(nc, m, kt), 1, general(nc, m, T))
		// K_b (K_b + rho I)^-1 = I - rho (K_b + rho I)^-1.
		for i := 0; i < nc; i += c {
			for x := range c {
				for y := range c {
					d := -ridge * a[(i+x)*nc+i+y]
					if x == y {
						d++
					}
					S[(i+x)*c+y] += d
				}
			}
		}
	}
	return &BlockInfluence{classes: c, tests: m, t: T, s: S, e: e}, nil
}

// LeaveOneOut returns D [N][M] for LeverageExact or LeverageNone (see
// BlockInfluence); clamped counts the samples whose S_i has an eigenvalue
// above 1 - minShrink (impossible with the exact curvature).
func (b *BlockInfluence) LeaveOneOut(lev Leverage) (D [][]float64, clamped int, err error) {
	if lev != LeverageExact && lev != LeverageNone {
		return nil, 0, fmt.Errorf("influence: block leave-one-out supports leverage %q or %q, not %q", LeverageExact, LeverageNone, lev)
	}
	c, m, T, S, e := b.classes, b.tests, b.t, b.s, b.e
	n := len(e) / c
	out := make([][]float64, n)
	backing := make([]float64, n*m)
	for i := range n {
		out[i] = backing[i*m : (i+1)*m : (i+1)*m]
		w, clamp, err := leverageSolve(lev, mat.NewSymDense(c, append([]float64(nil), S[i*c*c:(i+1)*c*c]...)), e[i*c:(i+1)*c])
		if err != nil {
			return nil, 0, err
		}
		if clamp {
			clamped++
		}
		for a, wa := range w {
			row := T[(i*c+a)*m : (i*c+a+1)*m]
			for t, x := range row {
				out[i][t] += x * wa
			}
		}
	}
	return out, clamped, nil
}

// columns copies the columns of block b of the row-major [rows, p] matrix
// J into a float64 [rows, b.End-b.Start] matrix.
func columns(J []float32, rows, p int, b model.Block) []float64 {
	w := b.End - b.Start
	out := make([]float64, rows*w)
	for r := range rows {
		src := J[r*p+b.Start : r*p+b.End]
		dst := out[r*w : (r+1)*w]
		for k, x := range src {
			dst[k] = float64(x)
		}
	}
	return out
}
