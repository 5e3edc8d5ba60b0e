package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// Gram returns K = J J^T [rows x rows] accumulated in float64, from J
// [rows, p] row-major float32, a block of columns at a time.
func Gram(J []float32, rows, p int) *mat.SymDense {
	k := mat.NewSymDense(rows, nil)
	const block = 2048
	buf := make([]float64, rows*block)
	for start := 0; start < p; start += block {
		w := min(block, p-start)
		b := mat.NewDense(rows, w, buf[:rows*w])
		for i := range rows {
			row := J[i*p+start : i*p+start+w]
			for j, v := range row {
				b.Set(i, j, float64(v))
			}
		}
		k.SymRankK(k, 1, b)
	}
	return k
}

// CrossGram returns Ja Jb^T [ra x rb] accumulated in float64, from Ja
// [ra, p] and Jb [rb, p] row-major float32 (for example the empirical NTK
// between test and training samples).
func CrossGram(Ja []float32, ra int, Jb []float32, rb, p int) *mat.Dense {
	k := mat.NewDense(ra, rb, nil)
	const block = 2048
	bufA, bufB := make([]float64, ra*block), make([]float64, rb*block)
	fill := func(dst []float64, J []float32, rows, start, w int) *mat.Dense {
		m := mat.NewDense(rows, w, dst[:rows*w])
		for i := range rows {
			for j, v := range J[i*p+start : i*p+start+w] {
				m.Set(i, j, float64(v))
			}
		}
		return m
	}
	var prod mat.Dense
	for start := 0; start < p; start += block {
		w := min(block, p-start)
		a, b := fill(bufA, Ja, ra, start, w), fill(bufB, Jb, rb, start, w)
		prod.Reset()
		prod.Mul(a, b.T())
		k.Add(k, &prod)
	}
	return k
}

// ShiftedCholesky factorizes K + ridge I (float64).
func ShiftedCholesky(k *mat.SymDense, ridge float64) (*mat.Cholesky, error) {
	rows := k.SymmetricDim()
	a := mat.NewSymDense(rows, nil)
	a.CopySym(k)
	for i := range rows {
		a.SetSym(i, i, a.At(i, i)+ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(a) {
		return nil, fmt.Errorf("K + ridge I (ridge %g) is not positive definite", ridge)
	}
	return &chol, nil
}

// SolveKernel returns dw = J^T (K + ridge I)^-1 R, the minimizer of
// ||J dw - R||^2 + ridge ||dw||^2 in kernel form, with K = J J^T from Gram
// and R [rows] the residual targets. Everything but J is float64.
func SolveKernel(J []float32, rows, p int, k *mat.SymDense, r []float64, ridge float64) ([]float64, error) {
	if len(r) != rows || ridge <= 0 {
		return nil, fmt.Errorf("SolveKernel: %d targets for %d rows, ridge %g (must be > 0)", len(r), rows, ridge)
	}
	chol, err := ShiftedCholesky(k, ridge)
	if err != nil {
		return nil, err
	}
	var alpha mat.VecDense
	if err := chol.SolveVecTo(&alpha, mat.NewVecDense(rows, append([]float64(nil), r...))); err != nil {
		return nil, err
	}
	dw := make([]float64, p)
	for i := range rows {
		ai := alpha.AtVec(i)
		row := J[i*p : (i+1)*p]
		for j, v := range row {
			dw[j] += ai * float64(v)
		}
	}
	return dw, nil
}
