package linalg

import (
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// BenchmarkKernelSolve times the kernel-form closed form on random
// Jacobian rows (1,000 rows x 20,000 parameters: Gram matrix, Cholesky,
// J^T alpha) with gonum's pure-Go kernels and, in the same run, with the
// implementation in use (OpenBLAS/LAPACK when built with -tags openblas).
func BenchmarkKernelSolve(b *testing.B) {
	const rows, p = 1000, 20000
	rng := rand.New(rand.NewPCG(1, 1))
	J := make([]float32, rows*p)
	for i := range J {
		J[i] = float32(rng.NormFloat64())
	}
	r := make([]float64, rows)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	run := func(b *testing.B) {
		for range b.N {
			if _, err := SolveKernel(J, rows, p, Gram(J, rows, p), r, 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	impls := []string{"gonum"}
	if HostLinearAlgebra != "gonum" {
		impls = append(impls, HostLinearAlgebra)
	}
	defer useHostLinearAlgebra()
	for _, name := range impls {
		b.Run(name, func(b *testing.B) {
			if name == "gonum" {
				blas64.Use(gonum.Implementation{})
				lapack64.Use(gonumlapack.Implementation{})
			} else {
				useHostLinearAlgebra()
			}
			run(b)
		})
	}
}
