package influence

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// Exact holds the kernel form of an LQF solution, ready for exact data
// attribution queries. With the empirical NTK K = J J^T of the training
// set (n = N*C rows, row i*C+c for output c of sample i), the ridge rho and
// the residuals r = alpha Y - f0 (n), the optimum has coefficients
//
//	a = A^-1 r,   A = K + rho I,
//
// and test outputs f(x) = f0(x) + k(x)^T a, where k(x)^T is the row of the
// test kernel for that output. Exact keeps the full inverse A^-1 (n x n,
// float64), so every query below is exact, with no refactorization:
//
//   - LeaveOneOut: removing training sample i (its C rows, block I) and
//     re-solving at the same rho changes a test output by the block
//     Woodbury identity
//     f(x) - f_-i(x) = (k(x)^T A^-1)_I [(A^-1)_II]^-1 a_I;
//   - SelfInfluence: the same for the sample's own outputs, which needs no
//     test kernel since K A^-1 = I - rho A^-1;
//   - RemovalEffect: the same for a set S of samples removed together;
//   - Remove and Add: the Exact of fewer or more samples, by downdating or
//     updating A^-1 blockwise (exact unlearning and incremental learning).
//
// Building an Exact costs one Cholesky factorization and inversion in
// place, n^3 flops and one n x n matrix (8 n^2 bytes). At n = 10,000 with
// 100 test outputs, NewExact plus LeaveOneOut take 13 to 17 s with
// OpenBLAS on 2 cores (used when installed, see linalg) and about 200 s with
// gonum's pure Go (BenchmarkExactLeaveOneOut).
//
// Convention: rho is fixed when samples are removed or added (retraining
// minimizes sum_j ||f0_j + J_j dw - alpha y_j||^2 + rho ||dw||^2 over the
// remaining samples); lqf's training objective, a mean over N plus
// lambda/2 ||dw||^2, has rho = lambda N / 2 (linalg.RidgeTerm).
type Exact struct {
	Classes int
	N       int
	Ridge   float64

	ainv    []float64 // A^-1, n x n row-major, both triangles stored
	coef    []float64 // a = A^-1 r, n
	w       []float64 // [(A^-1)_II]^-1 a_I for every sample i, n
	indices []int     // sample ids of the current positions
	next    int       // id of the next added sample
}

// NewExact inverts K + rho I (float64) for N = rows/classes samples of
// classes outputs each, with the kernel k [N*C, N*C] (rows ordered i*C+c)
// and residuals r [N*C]. The samples get ids 0..N-1 (see Indices).
func NewExact(k *mat.SymDense, r []float64, classes int, ridge float64) (*Exact, error) {
	if k == nil {
		return nil, errors.New("influence: nil kernel")
	}
	n := k.SymmetricDim()
	switch {
	case classes < 1:
		return nil, fmt.Errorf("influence: %d classes; need at least 1", classes)
	case n == 0 || n%classes != 0:
		return nil, fmt.Errorf("influence: the kernel has %d rows, not a positive multiple of %d classes", n, classes)
	case len(r) != n:
		return nil, fmt.Errorf("influence: %d residuals for a kernel of %d rows", len(r), n)
	}
	if err := checkRidge(ridge); err != nil {
		return nil, err
	}
	if err := checkFinite("residuals", r); err != nil {
		return nil, err
	}
	// Factorize and invert in place in one buffer: no other n x n copy.
	raw := k.RawSymmetric()
	a := make([]float64, n*n)
	for i := range n {
		copy(a[i*n+i:(i+1)*n], raw.Data[i*raw.Stride+i:i*raw.Stride+n])
		a[i*n+i] += ridge
	}
	if !invertSPD(a, n) {
		return nil, fmt.Errorf("influence: K + rho I (rho %g) is not positive definite; is K a Gram matrix, free of NaN and Inf?", ridge)
	}
	coef := make([]float64, n)
	blas64.Gemv(blas.NoTrans, 1, general(n, n, a), vec(r), 0, vec(coef))
	e := &Exact{Classes: classes, N: n / classes, Ridge: ridge, ainv: a, coef: coef,
		indices: make([]int, n/classes), next: n / classes}
	for i := range e.indices {
		e.indices[i] = i
	}
	return e, e.solveBlocks()
}

// solveBlocks sets w_I = [(A^-1)_II]^-1 a_I for every sample.
func (e *Exact) solveBlocks() error {
	c, n := e.Classes, e.rows()
	e.w = make([]float64, n)
	blk := make([]float64, c*c)
	for i := range e.N {
		o := i * c
		for a := range c {
			copy(blk[a*c:(a+1)*c], e.ainv[(o+a)*n+o:(o+a)*n+o+c])
		}
		copy(e.w[o:o+c], e.coef[o:o+c])
		t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: c, Stride: c, Data: blk})
		if !ok {
			return fmt.Errorf("influence: the diagonal block of (K + rho I)^-1 of sample %d is not positive definite", e.indices[i])
		}
		lapack64.Potrs(t, general(c, 1, e.w[o:o+c]))
	}
	return nil
}

func (e *Exact) rows() int { return e.N * e.Classes }

// Coefficients returns a = (K + rho I)^-1 r [N*C].
func (e *Exact) Coefficients() []float64 { return append([]float64(nil), e.coef...) }

// Indices returns, for each current position 0..N-1, the id of the sample
// there: NewExact numbers its samples 0..N-1, Remove drops the removed
// ones keeping the order, and Add appends ids continuing after the largest
// id ever given, so ids are never reused.
func (e *Exact) Indices() []int { return append([]int(nil), e.indices...) }

// checkTest checks that kTest has one column per training output.
func (e *Exact) checkTest(kTest *mat.Dense) (blas64.General, error) {
	if kTest == nil {
		return blas64.General{}, errors.New("influence: nil test kernel")
	}
	if m, cols := kTest.Dims(); m == 0 || cols != e.rows() {
		return blas64.General{}, fmt.Errorf("influence: the test kernel is %d x %d; want M x %d (one column per training output)", m, cols, e.rows())
	}
	return kTest.RawMatrix(), nil
}

// looBlock is the number of test outputs LeaveOneOut multiplies by A^-1 at
// a time: it bounds its extra memory to looBlock x n values.
const looBlock = 256

// LeaveOneOut takes the test kernel kTest [M, N*C] (row m: k(x_m)^T for
// test output m, for example m = t*C+c) and returns D [N][M] with
// D[i][m] = f(x_m) - f_-i(x_m), the change of every test output when
// training sample i is removed, for every i. It costs one M x n x n
// product (n = N*C) and O(M n), and needs O(n) memory per test output
// besides D.
func (e *Exact) LeaveOneOut(kTest *mat.Dense) ([][]float64, error) {
	kt, err := e.checkTest(kTest)
	if err != nil {
		return nil, err
	}
	n, c, m := e.rows(), e.Classes, kt.Rows
	out := make([][]float64, e.N)
	backing := make([]float64, e.N*m)
	for i := range out {
		out[i] = backing[i*m : (i+1)*m : (i+1)*m]
	}
	v := make([]float64, min(m, looBlock)*n)
	for t0 := 0; t0 < m; t0 += looBlock {
		b := min(looBlock, m-t0)
		kb := blas64.General{Rows: b, Cols: n, Stride: kt.Stride, Data: kt.Data[t0*kt.Stride:]}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, kb, general(n, n, e.ainv), 0, general(b, n, v[:b*n]))
		for t := range b {
			row := v[t*n : (t+1)*n]
			for i := range e.N {
				s := 0.0
				for a, x := range row[i*c : (i+1)*c] {
					s += x * e.w[i*c+a]
				}
				out[i][t0+t] = s
			}
		}
	}
	return out, nil
}

// SelfInfluence returns S [N][C] with S[i][c] = f_c(x_i) - f_-i,c(x_i),
// the change of training sample i's own outputs when it is removed. As
// K A^-1 = I - rho A^-1, it is [(A^-1)_II]^-1 a_I - rho a_I: O(N C), no
// kernel needed.
func (e *Exact) SelfInfluence() [][]float64 {
	c := e.Classes
	out := make([][]float64, e.N)
	for i := range out {
		out[i] = make([]float64, c)
		for a := range c {
			out[i][a] = e.w[i*c+a] - e.Ridge*e.coef[i*c+a]
		}
	}
	return out
}

// Predict returns k(x_m)^T a for each row of kTest [M, N*C]: the change of
// the test outputs from f0 made by the fine-tuning (add f0 to get the
// outputs).
func (e *Exact) Predict(kTest *mat.Dense) ([]float64, error) {
	kt, err := e.checkTest(kTest)
	if err != nil {
		return nil, err
	}
	out := make([]float64, kt.Rows)
	blas64.Gemv(blas.NoTrans, 1, kt, vec(e.coef), 0, vec(out))
	return out, nil
}

// Weights returns the weight change dw = J^T a [p] from the Jacobian rows
// J [N*C, p] (row i*C+c = grad_w f_c(x_i)) of the current samples, in the
// order of Indices: after Remove or Add, pass the rows of the remaining
// and appended samples, not the original J.
func (e *Exact) Weights(J []float32, p int) ([]float64, error) {
	n := e.rows()
	if p < 1 {
		return nil, fmt.Errorf("influence: %d parameters; need at least 1", p)
	}
	if len(J) != n*p {
		return nil, fmt.Errorf("influence: %d Jacobian values for %d rows of %d parameters; want %d", len(J), n, p, n*p)
	}
	dw := make([]float64, p)
	for i, ai := range e.coef {
		for j, v := range J[i*p : (i+1)*p] {
			dw[j] += ai * float64(v)
		}
	}
	return dw, nil
}

// RemovalEffect returns the exact change f(x_m) - f_-S(x_m) of every test
// output (rows of kTest [M, N*C]) when the samples at positions idx are
// removed together and the model is re-solved (group influence):
//
//	(k(x)^T A^-1)_S [(A^-1)_SS]^-1 a_S,
//
// at O(n |S| C + M n) cost.
func (e *Exact) RemovalEffect(kTest *mat.Dense, idx []int) ([]float64, error) {
	kt, err := e.checkTest(kTest)
	if err != nil {
		return nil, err
	}
	rowsS, _, err := splitRows(idx, e.N, e.Classes)
	if err != nil {
		return nil, err
	}
	n, s := e.rows(), len(rowsS)
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	g, ok := solveSubSPD(e.ainv, n, rowsS, gatherVec(e.coef, rowsS))
	if !ok {
		return nil, errors.New("influence: (K + rho I)^-1 restricted to the removed samples is not positive definite")
	}
	// u = (A^-1)_{:,S} g, read as rows S of the symmetric A^-1.
	xs := make([]float64, s*n)
	gather(xs, e.ainv, n, rowsS, all)
	u := make([]float64, n)
	blas64.Gemv(blas.Trans, 1, general(s, n, xs), vec(g), 0, vec(u))
	out := make([]float64, kt.Rows)
	blas64.Gemv(blas.NoTrans, 1, kt, vec(u), 0, vec(out))
	return out, nil
}

// Remove returns the Exact of the samples left after removing those at
// positions idx (exact unlearning, same rho). With S the removed rows and R
// the kept ones, it downdates the inverse blockwise,
//
//	(A_RR)^-1 = (A^-1)_RR - (A^-1)_RS [(A^-1)_SS]^-1 (A^-1)_SR,
//	a'_R      = a_R - (A^-1)_RS [(A^-1)_SS]^-1 a_S,
//
// in O(n^2 |S| C) with no refactorization. The kept samples keep their
// order; Indices maps the new positions to sample ids. e is unchanged.
func (e *Exact) Remove(idx []int) (*Exact, error) {
	rowsS, rowsR, err := splitRows(idx, e.N, e.Classes)
	if err != nil {
		return nil, err
	}
	n, s, nr := e.rows(), len(rowsS), len(rowsR)
	if nr == 0 {
		return nil, fmt.Errorf("influence: cannot remove all %d samples", e.N)
	}
	bss := make([]float64, s*s)
	gather(bss, e.ainv, n, rowsS, rowsS)
	u, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: s, Stride: s, Data: bss})
	if !ok {
		return nil, errors.New("influence: (K + rho I)^-1 restricted to the removed samples is not positive definite")
	}
	// With (A^-1)_SS = U^T U: Y^T = U^-T (A^-1)_SR, so that
	// (A^-1)_RS [(A^-1)_SS]^-1 (A^-1)_SR = Y Y^T.
	yt := make([]float64, s*nr)
	gather(yt, e.ainv, n, rowsS, rowsR)
	blas64.Trsm(blas.Left, blas.Trans, 1, u, general(s, nr, yt))
	z := gatherVec(e.coef, rowsS)
	blas64.Trsv(blas.Trans, u, vec(z))
	coef := gatherVec(e.coef, rowsR)
	blas64.Gemv(blas.Trans, -1, general(s, nr, yt), vec(z), 1, vec(coef))
	ainv := make([]float64, nr*nr)
	gather(ainv, e.ainv, n, rowsR, rowsR)
	blas64.Gemm(blas.Trans, blas.NoTrans, -1, general(s, nr, yt), general(s, nr, yt), 1, general(nr, nr, ainv))

	out := &Exact{Classes: e.Classes, N: nr / e.Classes, Ridge: e.Ridge, ainv: ainv, coef: coef, next: e.next}
	for i := 0; i < nr; i += e.Classes {
		out.indices = append(out.indices, e.indices[rowsR[i]/e.Classes])
	}
	return out, out.solveBlocks()
}

// Add returns the Exact of the current samples followed by m new ones
// (incremental learning, same rho), from kCross [m*C, N*C], the kernel
// between the new samples' outputs and the current ones (in the order of
// Indices), kNew [m*C, m*C], the new samples' kernel, and their residuals
// rNew [m*C]. With B = kCross, D = kNew + rho I and the Schur complement
// S = D - B A^-1 B^T,
//
//	A'^-1 = [A^-1 + A^-1 B^T S^-1 B A^-1,  -A^-1 B^T S^-1]
//	        [-S^-1 B A^-1,                  S^-1         ],
//	a'    = [a - A^-1 B^T z; z],   z = S^-1 (rNew - B a),
//
// in O(n^2 m C) with no refactorization of A. The new samples get the
// positions N..N+m-1 and fresh ids (see Indices). e is unchanged.
func (e *Exact) Add(kCross *mat.Dense, kNew *mat.SymDense, rNew []float64) (*Exact, error) {
	if kCross == nil || kNew == nil {
		return nil, errors.New("influence: nil kernel for the added samples")
	}
	n, c := e.rows(), e.Classes
	mr, cols := kCross.Dims()
	switch {
	case mr == 0 || mr%c != 0 || cols != n:
		return nil, fmt.Errorf("influence: the cross kernel of the added samples is %d x %d; want m*%d x %d", mr, cols, c, n)
	case kNew.SymmetricDim() != mr:
		return nil, fmt.Errorf("influence: the added samples' kernel has %d rows; want %d like the cross kernel", kNew.SymmetricDim(), mr)
	case len(rNew) != mr:
		return nil, fmt.Errorf("influence: %d residuals for %d added outputs", len(rNew), mr)
	}
	if err := checkFinite("added residuals", rNew); err != nil {
		return nil, err
	}
	b := kCross.RawMatrix()
	p := make([]float64, mr*n) // B A^-1
	blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, b, general(n, n, e.ainv), 0, general(mr, n, p))
	sch := make([]float64, mr*mr)
	raw := kNew.RawSymmetric()
	for i := range mr {
		copy(sch[i*mr+i:(i+1)*mr], raw.Data[i*raw.Stride+i:i*raw.Stride+mr])
		sch[i*mr+i] += e.Ridge
	}
	blas64.Gemm(blas.NoTrans, blas.Trans, -1, general(mr, n, p), b, 1, general(mr, mr, sch))
	u, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: mr, Stride: mr, Data: sch})
	if !ok {
		return nil, errors.New("influence: the Schur complement of the added samples is not positive definite; are kCross and kNew consistent with the training kernel?")
	}
	nn := n + mr
	coef := make([]float64, nn)
	copy(coef, e.coef)
	z := coef[n:]
	copy(z, rNew)
	blas64.Gemv(blas.NoTrans, -1, b, vec(e.coef), 1, vec(z))
	lapack64.Potrs(u, general(mr, 1, z))
	blas64.Gemv(blas.Trans, -1, general(mr, n, p), vec(z), 1, vec(coef[:n]))

	ainv := make([]float64, nn*nn)
	for i := range n {
		copy(ainv[i*nn:i*nn+n], e.ainv[i*n:(i+1)*n])
	}
	// With S = U^T U and Q = U^-T B A^-1: A^-1 B^T S^-1 B A^-1 = Q^T Q.
	blas64.Trsm(blas.Left, blas.Trans, 1, u, general(mr, n, p))
	tl := blas64.General{Rows: n, Cols: n, Stride: nn, Data: ainv}
	blas64.Gemm(blas.Trans, blas.NoTrans, 1, general(mr, n, p), general(mr, n, p), 1, tl)
	// U^-1 Q = S^-1 B A^-1 gives the off-diagonal blocks.
	blas64.Trsm(blas.Left, blas.NoTrans, 1, u, general(mr, n, p))
	for j := range mr {
		row := ainv[(n+j)*nn : (n+j)*nn+n]
		for i, v := range p[j*n : (j+1)*n] {
			row[i] = -v
			ainv[i*nn+n+j] = -v
		}
	}
	if _, ok := lapack64.Potri(u); !ok {
		return nil, errors.New("influence: the Schur complement of the added samples is singular")
	}
	symmetrize(sch, mr)
	for j := range mr {
		copy(ainv[(n+j)*nn+n:(n+j+1)*nn], sch[j*mr:(j+1)*mr])
	}

	out := &Exact{Classes: c, N: nn / c, Ridge: e.Ridge, ainv: ainv, coef: coef,
		indices: append(append([]int(nil), e.indices...), make([]int, mr/c)...), next: e.next + mr/c}
	for j := range mr / c {
		out.indices[e.N+j] = e.next + j
	}
	return out, out.solveBlocks()
}

// invertSPD overwrites the upper triangle of the n x n row-major a with the
// inverse of the symmetric positive definite a (Cholesky, then inversion
// from the factor, n^3 flops) and copies it to the lower triangle. It
// reports false if a is not positive definite.
func invertSPD(a []float64, n int) bool {
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: n, Data: a})
	if !ok {
		return false
	}
	if _, ok := lapack64.Potri(t); !ok {
		return false
	}
	symmetrize(a, n)
	return true
}

// symmetrize copies the upper triangle of the n x n row-major a into its
// lower triangle, in tiles to stay in cache.
func symmetrize(a []float64, n int) {
	const tile = 64
	for ib := 0; ib < n; ib += tile {
		for jb := ib; jb < n; jb += tile {
			for i := ib; i < min(ib+tile, n); i++ {
				for j := max(jb, i+1); j < min(jb+tile, n); j++ {
					a[j*n+i] = a[i*n+j]
				}
			}
		}
	}
}

// solveSubSPD returns (a_SS)^-1 b for the principal submatrix of the
// symmetric positive definite n x n a at rows s, or false if it is not
// positive definite.
func solveSubSPD(a []float64, n int, s []int, b []float64) ([]float64, bool) {
	sub := make([]float64, len(s)*len(s))
	gather(sub, a, n, s, s)
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: len(s), Stride: len(s), Data: sub})
	if !ok {
		return nil, false
	}
	lapack64.Potrs(t, general(len(s), 1, b))
	return b, true
}

// splitRows checks the sample positions idx (in [0, n), distinct, at least
// one) and returns the rows (i*c+a) of the selected samples and of the
// others, each in increasing order.
func splitRows(idx []int, n, c int) (sel, rest []int, err error) {
	if len(idx) == 0 {
		return nil, nil, errors.New("influence: no sample indices given")
	}
	mark := make([]bool, n)
	for _, i := range idx {
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("influence: sample index %d out of range [0, %d)", i, n)
		}
		if mark[i] {
			return nil, nil, fmt.Errorf("influence: sample index %d given twice", i)
		}
		mark[i] = true
	}
	sel = make([]int, 0, len(idx)*c)
	rest = make([]int, 0, (n-len(idx))*c)
	for i, m := range mark {
		for a := range c {
			if m {
				sel = append(sel, i*c+a)
			} else {
				rest = append(rest, i*c+a)
			}
		}
	}
	return sel, rest, nil
}

// gather sets dst[p*len(cols)+q] = src[rows[p]*stride+cols[q]], copying
// runs of consecutive columns at once (samples are blocks of C rows).
func gather(dst, src []float64, stride int, rows, cols []int) {
	type run struct{ from, at, len int }
	var runs []run
	for q := 0; q < len(cols); {
		r := q + 1
		for r < len(cols) && cols[r] == cols[r-1]+1 {
			r++
		}
		runs = append(runs, run{cols[q], q, r - q})
		q = r
	}
	w := len(cols)
	for p, i := range rows {
		for _, r := range runs {
			copy(dst[p*w+r.at:p*w+r.at+r.len], src[i*stride+r.from:i*stride+r.from+r.len])
		}
	}
}

func gatherVec(x []float64, idx []int) []float64 {
	out := make([]float64, len(idx))
	for p, i := range idx {
		out[p] = x[i]
	}
	return out
}

func general(rows, cols int, data []float64) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

func vec(x []float64) blas64.Vector { return blas64.Vector{N: len(x), Inc: 1, Data: x} }

func checkRidge(ridge float64) error {
	if !(ridge > 0) || math.IsInf(ridge, 1) {
		return fmt.Errorf("influence: the ridge is %g; it must be finite and > 0", ridge)
	}
	return nil
}

func checkFinite(what string, x []float64) error {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("influence: %s[%d] is %g", what, i, v)
		}
	}
	return nil
}
