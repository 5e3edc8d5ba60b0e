package linalg

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// openblasLib holds OpenBLAS's CBLAS routines, bound at run time by
// loadOpenBLAS, and LAPACKE's when a library exports them.
type openblasLib struct {
	path string // the shared object of OpenBLAS

	dgemm func(order, tA, tB, m, n, k int32, alpha float64, a []float64, lda int32, b []float64, ldb int32, beta float64, c []float64, ldc int32)
	dsymm func(order, side, uplo, m, n int32, alpha float64, a []float64, lda int32, b []float64, ldb int32, beta float64, c []float64, ldc int32)
	dsyrk func(order, uplo, trans, n, k int32, alpha float64, a []float64, lda int32, beta float64, c []float64, ldc int32)
	dtrmm func(order, side, uplo, tA, diag, m, n int32, alpha float64, a []float64, lda int32, b []float64, ldb int32)
	dtrsm func(order, side, uplo, tA, diag, m, n int32, alpha float64, a []float64, lda int32, b []float64, ldb int32)
	dgemv func(order, tA, m, n int32, alpha float64, a []float64, lda int32, x []float64, incX int32, beta float64, y []float64, incY int32)
	dsymv func(order, uplo, n int32, alpha float64, a []float64, lda int32, x []float64, incX int32, beta float64, y []float64, incY int32)
	dtrsv func(order, uplo, tA, diag, n int32, a []float64, lda int32, x []float64, incX int32)

	lapacke *lapackeLib // nil when no library exports LAPACKE
}

// symbol pairs a C function's name with the Go function variable bound to
// it.
type symbol struct {
	fptr any
	name string
}

func (lib *openblasLib) cblasSymbols() []symbol {
	return []symbol{
		{&lib.dgemm, "cblas_dgemm"}, {&lib.dsymm, "cblas_dsymm"}, {&lib.dsyrk, "cblas_dsyrk"},
		{&lib.dtrmm, "cblas_dtrmm"}, {&lib.dtrsm, "cblas_dtrsm"},
		{&lib.dgemv, "cblas_dgemv"}, {&lib.dsymv, "cblas_dsymv"}, {&lib.dtrsv, "cblas_dtrsv"},
	}
}

// openblasBLAS is gonum's BLAS with its level 2 and 3 routines on dense
// matrices (Dgemm, Dsymm, Dsyrk, Dtrmm, Dtrsm, Dgemv, Dsymv, Dtrsv) run by
// OpenBLAS through CBLAS in row-major layout, which takes gonum's arguments
// in the same order. Each method checks its arguments as gonum does, with
// gonum's panic messages, before any C call, so that bad input panics
// instead of reading or writing out of bounds in C; empty problems,
// dimensions beyond C's int and small problems (small2, small3) go to
// gonum. Level 1 stays gonum's: on vectors a C call costs more than it
// saves.
type openblasBLAS struct {
	gonum.Implementation
	lib *openblasLib
}

// CBLAS enumerations (cblas.h).
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
	cblasUpper    = 121
	cblasLower    = 122
	cblasNonUnit  = 131
	cblasUnit     = 132
	cblasLeft     = 141
	cblasRight    = 142
)

// gonum's panic messages for bad BLAS arguments (gonum/blas/gonum).
const (
	blasBadTrans = "blas: illegal transpose"
	blasBadUplo  = "blas: illegal triangle"
	blasBadDiag  = "blas: illegal diagonal"
	blasBadSide  = "blas: illegal side"
	blasBadLdA   = "blas: bad leading dimension of A"
	blasBadLdB   = "blas: bad leading dimension of B"
	blasBadLdC   = "blas: bad leading dimension of C"
	blasShortA   = "blas: insufficient length of a"
	blasShortB   = "blas: insufficient length of b"
	blasShortC   = "blas: insufficient length of c"
	blasShortX   = "blas: insufficient length of x"
	blasShortY   = "blas: insufficient length of y"
)

// cTrans, cUplo, cDiag and cSide translate gonum's flags to CBLAS's,
// panicking as gonum does on an illegal one.
func cTrans(t blas.Transpose) int32 {
	switch t {
	case blas.NoTrans:
		return cblasNoTrans
	case blas.Trans, blas.ConjTrans:
		return cblasTrans
	}
	panic(blasBadTrans)
}

func cUplo(u blas.Uplo) int32 {
	switch u {
	case blas.Upper:
		return cblasUpper
	case blas.Lower:
		return cblasLower
	}
	panic(blasBadUplo)
}

func cDiag(d blas.Diag) int32 {
	switch d {
	case blas.NonUnit:
		return cblasNonUnit
	case blas.Unit:
		return cblasUnit
	}
	panic(blasBadDiag)
}

func cSide(s blas.Side) int32 {
	switch s {
	case blas.Left:
		return cblasLeft
	case blas.Right:
		return cblasRight
	}
	panic(blasBadSide)
}

// cInts reports whether every value is positive and fits C's int: the
// problem is non-empty and OpenBLAS (32-bit integers) can take it.
func cInts(v ...int) bool {
	for _, x := range v {
		if x <= 0 || x > math.MaxInt32 {
			return false
		}
	}
	return true
}

// cIncs is cInts for vector increments, which may be negative.
func cIncs(v ...int) bool {
	for _, x := range v {
		if x == 0 || x > math.MaxInt32 || x < -math.MaxInt32 {
			return false
		}
	}
	return true
}

// Problems below these sizes go to gonum, whose kernels beat a C call
// there: a call through purego costs about 1 µs, and OpenBLAS may wake its
// threads for it (on 2 cores, OpenBLAS's Dgemv is slower than gonum's up
// to n = 1000, its Dgemm faster from n = 16).
const (
	minLevel3Work = 1 << 12 // multiply-adds m n k of a level 3 routine
	minLevel2Work = 1 << 16 // matrix elements of a level 2 routine
)

// small3 reports whether a level 3 problem of m x n results with inner
// dimension k is small enough for gonum.
func small3(m, n, k int) bool { return m*n < minLevel3Work && m*n*k < minLevel3Work }

// small2 reports whether a level 2 problem on an m x n matrix is small
// enough for gonum.
func small2(m, n int) bool { return m*n < minLevel2Work }

// checkMatrix panics with msg unless a holds a rows x cols row-major
// matrix of stride ld (rows, cols > 0).
func checkMatrix(a []float64, rows, cols, ld int, msg string) {
	if len(a) < (rows-1)*ld+cols {
		panic(msg)
	}
}

// checkVector panics with msg unless x holds n > 0 elements at increment
// inc (negative: the elements in reverse order, as in BLAS).
func checkVector(x []float64, n, inc int, msg string) {
	if (n-1)*absInt(inc) >= len(x) {
		panic(msg)
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Dgemm computes C = alpha op(A) op(B) + beta C with C m x n and op(A)
// m x k (blas.Float64).
func (o openblasBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !cInts(m, n, k, lda, ldb, ldc) {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	ctA, ctB := cTrans(tA), cTrans(tB)
	ar, ac := m, k
	if ctA == cblasTrans {
		ar, ac = k, m
	}
	br, bc := k, n
	if ctB == cblasTrans {
		br, bc = n, k
	}
	switch {
	case lda < ac:
		panic(blasBadLdA)
	case ldb < bc:
		panic(blasBadLdB)
	case ldc < n:
		panic(blasBadLdC)
	}
	checkMatrix(a, ar, ac, lda, blasShortA)
	checkMatrix(b, br, bc, ldb, blasShortB)
	checkMatrix(c, m, n, ldc, blasShortC)
	if small3(m, n, k) {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	o.lib.dgemm(cblasRowMajor, ctA, ctB, int32(m), int32(n), int32(k), alpha, a, int32(lda), b, int32(ldb), beta, c, int32(ldc))
}

// Dsymm computes C = alpha A B + beta C (side blas.Left) or
// C = alpha B A + beta C (blas.Right) with A symmetric (its ul triangle
// referenced) and B, C m x n.
func (o openblasBLAS) Dsymm(s blas.Side, ul blas.Uplo, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if !cInts(m, n, lda, ldb, ldc) {
		o.Implementation.Dsymm(s, ul, m, n, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	cs, cu := cSide(s), cUplo(ul)
	k := orderOfA(cs, m, n)
	switch {
	case lda < k:
		panic(blasBadLdA)
	case ldb < n:
		panic(blasBadLdB)
	case ldc < n:
		panic(blasBadLdC)
	}
	checkMatrix(a, k, k, lda, blasShortA)
	checkMatrix(b, m, n, ldb, blasShortB)
	checkMatrix(c, m, n, ldc, blasShortC)
	if small3(m, n, k) {
		o.Implementation.Dsymm(s, ul, m, n, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	o.lib.dsymm(cblasRowMajor, cs, cu, int32(m), int32(n), alpha, a, int32(lda), b, int32(ldb), beta, c, int32(ldc))
}

// Dsyrk computes the ul triangle of C = alpha A A^T + beta C (tA
// blas.NoTrans, A n x k) or C = alpha A^T A + beta C (A k x n).
func (o openblasBLAS) Dsyrk(ul blas.Uplo, tA blas.Transpose, n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if !cInts(n, k, lda, ldc) {
		o.Implementation.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	cu, ct := cUplo(ul), cTrans(tA)
	ar, ac := n, k
	if ct == cblasTrans {
		ar, ac = k, n
	}
	switch {
	case lda < ac:
		panic(blasBadLdA)
	case ldc < n:
		panic(blasBadLdC)
	}
	checkMatrix(a, ar, ac, lda, blasShortA)
	checkMatrix(c, n, n, ldc, blasShortC)
	if small3(n, n, k) {
		o.Implementation.Dsyrk(ul, tA, n, k, alpha, a, lda, beta, c, ldc)
		return
	}
	o.lib.dsyrk(cblasRowMajor, cu, ct, int32(n), int32(k), alpha, a, int32(lda), beta, c, int32(ldc))
}

// checkTriangular checks the arguments of Dtrmm and Dtrsm (B m x n, A
// triangular of the order of B's side s) and returns them as CBLAS flags.
func checkTriangular(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, a []float64, lda int, b []float64, ldb int) (cs, cu, ct, cd int32) {
	cs, cu, ct, cd = cSide(s), cUplo(ul), cTrans(tA), cDiag(d)
	k := orderOfA(cs, m, n)
	switch {
	case lda < k:
		panic(blasBadLdA)
	case ldb < n:
		panic(blasBadLdB)
	}
	checkMatrix(a, k, k, lda, blasShortA)
	checkMatrix(b, m, n, ldb, blasShortB)
	return cs, cu, ct, cd
}

// orderOfA is the order of the square A of Dsymm, Dtrmm and Dtrsm on
// side cs of an m x n matrix.
func orderOfA(cs int32, m, n int) int {
	if cs == cblasLeft {
		return m
	}
	return n
}

// Dtrmm computes B = alpha op(A) B (side blas.Left) or B = alpha B op(A)
// (blas.Right) with A triangular.
func (o openblasBLAS) Dtrmm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if !cInts(m, n, lda, ldb) {
		o.Implementation.Dtrmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	cs, cu, ct, cd := checkTriangular(s, ul, tA, d, m, n, a, lda, b, ldb)
	if small3(m, n, orderOfA(cs, m, n)) {
		o.Implementation.Dtrmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	o.lib.dtrmm(cblasRowMajor, cs, cu, ct, cd, int32(m), int32(n), alpha, a, int32(lda), b, int32(ldb))
}

// Dtrsm solves op(A) X = alpha B (side blas.Left) or X op(A) = alpha B
// (blas.Right) with A triangular, X overwriting B.
func (o openblasBLAS) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if !cInts(m, n, lda, ldb) {
		o.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	cs, cu, ct, cd := checkTriangular(s, ul, tA, d, m, n, a, lda, b, ldb)
	if small3(m, n, orderOfA(cs, m, n)) {
		o.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	o.lib.dtrsm(cblasRowMajor, cs, cu, ct, cd, int32(m), int32(n), alpha, a, int32(lda), b, int32(ldb))
}

// Dgemv computes y = alpha op(A) x + beta y with A m x n.
func (o openblasBLAS) Dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	if !cInts(m, n, lda) || !cIncs(incX, incY) {
		o.Implementation.Dgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	ct := cTrans(tA)
	if lda < n {
		panic(blasBadLdA)
	}
	lenX, lenY := n, m
	if ct == cblasTrans {
		lenX, lenY = m, n
	}
	checkVector(x, lenX, incX, blasShortX)
	checkVector(y, lenY, incY, blasShortY)
	checkMatrix(a, m, n, lda, blasShortA)
	if small2(m, n) {
		o.Implementation.Dgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	o.lib.dgemv(cblasRowMajor, ct, int32(m), int32(n), alpha, a, int32(lda), x, int32(incX), beta, y, int32(incY))
}

// Dsymv computes y = alpha A x + beta y with A n x n symmetric (its ul
// triangle referenced).
func (o openblasBLAS) Dsymv(ul blas.Uplo, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	if !cInts(n, lda) || !cIncs(incX, incY) {
		o.Implementation.Dsymv(ul, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	cu := cUplo(ul)
	if lda < n {
		panic(blasBadLdA)
	}
	checkMatrix(a, n, n, lda, blasShortA)
	checkVector(x, n, incX, blasShortX)
	checkVector(y, n, incY, blasShortY)
	if small2(n, n) {
		o.Implementation.Dsymv(ul, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	o.lib.dsymv(cblasRowMajor, cu, int32(n), alpha, a, int32(lda), x, int32(incX), beta, y, int32(incY))
}

// Dtrsv solves op(A) x = b with A n x n triangular, x overwriting b.
func (o openblasBLAS) Dtrsv(ul blas.Uplo, tA blas.Transpose, d blas.Diag, n int, a []float64, lda int, x []float64, incX int) {
	if !cInts(n, lda) || !cIncs(incX) {
		o.Implementation.Dtrsv(ul, tA, d, n, a, lda, x, incX)
		return
	}
	cu, ct, cd := cUplo(ul), cTrans(tA), cDiag(d)
	if lda < n {
		panic(blasBadLdA)
	}
	checkMatrix(a, n, n, lda, blasShortA)
	checkVector(x, n, incX, blasShortX)
	if small2(n, n) {
		o.Implementation.Dtrsv(ul, tA, d, n, a, lda, x, incX)
		return
	}
	o.lib.dtrsv(cblasRowMajor, cu, ct, cd, int32(n), a, int32(lda), x, int32(incX))
}
