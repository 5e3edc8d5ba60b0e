package linalg

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkKernelSolve times the kernel-form closed form on random
// Jacobian rows (1,000 rows x 20,000 parameters: Gram matrix, Cholesky,
// J^T alpha) with gonum's pure-Go kernels and, in the same run, with
// OpenBLAS when it is found (HostLinearAlgebra).
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
	defer UseHostLinearAlgebra(HostLinearAlgebra())
	for _, name := range []string{"gonum", "openblas"} {
		b.Run(name, func(b *testing.B) {
			if err := UseHostLinearAlgebra(name); err != nil {
				b.Skip(err)
			}
			run(b)
		})
	}
}
