//go:build !openblas

package linalg

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// HostLinearAlgebra names the BLAS/LAPACK implementation in use: gonum's
// pure Go one, unless built with -tags openblas (see openblas.go).
const HostLinearAlgebra = "gonum"

// useHostLinearAlgebra keeps gonum's pure-Go BLAS and LAPACK.
func useHostLinearAlgebra() {
	blas64.Use(gonum.Implementation{})
	lapack64.Use(gonumlapack.Implementation{})
}

// symEigen overwrites a [n x n] (row-major, symmetric) with its
// eigenvectors as columns and fills w with the eigenvalues, ascending.
func symEigen(n int, a, w []float64) bool {
	var e mat.EigenSym
	if !e.Factorize(mat.NewSymDense(n, a), true) {
		return false
	}
	e.Values(w)
	var v mat.Dense
	e.VectorsTo(&v)
	copy(a, v.RawMatrix().Data)
	return true
}
