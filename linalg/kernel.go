package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Gram returns K = J J^T [rows x rows] accumulated in float64, from J
// [rows, p] row-major float32. A block of gramColumns columns of J at a
// time is converted to float64 and multiplied in tiles of gramRows rows
// (Dgemm of the host BLAS, blas64), upper triangle only: about 0.6 of the
// multiply-adds of a full product, and parallel where Dsyrk is not.
func Gram(J []float32, rows, p int) *mat.SymDense {
	k := make([]float64, rows*rows) // upper triangle, row-major
	buf := make([]float64, rows*min(gramColumns, p))
	impl := blas64.Implementation()
	for start := 0; start < p; start += gramColumns {
		w := min(gramColumns, p-start)
		b := toFloat64(buf, J, rows, p, start, w)
		for t := 0; t < rows; t += gramRows {
			n := min(gramRows, rows-t)
			// K[t:t+n, t:] += B[t:t+n] B[t:]^T
			impl.Dgemm(blas.NoTrans, blas.Trans, n, rows-t, w, 1, b[t*w:], w, b[t*w:], w, 1, k[t*rows+t:], rows)
		}
	}
	return mat.NewSymDense(rows, k)
}

// Block sizes of Gram and CrossGram: columns of J converted to float64 at
// a time, and rows per Dgemm tile.
const gramColumns, gramRows = 2048, 512

// toFloat64 writes columns start..start+w of J [rows, p] (row-major
// float32) into dst as a [rows, w] row-major float64 matrix.
func toFloat64(dst []float64, J []float32, rows, p, start, w int) []float64 {
	dst = dst[:rows*w]
	for i := range rows {
		d := dst[i*w : (i+1)*w]
		for j, v := range J[i*p+start : i*p+start+w] {
			d[j] = float64(v)
		}
	}
	return dst
}

// CrossGram returns Ja Jb^T [ra x rb] accumulated in float64, from Ja
// [ra, p] and Jb [rb, p] row-major float32 (for example the empirical NTK
// between test and training samples).
func CrossGram(Ja []float32, ra int, Jb []float32, rb, p int) *mat.Dense {
	k := make([]float64, ra*rb)
	bufA, bufB := make([]float64, ra*min(gramColumns, p)), make([]float64, rb*min(gramColumns, p))
	impl := blas64.Implementation()
	for start := 0; start < p; start += gramColumns {
		w := min(gramColumns, p-start)
		a, b := toFloat64(bufA, Ja, ra, p, start, w), toFloat64(bufB, Jb, rb, p, start, w)
		impl.Dgemm(blas.NoTrans, blas.Trans, ra, rb, w, 1, a, w, b, w, 1, k, rb)
	}
	return mat.NewDense(ra, rb, k)
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

// GramBufferBytes is the float64 work buffer Gram holds besides J and K
// for rows rows of p parameters (a block of columns converted at a time).
func GramBufferBytes(rows, p int) int64 { return int64(rows) * int64(min(gramColumns, p)) * 8 }
