//go:build openblas

package linalg

// Built with -tags openblas (and CGO_LDFLAGS="-lopenblas -llapacke", Debian
// packages libopenblas-dev and liblapacke-dev), gonum's host linear algebra
// (Gram matrices, Cholesky, eigendecompositions of K-FAC factors) runs on
// OpenBLAS and LAPACK instead of gonum's pure-Go kernels.

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	blasnetlib "gonum.org/v1/netlib/blas/netlib"
	"gonum.org/v1/netlib/lapack/lapacke"
	lapacknetlib "gonum.org/v1/netlib/lapack/netlib"
)

// HostLinearAlgebra names the BLAS/LAPACK implementation in use.
const HostLinearAlgebra = "openblas"

func init() { useHostLinearAlgebra() }

// useHostLinearAlgebra routes gonum's BLAS and LAPACK calls to OpenBLAS.
func useHostLinearAlgebra() {
	blas64.Use(blasnetlib.Implementation{})
	lapack64.Use(lapacknetlib.Implementation{})
}

// symEigen overwrites a [n x n] (row-major, symmetric) with its
// eigenvectors as columns and fills w with the eigenvalues, ascending:
// LAPACK's dsyevd (divide and conquer), which gonum's LAPACK interface does
// not expose.
func symEigen(n int, a, w []float64) bool {
	work := make([]float64, 1)
	iwork := make([]int32, 1)
	if !lapacke.Dsyevd('V', 'U', n, a, n, w, work, -1, iwork, -1) {
		return false
	}
	lwork, liwork := int(work[0]), int(iwork[0])
	work = make([]float64, lwork)
	iwork = make([]int32, liwork)
	return lapacke.Dsyevd('V', 'U', n, a, n, w, work, lwork, iwork, liwork)
}
