package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randomSym(n int, seed uint64) *mat.SymDense {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			s.SetSym(i, j, rng.NormFloat64())
		}
	}
	return s
}

// TestSymEigen: V diag(w) V^T rebuilds s, V is orthonormal, the eigenvalues
// ascend and match gonum's mat.EigenSym, and s is left unchanged, on an
// indefinite matrix and on a rank-deficient positive semi-definite one
// (like a K-FAC factor of few samples).
func TestSymEigen(t *testing.T) {
	psd := mat.NewSymDense(40, nil)
	{
		rng := rand.New(rand.NewPCG(2, 2))
		x := mat.NewDense(40, 7, nil)
		for i := range 40 {
			for j := range 7 {
				x.Set(i, j, rng.NormFloat64())
			}
		}
		psd.SymOuterK(1, x)
	}
	for name, s := range map[string]*mat.SymDense{"indefinite": randomSym(60, 1), "psd-rank7": psd} {
		t.Run(name, func(t *testing.T) {
			n := s.SymmetricDim()
			orig := mat.DenseCopyOf(s)
			v, w, err := SymEigen(s)
			if err != nil {
				t.Fatal(err)
			}
			if !mat.Equal(orig, mat.DenseCopyOf(s)) {
				t.Fatal("SymEigen modified its input")
			}
			if !sort.Float64sAreSorted(w) {
				t.Errorf("eigenvalues not ascending: %v", w)
			}
			var e mat.EigenSym
			if !e.Factorize(s, false) {
				t.Fatal("mat.EigenSym failed")
			}
			scale := math.Max(math.Abs(w[0]), math.Abs(w[n-1]))
			for i, x := range e.Values(nil) {
				if math.Abs(x-w[i]) > 1e-10*scale {
					t.Errorf("eigenvalue %d: %g, gonum %g", i, w[i], x)
				}
			}
			var rebuilt, vtv mat.Dense
			rebuilt.Mul(v, mat.NewDiagDense(n, w))
			rebuilt.Mul(&rebuilt, v.T())
			vtv.Mul(v.T(), v)
			for i := range n {
				for j := range n {
					if d := math.Abs(rebuilt.At(i, j) - s.At(i, j)); d > 1e-10*scale {
						t.Fatalf("V diag(w) V^T differs from s at (%d, %d) by %g", i, j, d)
					}
					want := 0.0
					if i == j {
						want = 1
					}
					if d := math.Abs(vtv.At(i, j) - want); d > 1e-10 {
						t.Fatalf("V^T V differs from I at (%d, %d) by %g", i, j, d)
					}
				}
			}
		})
	}
}

// BenchmarkSymEigen compares SymEigen (LAPACK's dsyevd when OpenBLAS and
// LAPACKE are found) with gonum's mat.EigenSym on the same matrices,
// eigenvectors included.
func BenchmarkSymEigen(b *testing.B) {
	for _, n := range []int{500, 1000} {
		s := randomSym(n, 3)
		b.Run(fmt.Sprintf("n=%d/SymEigen-%s", n, HostLinearAlgebra()), func(b *testing.B) {
			for range b.N {
				if _, _, err := SymEigen(s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("n=%d/mat.EigenSym", n), func(b *testing.B) {
			for range b.N {
				var e mat.EigenSym
				if !e.Factorize(s, true) {
					b.Fatal("failed")
				}
			}
		})
	}
}
