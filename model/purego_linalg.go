//go:build !openblas

package model

import (
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// HostLinearAlgebra names the BLAS/LAPACK implementation in use: gonum's
// pure Go one, unless built with -tags openblas (see openblas.go).
const HostLinearAlgebra = "gonum"

// useHostLinearAlgebra keeps gonum's pure-Go BLAS and LAPACK.
func useHostLinearAlgebra() {
	blas64.Use(gonum.Implementation{})
	lapack64.Use(gonumlapack.Implementation{})
}
