package influence

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/model"
)

// Exact holds the kernel form of an LQF solution, ready for exact
// leave-one-out queries. With the empirical NTK K = J J^T of the training
// set (N*C rows, row i*C+c for output c of sample i), the ridge rho and the
// residuals R = alpha Y - f0, the optimum has coefficients
// a = (K + rho I)^-1 R and test outputs f(x) = f0(x) + k(x)^T a.
//
// Removing training sample i (its C rows, block I) and re-solving at the
// same rho changes a test output by the Woodbury identity
//
//	f(x) - f_-i(x) = (k(x)^T A^-1)_I [(A^-1)_II]^-1 a_I,   A = K + rho I,
//
// exactly, for every i from one inverse of A.
//
// Convention: rho is fixed when samples are removed (retraining minimizes
// sum_j ||f0_j + J_j dw - alpha y_j||^2 + rho ||dw||^2 over the remaining
// samples); lqf's training objective, a mean over N plus lambda/2 ||dw||^2,
// has rho = lambda N / 2 (model.RidgeTerm).
type Exact struct {
	Classes int
	N       int
	Ridge   float64
	ainv    *mat.SymDense // (K + rho I)^-1
	coef    *mat.VecDense // a
	blocks  []*mat.Dense  // [(A^-1)_II]^-1 per sample
}

// NewExact factorizes K + rho I (float64) for n samples of c outputs and
// residuals r (n*c).
func NewExact(k *mat.SymDense, r []float64, classes int, ridge float64) (*Exact, error) {
	rows := k.SymmetricDim()
	if classes < 1 || rows%classes != 0 || len(r) != rows {
		return nil, fmt.Errorf("influence: kernel of %d rows, %d residuals, %d classes", rows, len(r), classes)
	}
	if ridge <= 0 {
		return nil, errors.New("influence: the ridge must be > 0")
	}
	chol, err := model.ShiftedCholesky(k, ridge)
	if err != nil {
		return nil, fmt.Errorf("influence: %w", err)
	}
	e := &Exact{Classes: classes, N: rows / classes, Ridge: ridge, ainv: mat.NewSymDense(rows, nil), coef: mat.NewVecDense(rows, nil)}
	if err := chol.InverseTo(e.ainv); err != nil {
		return nil, err
	}
	e.coef.MulVec(e.ainv, mat.NewVecDense(rows, append([]float64(nil), r...)))
	for i := range e.N {
		blk := mat.NewDense(classes, classes, nil)
		for a := range classes {
			for b := range classes {
				blk.Set(a, b, e.ainv.At(i*classes+a, i*classes+b))
			}
		}
		var inv mat.Dense
		if err := inv.Inverse(blk); err != nil {
			return nil, fmt.Errorf("influence: block of sample %d: %w", i, err)
		}
		e.blocks = append(e.blocks, &inv)
	}
	return e, nil
}

// Coefficients returns a = (K + rho I)^-1 R.
func (e *Exact) Coefficients() []float64 { return append([]float64(nil), e.coef.RawVector().Data...) }

// LeaveOneOut takes the test kernel kTest [M, N*C] (row m: k(x_m)^T for
// test output m) and returns D with D[i][m] = f(x_m) - f_-i(x_m), the change
// of every test output when training sample i is removed, for every i.
func (e *Exact) LeaveOneOut(kTest *mat.Dense) ([][]float64, error) {
	m, cols := kTest.Dims()
	if cols != e.N*e.Classes {
		return nil, fmt.Errorf("influence: test kernel has %d columns, want %d", cols, e.N*e.Classes)
	}
	var v mat.Dense // k(x)^T A^-1, [M, N*C]
	v.Mul(kTest, e.ainv)
	c := e.Classes
	out := make([][]float64, e.N)
	w := make([]float64, c)
	for i := range e.N {
		// w = [(A^-1)_II]^-1 a_I.
		for a := range c {
			s := 0.0
			for b := range c {
				s += e.blocks[i].At(a, b) * e.coef.AtVec(i*c+b)
			}
			w[a] = s
		}
		d := make([]float64, m)
		for t := range m {
			s := 0.0
			for a := range c {
				s += v.At(t, i*c+a) * w[a]
			}
			d[t] = s
		}
		out[i] = d
	}
	return out, nil
}
