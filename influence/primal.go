package influence

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Primal holds the primal form of an LQF-FC solution (only the linear head
// is trained), ready for exact data attribution queries at any N. With the
// features phi_i = [h_i, 1] (F values plus a bias column, which the ridge
// also penalizes, as in linalg.SolveLinearHead), Phi [N, F+1], residuals
// R [N, C] and ridge rho, the C classes decouple and share
//
//	M = Phi^T Phi + rho I   ((F+1) x (F+1)),   W = M^-1 Phi^T R   [F+1, C],
//
// and a test output is f_c(x) = f0_c(x) + phi(x)^T W_c. Removing sample i
// and re-solving at the same rho (Sherman-Morrison) gives, with leverage
// h_i = phi_i^T M^-1 phi_i and residual e_i = R_i - phi_i^T W (C values),
//
//	W - W_-i = M^-1 phi_i e_i^T / (1 - h_i),
//	f_c(x) - f_-i,c(x) = phi(x)^T M^-1 phi_i e_ic / (1 - h_i).
//
// This is the kernel form (Exact) with K[(i,c),(j,d)] = phi_i^T phi_j
// delta_cd, at O(N F^2) instead of O(N^3 C^3). Primal keeps M^-1, W, Phi
// and R in float64; Remove and Add update M^-1 and W by Woodbury at rank
// |S| without refactorizing.
type Primal struct {
	Classes  int
	N        int
	Features int // F, without the bias column
	Ridge    float64

	phi     []float64 // Phi [N, d], d = F+1
	res     []float64 // R [N, C]
	minv    []float64 // M^-1 [d, d], both triangles stored
	w       []float64 // W [d, C]
	indices []int
	next    int
}

// NewPrimal solves the LQF-FC closed form for features [N, numFeatures]
// (row-major, for example from model.Network.Features), residuals
// r [N*C] = alpha Y - f0 (row i*C+c) and the ridge rho (sum form, see
// Exact; linalg.RidgeTerm(lambda, N) for lqf's objective). The samples get
// ids 0..N-1 (see Indices).
func NewPrimal(features []float32, numFeatures int, r []float64, classes int, ridge float64) (*Primal, error) {
	switch {
	case numFeatures < 1 || classes < 1:
		return nil, fmt.Errorf("influence: %d features and %d classes; need at least 1 of each", numFeatures, classes)
	case len(features) == 0 || len(features)%numFeatures != 0:
		return nil, fmt.Errorf("influence: %d feature values is not a positive multiple of %d features", len(features), numFeatures)
	}
	n := len(features) / numFeatures
	if len(r) != n*classes {
		return nil, fmt.Errorf("influence: %d residuals for %d samples of %d classes; want %d", len(r), n, classes, n*classes)
	}
	if err := checkRidge(ridge); err != nil {
		return nil, err
	}
	if err := checkFinite("residuals", r); err != nil {
		return nil, err
	}
	p := &Primal{Classes: classes, N: n, Features: numFeatures, Ridge: ridge,
		res: append([]float64(nil), r...), indices: make([]int, n), next: n}
	for i := range p.indices {
		p.indices[i] = i
	}
	var err error
	if p.phi, err = p.design(features, "feature"); err != nil {
		return nil, err
	}
	d := numFeatures + 1
	m := make([]float64, d*d)
	blas64.Syrk(blas.Trans, 1, general(n, d, p.phi), 0, blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: m})
	for j := range d {
		m[j*d+j] += ridge
	}
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: m})
	if !ok {
		return nil, fmt.Errorf("influence: Phi^T Phi + rho I (rho %g) is not positive definite", ridge)
	}
	// Solve with the factor (better conditioned than multiplying by the
	// inverse), then invert it in place.
	p.w = make([]float64, d*classes)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(n, d, p.phi), general(n, classes, p.res), 0, general(d, classes, p.w))
	lapack64.Potrs(t, general(d, classes, p.w))
	if _, ok := lapack64.Potri(t); !ok {
		return nil, fmt.Errorf("influence: Phi^T Phi + rho I (rho %g) is singular", ridge)
	}
	symmetrize(m, d)
	p.minv = m
	return p, nil
}

// design returns [x, 1] rows in float64 from x [*, F], checking the size
// and that the values are finite.
func (p *Primal) design(x []float32, what string) ([]float64, error) {
	f := p.Features
	if len(x) == 0 || len(x)%f != 0 {
		return nil, fmt.Errorf("influence: %d %s values is not a positive multiple of %d features", len(x), what, f)
	}
	rows, d := len(x)/f, f+1
	out := make([]float64, rows*d)
	for i := range rows {
		for j, v := range x[i*f : (i+1)*f] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("influence: %s value %d of row %d is %g", what, j, i, v)
			}
			out[i*d+j] = float64(v)
		}
		out[i*d+f] = 1
	}
	return out, nil
}

func (p *Primal) dim() int { return p.Features + 1 }

// Indices returns, for each current position 0..N-1, the id of the sample
// there (same numbering as Exact.Indices).
func (p *Primal) Indices() []int { return append([]int(nil), p.indices...) }

// Weights returns the head displacement: dW [F, C] and db [C], row-major
// as from linalg.SolveLinearHead.
func (p *Primal) Weights() (dW, db []float64) {
	f, c := p.Features, p.Classes
	return append([]float64(nil), p.w[:f*c]...), append([]float64(nil), p.w[f*c:]...)
}

// Predict returns phi(x_t)^T W [T*C] (index t*C+c) for testFeatures
// [T, F]: the change of the test outputs from f0 (add f0 to get them).
func (p *Primal) Predict(testFeatures []float32) ([]float64, error) {
	pt, err := p.design(testFeatures, "test feature")
	if err != nil {
		return nil, err
	}
	t, d, c := len(pt)/p.dim(), p.dim(), p.Classes
	out := make([]float64, t*c)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(t, d, pt), general(d, c, p.w), 0, general(t, c, out))
	return out, nil
}

// leverage returns Q = Phi M^-1 [N, d], the scaled residuals
// e_i / (1 - h_i) [N, C] and the leverages h [N].
func (p *Primal) leverage() (q, scaled, h []float64, err error) {
	n, d, c := p.N, p.dim(), p.Classes
	q = make([]float64, n*d)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(n, d, p.phi), general(d, d, p.minv), 0, general(n, d, q))
	scaled = append([]float64(nil), p.res...)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, -1, general(n, d, p.phi), general(d, c, p.w), 1, general(n, c, scaled))
	h = make([]float64, n)
	for i := range n {
		h[i] = blas64.Dot(vec(q[i*d:(i+1)*d]), vec(p.phi[i*d:(i+1)*d]))
		// h_i < 1 for rho > 0; rounding can only break that when rho
		// is negligible against the features' scale.
		if !(h[i] < 1) {
			return nil, nil, nil, fmt.Errorf("influence: the leverage of sample %d is %g, not < 1; the ridge is too small", p.indices[i], h[i])
		}
		for a := range c {
			scaled[i*c+a] /= 1 - h[i]
		}
	}
	return q, scaled, h, nil
}

// LeaveOneOut returns D [N][T*C] with D[i][t*C+c] = f_c(x_t) - f_-i,c(x_t),
// the change of every output of every test sample (testFeatures [T, F])
// when training sample i is removed, at O(N F^2 + T N F) cost.
func (p *Primal) LeaveOneOut(testFeatures []float32) ([][]float64, error) {
	pt, err := p.design(testFeatures, "test feature")
	if err != nil {
		return nil, err
	}
	q, scaled, _, err := p.leverage()
	if err != nil {
		return nil, err
	}
	n, d, c, t := p.N, p.dim(), p.Classes, len(pt)/p.dim()
	g := make([]float64, n*t) // phi_i^T M^-1 phi(x_t), [N, T]
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, general(n, d, q), general(t, d, pt), 0, general(n, t, g))
	out := make([][]float64, n)
	backing := make([]float64, n*t*c)
	for i := range out {
		row := backing[i*t*c : (i+1)*t*c : (i+1)*t*c]
		for k, v := range g[i*t : (i+1)*t] {
			for a, e := range scaled[i*c : (i+1)*c] {
				row[k*c+a] = v * e
			}
		}
		out[i] = row
	}
	return out, nil
}

// SelfInfluence returns S [N][C] with S[i][c] = f_c(x_i) - f_-i,c(x_i) =
// h_i e_ic / (1 - h_i), the change of training sample i's own outputs when
// it is removed.
func (p *Primal) SelfInfluence() ([][]float64, error) {
	_, scaled, h, err := p.leverage()
	if err != nil {
		return nil, err
	}
	c := p.Classes
	out := make([][]float64, p.N)
	for i := range out {
		out[i] = make([]float64, c)
		for a := range c {
			out[i][a] = h[i] * scaled[i*c+a]
		}
	}
	return out, nil
}

// woodbury returns, for the samples with design rows phiS [s, d] and
// residuals rS [s, C], entering with sign +1 (added) or -1 (removed):
// Y [d, s] and Z [s, C] such that the updated solution is
//
//	M'^-1 = M^-1 - sign Y Y^T,   W' = W + sign Y Z,
//
// from G = I + sign Phi_S M^-1 Phi_S^T = V^T V, Y = M^-1 Phi_S^T V^-1 and
// Z = V^-T (R_S - Phi_S W).
func (p *Primal) woodbury(phiS, rS []float64, sign float64) (y, z []float64, err error) {
	d, c, s := p.dim(), p.Classes, len(phiS)/p.dim()
	yt := make([]float64, s*d) // Phi_S M^-1, then Y^T
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(s, d, phiS), general(d, d, p.minv), 0, general(s, d, yt))
	g := make([]float64, s*s)
	for i := range s {
		g[i*s+i] = 1
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, sign, general(s, d, yt), general(s, d, phiS), 1, general(s, s, g))
	v, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: s, Stride: s, Data: g})
	if !ok {
		// For removal, G = I - H_SS is singular when the samples carry
		// all of the model's information, which rho > 0 rules out up to
		// rounding.
		return nil, nil, errors.New("influence: I ± Phi_S M^-1 Phi_S^T is not positive definite; the ridge is too small")
	}
	blas64.Trsm(blas.Left, blas.Trans, 1, v, general(s, d, yt))
	z = append([]float64(nil), rS...)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, -1, general(s, d, phiS), general(d, c, p.w), 1, general(s, c, z))
	blas64.Trsm(blas.Left, blas.Trans, 1, v, general(s, c, z))
	return yt, z, nil
}

// update returns a copy of p with M^-1 and W updated from woodbury's Y^T
// and Z.
func (p *Primal) update(yt, z []float64, sign float64) *Primal {
	d, c, s := p.dim(), p.Classes, len(z)/p.Classes
	out := &Primal{Classes: c, Features: p.Features, Ridge: p.Ridge, next: p.next,
		minv: append([]float64(nil), p.minv...), w: append([]float64(nil), p.w...)}
	blas64.Gemm(blas.Trans, blas.NoTrans, -sign, general(s, d, yt), general(s, d, yt), 1, general(d, d, out.minv))
	blas64.Gemm(blas.Trans, blas.NoTrans, sign, general(s, d, yt), general(s, c, z), 1, general(d, c, out.w))
	return out
}

// RemovalEffect returns the exact change f_c(x_t) - f_-S,c(x_t) [T*C] of
// every test output when the samples at positions idx are removed together
// and the head is re-solved: phi(x)^T (W - W_-S), with W - W_-S =
// M^-1 Phi_S^T (I - Phi_S M^-1 Phi_S^T)^-1 (R_S - Phi_S W).
func (p *Primal) RemovalEffect(testFeatures []float32, idx []int) ([]float64, error) {
	pt, err := p.design(testFeatures, "test feature")
	if err != nil {
		return nil, err
	}
	sel, _, err := splitRows(idx, p.N, 1)
	if err != nil {
		return nil, err
	}
	d, c, s, t := p.dim(), p.Classes, len(sel), len(pt)/p.dim()
	yt, z, err := p.woodbury(p.rowsOf(p.phi, d, sel), p.rowsOf(p.res, c, sel), -1)
	if err != nil {
		return nil, err
	}
	delta := make([]float64, d*c) // W - W_-S = Y Z
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(s, d, yt), general(s, c, z), 0, general(d, c, delta))
	out := make([]float64, t*c)
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, general(t, d, pt), general(d, c, delta), 0, general(t, c, out))
	return out, nil
}

// Remove returns the Primal of the samples left after removing those at
// positions idx (exact unlearning, same rho), by the rank-|S| Woodbury
// downdate M_-S^-1 = M^-1 + M^-1 Phi_S^T (I - Phi_S M^-1 Phi_S^T)^-1
// Phi_S M^-1 and W_-S as in RemovalEffect, O(|S| F^2 + N F). The kept
// samples keep their order; Indices maps positions to ids. p is unchanged.
func (p *Primal) Remove(idx []int) (*Primal, error) {
	sel, rest, err := splitRows(idx, p.N, 1)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("influence: cannot remove all %d samples", p.N)
	}
	d, c := p.dim(), p.Classes
	yt, z, err := p.woodbury(p.rowsOf(p.phi, d, sel), p.rowsOf(p.res, c, sel), -1)
	if err != nil {
		return nil, err
	}
	out := p.update(yt, z, -1)
	out.N = len(rest)
	out.phi, out.res = p.rowsOf(p.phi, d, rest), p.rowsOf(p.res, c, rest)
	for _, i := range rest {
		out.indices = append(out.indices, p.indices[i])
	}
	return out, nil
}

// Add returns the Primal of the current samples followed by new ones with
// features [m, F] and residuals r [m*C] (incremental learning, same rho),
// by the rank-m Woodbury update M'^-1 = M^-1 - M^-1 Phi_A^T (I +
// Phi_A M^-1 Phi_A^T)^-1 Phi_A M^-1, O(m F^2 + N F). The new samples get
// the positions N..N+m-1 and fresh ids (see Indices). p is unchanged.
func (p *Primal) Add(features []float32, r []float64) (*Primal, error) {
	phiA, err := p.design(features, "added feature")
	if err != nil {
		return nil, err
	}
	m, c := len(phiA)/p.dim(), p.Classes
	if len(r) != m*c {
		return nil, fmt.Errorf("influence: %d residuals for %d added samples of %d classes; want %d", len(r), m, c, m*c)
	}
	if err := checkFinite("added residuals", r); err != nil {
		return nil, err
	}
	yt, z, err := p.woodbury(phiA, r, 1)
	if err != nil {
		return nil, err
	}
	out := p.update(yt, z, 1)
	out.N = p.N + m
	out.phi = append(append([]float64(nil), p.phi...), phiA...)
	out.res = append(append([]float64(nil), p.res...), r...)
	out.indices = append([]int(nil), p.indices...)
	for j := range m {
		out.indices = append(out.indices, p.next+j)
	}
	out.next = p.next + m
	return out, nil
}

// rowsOf gathers the rows idx of the row-major x with w columns.
func (p *Primal) rowsOf(x []float64, w int, idx []int) []float64 {
	out := make([]float64, 0, len(idx)*w)
	for _, i := range idx {
		out = append(out, x[i*w:(i+1)*w]...)
	}
	return out
}
