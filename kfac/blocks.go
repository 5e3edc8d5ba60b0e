package kfac

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// ExactBlocks is the exact Gauss-Newton matrix of LQF's loss restricted to
// parameter blocks, F_b = (2/N) J_b^T J_b for each block b of columns of the
// Jacobian rows J [N*C, P]: the block-diagonal curvature that K-FAC
// approximates further by Kronecker factors. Comparing the two separates
// the error of dropping cross-block curvature from the error of factoring.
//
// Each block is held in eigen form F_b = U_b diag(s_b) U_b^T, U_b [P_b, r_b]
// orthonormal, r_b <= N*C, from the eigendecomposition of J_b J_b^T.
type ExactBlocks struct {
	blocks []model.Block
	u      [][]float64 // U_b row-major [P_b, r_b]
	s      [][]float64 // eigenvalues s_b [r_b]
	p      int
}

// NewExactBlocks builds ExactBlocks from the Jacobian rows J [rows, p] of n
// training samples (rows = n*C) and blocks of columns.
func NewExactBlocks(J []float32, rows, p, n int, blocks []model.Block) (*ExactBlocks, error) {
	if rows < 1 || p < 1 || n < 1 || len(J) != rows*p {
		return nil, fmt.Errorf("kfac: %d Jacobian values for %d rows x %d parameters (%d samples)", len(J), rows, p, n)
	}
	e := &ExactBlocks{blocks: blocks, p: p}
	end := 0
	for k, b := range blocks {
		if b.Start < end || b.End > p || b.Start >= b.End {
			return nil, fmt.Errorf("kfac: block %d [%d, %d) is empty, out of [0, %d) or overlaps the previous one", k, b.Start, b.End, p)
		}
		end = b.End
		w := b.End - b.Start
		jb := make([]float64, rows*w)
		for r := range rows {
			for c, x := range J[r*p+b.Start : r*p+b.End] {
				jb[r*w+c] = float64(x)
			}
		}
		// J_b J_b^T = V diag(t) V^T; F_b's eigenvectors are J_b^T V t^-1/2
		// with eigenvalues (2/N) t.
		g := mat.NewSymDense(rows, nil)
		blas64.Syrk(blas.NoTrans, 1, blas64.General{Rows: rows, Cols: w, Stride: w, Data: jb}, 0, g.RawSymmetric())
		v, t, err := linalg.SymEigen(g)
		if err != nil {
			return nil, fmt.Errorf("kfac: block %d: %w", k, err)
		}
		var keep []int
		for i, x := range t {
			if x > 1e-12*t[len(t)-1] {
				keep = append(keep, i)
			}
		}
		vk := mat.NewDense(rows, max(len(keep), 1), nil)
		s := make([]float64, len(keep))
		for c, i := range keep {
			for r := range rows {
				vk.Set(r, c, v.At(r, i)/math.Sqrt(t[i]))
			}
			s[c] = 2 / float64(n) * t[i]
		}
		var u mat.Dense
		u.Mul(mat.NewDense(rows, w, jb).T(), vk)
		e.u = append(e.u, u.RawMatrix().Data)
		e.s = append(e.s, s)
	}
	return e, nil
}

// ApplyPower returns (F_blocks + d I)^power v for v [P]; parameters outside
// every block get d^power.
func (e *ExactBlocks) ApplyPower(v []float64, d, power float64) ([]float64, error) {
	if len(v) != e.p {
		return nil, fmt.Errorf("kfac: vector of %d values for %d parameters", len(v), e.p)
	}
	if !(d > 0) {
		return nil, fmt.Errorf("kfac: damping %g must be > 0", d)
	}
	base := math.Pow(d, power)
	out := make([]float64, len(v))
	for k := range v {
		out[k] = base * v[k]
	}
	for k, b := range e.blocks {
		w, r := b.End-b.Start, len(e.s[k])
		if r == 0 {
			continue
		}
		u := blas64.General{Rows: w, Cols: r, Stride: r, Data: e.u[k]}
		c := make([]float64, r) // U^T v, scaled by (s + d)^power - d^power
		blas64.Gemv(blas.Trans, 1, u, blas64.Vector{N: w, Inc: 1, Data: v[b.Start:b.End]}, 0, blas64.Vector{N: r, Inc: 1, Data: c})
		for i, s := range e.s[k] {
			c[i] *= math.Pow(s+d, power) - base
		}
		blas64.Gemv(blas.NoTrans, 1, u, blas64.Vector{N: r, Inc: 1, Data: c}, 1, blas64.Vector{N: w, Inc: 1, Data: out[b.Start:b.End]})
	}
	return out, nil
}
