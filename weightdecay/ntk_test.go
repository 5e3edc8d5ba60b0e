package weightdecay

import (
	"math"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// ntk is the empirical NTK of a small network on real mnist-5-9 images,
// shared by the tests: training, validation (cross kernel) and residuals.
type ntk struct {
	be      backends.Backend
	net     *model.Network
	train   *data.Set
	n, m, c int
	p       int
	J, Jv   []float32     // Jacobian rows [n*c, p], [m*c, p]
	K       *mat.SymDense // [n*c, n*c]
	Kv      *mat.Dense    // validation x training [m*c, n*c]
	r, rv   []float64     // residuals [n*c], [m*c]
}

var (
	ntkOnce sync.Once
	ntkData *ntk
	ntkErr  error
)

func loadNTK(t testing.TB) *ntk {
	t.Helper()
	ntkOnce.Do(func() { ntkData, ntkErr = buildNTK() })
	if ntkErr != nil {
		t.Fatal(ntkErr)
	}
	return ntkData
}

func buildNTK() (*ntk, error) {
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	net, sp, err := lqftest.Setup(be, 12, 4, 2)
	if err != nil {
		return nil, err
	}
	k, err := lqftest.NewKernels(be, net, sp.Train, sp.Val)
	if err != nil {
		return nil, err
	}
	return &ntk{
		be: be, net: net, train: sp.Train,
		n: sp.Train.Len(), m: sp.Val.Len(), c: k.C, p: k.P, J: k.J, Jv: k.Jx,
		K: k.K, Kv: k.Kx, r: k.R, rv: k.Rx,
	}, nil
}

// assertClose checks max |got - want| <= tol * max |want| (and want != 0).
func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxErr, maxVal float64
	for i := range want {
		maxErr = math.Max(maxErr, math.Abs(got[i]-want[i]))
		maxVal = math.Max(maxVal, math.Abs(want[i]))
	}
	t.Logf("%s: max |got - want| = %.3g, max |want| = %.3g", what, maxErr, maxVal)
	if !(maxErr <= tol*maxVal) || maxVal == 0 {
		t.Errorf("%s: max |got - want| = %.3g, max |want| = %.3g (tolerance %.0e relative)", what, maxErr, maxVal, tol)
	}
}

// relDiff returns |got - want| / |want|.
func relDiff(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// solveFresh returns (K + rho I)^-1 r by a fresh Cholesky factorization.
func solveFresh(t *testing.T, k *mat.SymDense, r []float64, rho float64) []float64 {
	t.Helper()
	chol, err := linalg.ShiftedCholesky(k, rho)
	if err != nil {
		t.Fatal(err)
	}
	var a mat.VecDense
	if err := chol.SolveVecTo(&a, mat.NewVecDense(len(r), append([]float64(nil), r...))); err != nil {
		t.Fatal(err)
	}
	return a.RawVector().Data
}

func mulVec(m mat.Matrix, x []float64) []float64 {
	var y mat.VecDense
	y.MulVec(m, mat.NewVecDense(len(x), x))
	return y.RawVector().Data
}

func newPath(t *testing.T, d *ntk) *Path {
	t.Helper()
	p, err := NewPath(d.K, d.r, d.n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newValidation(t *testing.T, d *ntk) (*Path, *Validation) {
	t.Helper()
	p := newPath(t, d)
	v, err := p.Validation(d.Kv, d.rv, d.m)
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}
