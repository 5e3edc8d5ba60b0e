package influence

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// KFAC approximates exact leave-one-out (Exact) with K-FAC's curvature, for
// training sets too large for the kernel form (paper eq. 8). With g_i the
// C x P Jacobian of sample i's outputs at w0 (J [N*C, P] stacks them),
// H = J^T J + rho I [P, P] the Hessian of the sum-form objective, R [N*C]
// the targets alpha Y - f0(X), dw* = H^-1 J^T R the optimum and
// e_i = r_i - g_i dw* [C] the fitted model's residual on sample i, removing
// sample i is a rank-C downdate of the curvature, H_-i = H - g_i^T g_i,
// and Woodbury's identity gives
//
//	H_-i^-1 = H^-1 + H^-1 g_i^T (I_C - S_i)^-1 g_i H^-1,   S_i = g_i H^-1 g_i^T [C, C],
//
// so that dw_-i = H_-i^-1 (J^T R - g_i^T r_i) = dw* - H^-1 g_i^T (I_C - S_i)^-1 e_i
// (expand H_-i^-1 H dw* and H_-i^-1 g_i^T r_i = H^-1 g_i^T (I_C - S_i)^-1 r_i)
// and a test output changes by
//
//	f(x) - f_-i(x) = g(x) H^-1 g_i^T (I_C - S_i)^-1 e_i,   [1, P] [P, P] [P, C] [C, C] [C]
//
// exactly; the eigenvalues of S_i, sample i's leverages, lie in [0, 1)
// because H - g_i^T g_i is still positive definite. The paper's
// derivation (Appendix A.3, eq. 8: Delta f = g A^-1 g_i^T (I_C - M^-1
// alpha_i) e_i, M = (N-1) I_C + alpha_i, so (I_C - M^-1 alpha_i) =
// (I_C + alpha_i / (N-1))^-1) applies Sherman-Morrison as for an update,
// which gives (I_C + S_i)^-1: exact only if S_i were computed with the
// curvature of the set without sample i (H_-i), not with the full set's H
// (or F) that eq. 8 and K-FAC use. Its sign is the wrong one for a removal;
// the two agree to first order in S_i and differ most for the samples of
// high leverage, which leave-one-out and F-SI (eq. 9) are about.
//
// KFAC replaces H by (N/2)(F_kfac + lambda I), lambda = 2 rho / N, with
// F_kfac the K-FAC factors of F = (2/N) J^T J, and applies the correct
// (I_C - S_i)^-1 by default (LeverageExact, the zero value of Leverage).
// K-FAC's curvature can be smaller than the exact one along g_i, which
// pushes eigenvalues of S_i to 1 or beyond where (I_C - S_i)^-1 is
// meaningless: lqf then clamps each eigenvalue of I_C - S_i below at
// minShrink (so a factor at most 1/minShrink = 1000 along that direction)
// and counts the sample in Clamped. The paper's (I_C + S_i)^-1
// (LeveragePaper) and the influence function without correction
// (LeverageNone) remain as variants.
//
// The training side is computed once: whitened gradients
// w_i = (F_kfac + lambda I)^-1/2 g_i^T in the Kronecker eigenbasis (one
// backward pass per output), S_i and u_i = w_i (I - S_i)^-1 e_i exactly
// in that basis, and then only u_i is kept, optionally compressed by a
// count sketch of dimension KFACOptions.Sketch (unbiased inner products;
// memory N x Sketch). A query then costs one gradient pass over the test
// images and one product with the stored u.
type KFAC struct {
	N, Classes int
	Lambda     float64 // damping: rho = Lambda N / 2
	inv        *kfac.DampedInverse
	net        *model.Network
	sketch     *countSketch // nil: u kept at full width
	u          *mat.Dense   // N x width
	self       []float64    // N*C: S_i (I - S_i)^-1 e_i
	clamped    int
	batch      int
}

// KFACOptions configures NewKFAC.
type KFACOptions struct {
	// Sketch is the dimension of the count sketch of the stored training
	// vectors; 0 keeps them whole (N x parameters values).
	Sketch    int
	Seed      uint64 // of the sketch's hash functions
	BatchSize int    // images per gradient pass; default 32
	// Leverage selects the C x C factor applied to the residual e_i;
	// default (the zero value) LeverageExact, (I - S_i)^-1.
	Leverage Leverage
	Progress io.Writer
}

// Leverage is the leave-one-out correction of K-FAC attribution.
type Leverage string

const (
	// LeverageExact is (I - S_i)^-1, exact with the true curvature
	// (Woodbury for the rank-C downdate that removes sample i; see KFAC);
	// K-FAC can underestimate the curvature along g_i so much that
	// eigenvalues of S_i reach 1 or more, where they are clamped
	// (Clamped). The default: "" means LeverageExact.
	LeverageExact Leverage = "exact"
	// LeverageNone drops the correction: the influence function
	// g(x) H^-1 g_i^T e_i, first order in the removal.
	LeverageNone Leverage = "none"
	// LeveragePaper is (I + S_i)^-1, paper eq. 8 (A = N/(N-1) F + lambda I
	// there; its (I_C - M^-1 alpha_i) is (I + alpha_i/(N-1))^-1), the
	// Sherman-Morrison step of an update where removal is a downdate: exact
	// only for S_i computed with the curvature without sample i, which eq. 8
	// does not use (see KFAC). Always well defined; a variant, for
	// comparison with the paper.
	LeveragePaper Leverage = "paper"
)

// minShrink bounds the eigenvalues of I - S_i from below. Exactly they lie
// in (0, 1], 1 minus the sample's leverage; K-FAC can underestimate the
// curvature along g_i and push a leverage to 1 or beyond, where the
// correction is meaningless, so such eigenvalues are clamped (Clamped).
const minShrink = 1e-3

// NewKFAC precomputes K-FAC leave-one-out for the network net at w0 (the
// backbone with the task's head), its K-FAC factors f computed on train,
// weight decay lambda (mean-form objective; rho = lambda N / 2) and the
// residuals e [N*C] of the fitted model on train (alpha Y minus its
// outputs, e.g. linalg.Residuals of its predictions).
func NewKFAC(be backends.Backend, net *model.Network, f *kfac.Factors, train *data.Set, lambda float64, e []float64, opts KFACOptions) (*KFAC, error) {
	n, c := train.Len(), net.NumClasses()
	switch {
	case n < 2:
		return nil, errors.New("influence: K-FAC leave-one-out needs at least 2 training samples")
	case f.N != n:
		return nil, fmt.Errorf("influence: the K-FAC factors were computed on %d samples, the training set has %d", f.N, n)
	case len(e) != n*c:
		return nil, fmt.Errorf("influence: %d residuals for %d samples x %d outputs", len(e), n, c)
	case !(lambda > 0):
		return nil, fmt.Errorf("influence: lambda %g must be > 0", lambda)
	}
	inv, err := f.Invert(lambda)
	if err != nil {
		return nil, err
	}
	k := &KFAC{N: n, Classes: c, Lambda: lambda, inv: inv, net: net, self: make([]float64, n*c), batch: opts.BatchSize}
	if k.batch <= 0 {
		k.batch = 32
	}
	width := inv.GradientWidth()
	if opts.Sketch > 0 {
		k.sketch = newCountSketch(width, opts.Sketch, opts.Seed)
		width = opts.Sketch
	}
	k.u = mat.NewDense(n, width, nil)
	scale := 2 / float64(n)
	p := inv.GradientWidth()
	ui := make([]float64, p)
	err = inv.EachGradientBatch(be, net, train, kfac.Options{BatchSize: k.batch, Progress: opts.Progress}, func(start, b int, rows []float32) error {
		if err := inv.Whiten(rows); err != nil {
			return err
		}
		for s := range b {
			i := start + s
			g := rows[s*c*p : (s+1)*c*p] // C whitened rows of sample i
			S := mat.NewSymDense(c, nil)
			for a := range c {
				for bb := a; bb < c; bb++ {
					S.SetSym(a, bb, scale*dot32(g[a*p:(a+1)*p], g[bb*p:(bb+1)*p]))
				}
			}
			w, clamped, err := leverageSolve(opts.Leverage, S, e[i*c:(i+1)*c])
			if err != nil {
				return fmt.Errorf("influence: training sample %d: %w", i, err)
			}
			if clamped {
				k.clamped++
			}
			var sw mat.VecDense
			sw.MulVec(S, mat.NewVecDense(c, w))
			copy(k.self[i*c:], sw.RawVector().Data)
			clear(ui)
			for a := range c {
				row := g[a*p : (a+1)*p]
				for j, v := range row {
					ui[j] += w[a] * float64(v)
				}
			}
			dst := k.u.RawRowView(i)
			if k.sketch != nil {
				k.sketch.apply(ui, dst)
			} else {
				copy(dst, ui)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// leverageSolve returns (I - S)^-1 e for the symmetric C x C matrix S with
// the eigenvalues of I - S clamped below at minShrink (LeverageExact, the
// default ""), (I + S)^-1 e (LeveragePaper) or e (LeverageNone).
func leverageSolve(l Leverage, S *mat.SymDense, e []float64) ([]float64, bool, error) {
	sign := -1.0
	switch l {
	case LeverageNone:
		return append([]float64(nil), e...), false, nil
	case LeveragePaper:
		sign = 1
	case LeverageExact, "":
	default:
		return nil, false, fmt.Errorf("unknown leverage correction %q (want exact, none or paper)", l)
	}
	c := S.SymmetricDim()
	v, vals, err := linalg.SymEigen(S)
	if err != nil {
		return nil, false, fmt.Errorf("leverage matrix: %w", err)
	}
	var t mat.VecDense
	t.MulVec(v.T(), mat.NewVecDense(c, append([]float64(nil), e...)))
	clamped := false
	for j, s := range vals {
		d := 1 + sign*s
		if d < minShrink {
			d, clamped = minShrink, true
		}
		t.SetVec(j, t.AtVec(j)/d)
	}
	var out mat.VecDense
	out.MulVec(v, &t)
	return out.RawVector().Data, clamped, nil
}

// Clamped is the number of training samples whose K-FAC leverage matrix
// had an eigenvalue above 1 - minShrink (see NewKFAC).
func (k *KFAC) Clamped() int { return k.clamped }

// SelfInfluence returns, N x C, the approximate change of each training
// sample's own outputs when it is removed: S_i L_i e_i (L_i the leverage
// correction, (I - S_i)^-1 by default), from the unsketched gradients.
func (k *KFAC) SelfInfluence() [][]float64 {
	out := make([][]float64, k.N)
	for i := range out {
		out[i] = append([]float64(nil), k.self[i*k.Classes:(i+1)*k.Classes]...)
	}
	return out
}

// Query returns D [N][T*C], D[i][t*C+c] the approximate change of output c
// of test image t when training sample i is removed (the layout of
// Exact.LeaveOneOut). It runs one gradient pass over test.
func (k *KFAC) Query(be backends.Backend, test *data.Set) ([][]float64, error) {
	if test.Len() == 0 {
		return nil, errors.New("influence: no test images to query")
	}
	c, p := k.Classes, k.inv.GradientWidth()
	width := k.u.RawMatrix().Cols
	rows := test.Len() * c
	q := mat.NewDense(rows, width, nil)
	full := make([]float64, p)
	err := k.inv.EachGradientBatch(be, k.net, test, kfac.Options{BatchSize: k.batch}, func(start, b int, g []float32) error {
		if err := k.inv.Whiten(g); err != nil {
			return err
		}
		for r := range b * c {
			src := g[r*p : (r+1)*p]
			dst := q.RawRowView(start*c + r)
			if k.sketch != nil {
				for j, v := range src {
					full[j] = float64(v)
				}
				k.sketch.apply(full, dst)
			} else {
				for j, v := range src {
					dst[j] = float64(v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var prod mat.Dense // [N, T*C]
	prod.Mul(k.u, q.T())
	scale := 2 / float64(k.N)
	out := make([][]float64, k.N)
	for i := range out {
		row := prod.RawRowView(i)
		for j := range row {
			row[j] *= scale
		}
		out[i] = row
	}
	return out, nil
}

// dot32 is the float64 inner product of two float32 vectors.
func dot32(a, b []float32) float64 {
	s := 0.0
	for j, v := range a {
		s += float64(v) * float64(b[j])
	}
	return s
}

// countSketch maps vectors of n values to m by hashing each coordinate to
// one of m buckets with a random sign: E[<Sx, Sy>] = <x, y>, with a
// variance of the order of ||x||^2 ||y||^2 / m.
type countSketch struct {
	bucket []int32
	sign   []float64
	m      int
}

func newCountSketch(n, m int, seed uint64) *countSketch {
	rng := rand.New(rand.NewPCG(seed, 0x736b6574))
	s := &countSketch{bucket: make([]int32, n), sign: make([]float64, n), m: m}
	for j := range n {
		s.bucket[j] = int32(rng.IntN(m))
		s.sign[j] = float64(2*rng.IntN(2) - 1)
	}
	return s
}

// apply writes the sketch of x to dst (m values).
func (s *countSketch) apply(x, dst []float64) {
	clear(dst)
	for j, v := range x {
		dst[s.bucket[j]] += s.sign[j] * v
	}
}
