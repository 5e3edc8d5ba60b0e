//go:build openblas

package model

// Built with -tags openblas (and CGO_LDFLAGS="-lopenblas -llapacke", Debian
// packages libopenblas-dev and liblapacke-dev), gonum's host linear algebra
// (Gram matrices, Cholesky, eigendecompositions of K-FAC factors) runs on
// OpenBLAS and LAPACK instead of gonum's pure-Go kernels.

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	blasnetlib "gonum.org/v1/netlib/blas/netlib"
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
