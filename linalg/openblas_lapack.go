package linalg

import (
	"math"

	"gonum.org/v1/gonum/blas"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
)

// lapackeLib holds the LAPACKE routines of LAPACK's C interface, bound at
// run time by loadOpenBLAS. The _work variants take the workspace from the
// caller and, unlike the plain ones, neither scan the input for NaN nor
// copy it, so results and failures follow LAPACK's (and gonum's) rules.
type lapackeLib struct {
	dpotrf func(layout int32, uplo byte, n int32, a []float64, lda int32) int32
	dpotri func(layout int32, uplo byte, n int32, a []float64, lda int32) int32
	dtrtri func(layout int32, uplo, diag byte, n int32, a []float64, lda int32) int32
	dsyevd func(layout int32, jobz, uplo byte, n int32, a []float64, lda int32, w, work []float64, lwork int32, iwork []int32, liwork int32) int32
}

func (lk *lapackeLib) symbols() []symbol {
	return []symbol{
		{&lk.dpotrf, "LAPACKE_dpotrf_work"}, {&lk.dpotri, "LAPACKE_dpotri_work"},
		{&lk.dtrtri, "LAPACKE_dtrtri_work"}, {&lk.dsyevd, "LAPACKE_dsyevd_work"},
	}
}

// lapackColMajor is LAPACK_COL_MAJOR (lapacke.h).
const lapackColMajor = 102

// gonum's panic messages for bad LAPACK arguments (gonum/lapack/gonum).
const (
	lapackBadUplo = "lapack: bad Uplo"
	lapackBadDiag = "lapack: bad Diag"
	lapackBadLdA  = "lapack: bad leading dimension of A"
	lapackShortA  = "lapack: insufficient length of a"
)

// openblasLAPACK is gonum's LAPACK with the Cholesky factorization
// (Dpotrf), the inverse from it (Dpotri) and the triangular inverse
// (Dtrtri) run by LAPACK through LAPACKE; gonum's other routines call the
// host BLAS (blas64), OpenBLAS too.
//
// A row-major n x n matrix of stride lda is, read column-major with
// leading dimension lda, its transpose, so its upper triangle is the
// column-major lower one: each routine calls LAPACK column-major on the
// other triangle, in place, with no copy. That gives what gonum computes:
// the Cholesky factor U (A = U^T U, row-major upper) read column-major is
// L = U^T (A = L L^T); the inverse of A is symmetric; the inverse of T read
// column-major is inv(T^T) = inv(T)^T, which is inv(T) row-major.
type openblasLAPACK struct {
	gonumlapack.Implementation
	lib *lapackeLib
}

// otherTriangle returns the LAPACK uplo of the triangle ul of a row-major
// matrix read column-major, panicking as gonum does on an illegal ul.
func otherTriangle(ul blas.Uplo) byte {
	switch ul {
	case blas.Upper:
		return 'L'
	case blas.Lower:
		return 'U'
	}
	panic(lapackBadUplo)
}

// checkSquare checks a row-major n x n matrix of stride lda (n, lda > 0)
// as gonum's LAPACK does.
func checkSquare(n int, a []float64, lda int) {
	if lda < n {
		panic(lapackBadLdA)
	}
	if len(a) < (n-1)*lda+n {
		panic(lapackShortA)
	}
}

// Dpotrf computes the Cholesky factorization of the symmetric positive
// definite A (its ul triangle), A = U^T U (blas.Upper) or A = L L^T
// (blas.Lower), in place, and reports whether A was positive definite.
func (o openblasLAPACK) Dpotrf(ul blas.Uplo, n int, a []float64, lda int) (ok bool) {
	if !cInts(n, lda) {
		return o.Implementation.Dpotrf(ul, n, a, lda)
	}
	u := otherTriangle(ul)
	checkSquare(n, a, lda)
	return o.lib.dpotrf(lapackColMajor, u, int32(n), a, int32(lda)) == 0
}

// Dpotri overwrites the ul triangle of a, which holds the Cholesky factor
// of A from Dpotrf, with that of A^-1, and reports whether the factor was
// nonsingular.
func (o openblasLAPACK) Dpotri(ul blas.Uplo, n int, a []float64, lda int) (ok bool) {
	if !cInts(n, lda) {
		return o.Implementation.Dpotri(ul, n, a, lda)
	}
	u := otherTriangle(ul)
	checkSquare(n, a, lda)
	return o.lib.dpotri(lapackColMajor, u, int32(n), a, int32(lda)) == 0
}

// Dtrtri overwrites the triangular matrix A (triangle ul, unit diagonal
// or not) with its inverse, and reports whether A was nonsingular (a is
// then unchanged).
func (o openblasLAPACK) Dtrtri(ul blas.Uplo, d blas.Diag, n int, a []float64, lda int) (ok bool) {
	if !cInts(n, lda) {
		return o.Implementation.Dtrtri(ul, d, n, a, lda)
	}
	u := otherTriangle(ul)
	var diag byte
	switch d {
	case blas.NonUnit:
		diag = 'N'
	case blas.Unit:
		diag = 'U'
	default:
		panic(lapackBadDiag)
	}
	checkSquare(n, a, lda)
	return o.lib.dtrtri(lapackColMajor, u, diag, int32(n), a, int32(lda)) == 0
}

// symEigen is symEigen by LAPACK's divide-and-conquer dsyevd, which
// gonum's LAPACK lacks: 5-10x faster than gonum's QR iteration for n in
// the thousands. a holds both triangles, so column-major it is the same
// matrix; dsyevd returns the eigenvectors as its column-major columns,
// transposed in place to row-major ones. The workspace, 2n^2 + 6n + 1
// values, is allocated here; beyond C's int it falls back to gonum.
func (lk *lapackeLib) symEigen(n int, a, w []float64) bool {
	work, iwork := make([]float64, 1), make([]int32, 1)
	if lk.dsyevd(lapackColMajor, 'V', 'L', int32(n), a, int32(n), w, work, -1, iwork, -1) != 0 {
		return false
	}
	if work[0] > math.MaxInt32 || iwork[0] < 1 {
		return gonumSymEigen(n, a, w)
	}
	lwork, liwork := int(work[0]), int(iwork[0])
	work, iwork = make([]float64, lwork), make([]int32, liwork)
	if lk.dsyevd(lapackColMajor, 'V', 'L', int32(n), a, int32(n), w, work, int32(lwork), iwork, int32(liwork)) != 0 {
		return false
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			a[i*n+j], a[j*n+i] = a[j*n+i], a[i*n+j]
		}
	}
	return true
}
