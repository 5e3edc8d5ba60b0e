package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
)

// Tests of openblasBLAS and openblasLAPACK against gonum's own routines on
// the same inputs. Every matrix has a leading dimension larger than its
// width and exactly the length gonum requires; the padding, the triangle a
// routine must not reference and a unit diagonal hold NaN. A wrong
// transposition, stride or triangle then reads NaN or writes where gonum
// does not, and the results differ.

// Odd, unequal sizes of the comparisons, above the sizes that openblasBLAS
// leaves to gonum (small3, small2): level 3 with m x n results and inner
// dimension k, level 2 on m2 x n2 matrices.
const (
	tm, tn, tk = 37, 53, 29
	tm2, tn2   = 257, 263
)

// needOpenBLAS returns the loaded OpenBLAS or skips the test.
func needOpenBLAS(t *testing.T) *openblasLib {
	t.Helper()
	lib, err := loadedOpenBLAS()
	if err != nil {
		t.Skipf("OpenBLAS not found, nothing to compare gonum with: %v", err)
	}
	return lib
}

// needLAPACKE returns the loaded LAPACKE or skips the test.
func needLAPACKE(t *testing.T) *lapackeLib {
	t.Helper()
	if lib := needOpenBLAS(t); lib.lapacke != nil {
		return lib.lapacke
	}
	t.Skip("LAPACKE not found (liblapacke), nothing to compare gonum's LAPACK with")
	return nil
}

// general returns a rows x cols matrix of stride ld (ld > cols), of the
// length gonum requires, with Gaussian entries and NaN padding.
func general(rng *rand.Rand, rows, cols, ld int) []float64 {
	a := make([]float64, (rows-1)*ld+cols)
	for i := range a {
		a[i] = math.NaN()
		if i%ld < cols {
			a[i] = rng.NormFloat64()
		}
	}
	return a
}

// triangular returns an n x n triangular matrix (triangle ul) of stride ld
// and condition number near 1: diagonal 1 + |g|, off-diagonal entries
// g / (2 sqrt(n)). The other triangle, the padding and, when unit, the
// diagonal are NaN. With both triangles set (ul == blas.All) it is a
// symmetric matrix.
func triangular(rng *rand.Rand, n, ld int, ul blas.Uplo, unit bool) []float64 {
	a := make([]float64, (n-1)*ld+n)
	for i := range a {
		a[i] = math.NaN()
	}
	for i := range n {
		for j := range n {
			switch {
			case i == j && !unit:
				a[i*ld+j] = 1 + math.Abs(rng.NormFloat64())
			case i < j && ul != blas.Lower, i > j && ul != blas.Upper:
				a[i*ld+j] = rng.NormFloat64() / (2 * math.Sqrt(float64(n)))
			}
		}
	}
	if ul == blas.All {
		for i := range n {
			for j := range i {
				a[i*ld+j] = a[j*ld+i]
			}
		}
	}
	return a
}

// vector returns n Gaussian values at increment inc, NaN between them.
func vector(rng *rand.Rand, n, inc int) []float64 {
	x := make([]float64, (n-1)*absInt(inc)+1)
	for i := range x {
		x[i] = math.NaN()
		if i%absInt(inc) == 0 {
			x[i] = rng.NormFloat64()
		}
	}
	return x
}

// agree fails t unless got and want are NaN at the same places and
// max |got - want| / max |want| <= 1e-9 elsewhere.
func agree(t *testing.T, name string, got, want []float64) {
	t.Helper()
	var num, den float64
	for i := range want {
		if gn, wn := math.IsNaN(got[i]), math.IsNaN(want[i]); gn || wn {
			if gn != wn {
				t.Errorf("%s: element %d is %g, gonum's %g", name, i, got[i], want[i])
				return
			}
			continue
		}
		num = math.Max(num, math.Abs(got[i]-want[i]))
		den = math.Max(den, math.Abs(want[i]))
	}
	if num > 1e-9*den {
		t.Errorf("%s: max |openblas - gonum| / max |gonum| = %.3g", name, num/den)
	}
}

var (
	transposes = []blas.Transpose{blas.NoTrans, blas.Trans}
	uplos      = []blas.Uplo{blas.Upper, blas.Lower}
	sides      = []blas.Side{blas.Left, blas.Right}
	diags      = []blas.Diag{blas.NonUnit, blas.Unit}
)

// dims returns the rows and columns of op(X) stored r x c.
func dims(t blas.Transpose, r, c int) (int, int) {
	if t == blas.NoTrans {
		return r, c
	}
	return c, r
}

// TestOpenBLASLevel3 compares Dgemm, Dsymm, Dsyrk, Dtrmm and Dtrsm with
// gonum's for every transpose, side, triangle and diagonal, on m x n
// results with inner dimension k, all different and odd, strides wider
// than the matrices.
func TestOpenBLASLevel3(t *testing.T) {
	o, g := openblasBLAS{lib: needOpenBLAS(t)}, gonum.Implementation{}
	if small3(tm, tn, min(tm, tn, tk)) {
		t.Fatal("the sizes compared are left to gonum")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, tA := range transposes {
		for _, tB := range transposes {
			for _, beta := range []float64{-1.3, 0} {
				ar, ac := dims(tA, tm, tk)
				br, bc := dims(tB, tk, tn)
				a, b, c := general(rng, ar, ac, ac+3), general(rng, br, bc, bc+5), general(rng, tm, tn, tn+2)
				want := append([]float64(nil), c...)
				g.Dgemm(tA, tB, tm, tn, tk, 0.7, a, ac+3, b, bc+5, beta, want, tn+2)
				o.Dgemm(tA, tB, tm, tn, tk, 0.7, a, ac+3, b, bc+5, beta, c, tn+2)
				agree(t, fmt.Sprintf("Dgemm(%c, %c, beta %g)", tA, tB, beta), c, want)
			}
		}
	}
	for _, s := range sides {
		for _, ul := range uplos {
			k := map[blas.Side]int{blas.Left: tm, blas.Right: tn}[s]
			a, b, c := triangular(rng, k, k+4, ul, false), general(rng, tm, tn, tn+1), general(rng, tm, tn, tn+6)
			want := append([]float64(nil), c...)
			g.Dsymm(s, ul, tm, tn, 1.1, a, k+4, b, tn+1, 0.4, want, tn+6)
			o.Dsymm(s, ul, tm, tn, 1.1, a, k+4, b, tn+1, 0.4, c, tn+6)
			agree(t, fmt.Sprintf("Dsymm(%c, %c)", s, ul), c, want)
		}
	}
	for _, ul := range uplos {
		for _, tA := range transposes {
			ar, ac := dims(tA, tn, tk)
			a, c := general(rng, ar, ac, ac+2), triangular(rng, tn, tn+3, ul, false)
			want := append([]float64(nil), c...)
			g.Dsyrk(ul, tA, tn, tk, -0.9, a, ac+2, 1.7, want, tn+3)
			o.Dsyrk(ul, tA, tn, tk, -0.9, a, ac+2, 1.7, c, tn+3)
			agree(t, fmt.Sprintf("Dsyrk(%c, %c)", ul, tA), c, want)
		}
	}
	for _, s := range sides {
		for _, ul := range uplos {
			for _, tA := range transposes {
				for _, d := range diags {
					k := map[blas.Side]int{blas.Left: tm, blas.Right: tn}[s]
					a := triangular(rng, k, k+2, ul, d == blas.Unit)
					b := general(rng, tm, tn, tn+4)
					name := fmt.Sprintf("(%c, %c, %c, %c)", s, ul, tA, d)
					want, got := append([]float64(nil), b...), append([]float64(nil), b...)
					g.Dtrmm(s, ul, tA, d, tm, tn, 0.8, a, k+2, want, tn+4)
					o.Dtrmm(s, ul, tA, d, tm, tn, 0.8, a, k+2, got, tn+4)
					agree(t, "Dtrmm"+name, got, want)
					want, got = append(want[:0], b...), append(got[:0], b...)
					g.Dtrsm(s, ul, tA, d, tm, tn, 0.8, a, k+2, want, tn+4)
					o.Dtrsm(s, ul, tA, d, tm, tn, 0.8, a, k+2, got, tn+4)
					agree(t, "Dtrsm"+name, got, want)
				}
			}
		}
	}
}

// TestOpenBLASLevel2 compares Dgemv, Dsymv and Dtrsv with gonum's for every
// transpose, triangle and diagonal, with strides wider than the matrices
// and positive and negative vector increments.
func TestOpenBLASLevel2(t *testing.T) {
	o, g := openblasBLAS{lib: needOpenBLAS(t)}, gonum.Implementation{}
	if small2(tm2, tn2) || small2(tm2, tm2) {
		t.Fatal("the sizes compared are left to gonum")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	incs := [][2]int{{1, 1}, {2, -3}, {-2, 2}}
	for _, tA := range transposes {
		for _, inc := range incs {
			lx, ly := dims(tA, tn2, tm2)
			a, x, y := general(rng, tm2, tn2, tn2+3), vector(rng, lx, inc[0]), vector(rng, ly, inc[1])
			want := append([]float64(nil), y...)
			g.Dgemv(tA, tm2, tn2, 0.6, a, tn2+3, x, inc[0], -0.5, want, inc[1])
			o.Dgemv(tA, tm2, tn2, 0.6, a, tn2+3, x, inc[0], -0.5, y, inc[1])
			agree(t, fmt.Sprintf("Dgemv(%c, incX %d, incY %d)", tA, inc[0], inc[1]), y, want)
		}
	}
	for _, ul := range uplos {
		for _, inc := range incs {
			a, x, y := triangular(rng, tm2, tm2+2, ul, false), vector(rng, tm2, inc[0]), vector(rng, tm2, inc[1])
			want := append([]float64(nil), y...)
			g.Dsymv(ul, tm2, 1.2, a, tm2+2, x, inc[0], 0.3, want, inc[1])
			o.Dsymv(ul, tm2, 1.2, a, tm2+2, x, inc[0], 0.3, y, inc[1])
			agree(t, fmt.Sprintf("Dsymv(%c, incX %d, incY %d)", ul, inc[0], inc[1]), y, want)
		}
		for _, tA := range transposes {
			for _, d := range diags {
				for _, inc := range []int{1, -2} {
					a, x := triangular(rng, tm2, tm2+5, ul, d == blas.Unit), vector(rng, tm2, inc)
					want := append([]float64(nil), x...)
					g.Dtrsv(ul, tA, d, tm2, a, tm2+5, want, inc)
					o.Dtrsv(ul, tA, d, tm2, a, tm2+5, x, inc)
					agree(t, fmt.Sprintf("Dtrsv(%c, %c, %c, incX %d)", ul, tA, d, inc), x, want)
				}
			}
		}
	}
}

// spd returns an n x n symmetric positive definite matrix of stride ld,
// G G^T / n + I for a Gaussian G, with its triangle ul set and NaN in the
// other triangle and the padding.
func spd(rng *rand.Rand, n, ld int, ul blas.Uplo) []float64 {
	g := general(rng, n, n, n+1)
	a := triangular(rng, n, ld, ul, false)
	gonum.Implementation{}.Dsyrk(ul, blas.NoTrans, n, n, 1/float64(n), g, n+1, 0, a, ld)
	for i := range n {
		a[i*ld+i]++
	}
	return a
}

// TestLAPACKE compares Dpotrf, Dpotri and Dtrtri with gonum's for both
// triangles (and diagonals), at an odd order below and one above the
// block sizes of both LAPACKs, strides wider than the matrices; and checks
// that a matrix that is not positive definite fails in both.
func TestLAPACKE(t *testing.T) {
	o, g := openblasLAPACK{lib: needLAPACKE(t)}, gonumlapack.Implementation{}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{tn, 301} {
		for _, ul := range uplos {
			name := fmt.Sprintf("(%c, n %d)", ul, n)
			a := spd(rng, n, n+3, ul)
			want := append([]float64(nil), a...)
			if !g.Dpotrf(ul, n, want, n+3) || !o.Dpotrf(ul, n, a, n+3) {
				t.Fatalf("Dpotrf%s failed on a positive definite matrix", name)
			}
			agree(t, "Dpotrf"+name, a, want)
			g.Dpotri(ul, n, want, n+3)
			if !o.Dpotri(ul, n, a, n+3) {
				t.Fatalf("Dpotri%s failed", name)
			}
			agree(t, "Dpotri"+name, a, want)
			for _, d := range diags {
				a := triangular(rng, n, n+2, ul, d == blas.Unit)
				want := append([]float64(nil), a...)
				g.Dtrtri(ul, d, n, want, n+2)
				if !o.Dtrtri(ul, d, n, a, n+2) {
					t.Fatalf("Dtrtri(%c, %c, n %d) failed on a nonsingular matrix", ul, d, n)
				}
				agree(t, fmt.Sprintf("Dtrtri(%c, %c, n %d)", ul, d, n), a, want)
			}
			a = spd(rng, n, n+3, ul)
			a[(n/2)*(n+3)+n/2] = -1
			if g.Dpotrf(ul, n, append([]float64(nil), a...), n+3) || o.Dpotrf(ul, n, a, n+3) {
				t.Errorf("Dpotrf%s succeeded on a matrix with a negative diagonal entry", name)
			}
		}
	}
}

// TestOpenBLASPanicsLikeGonum: bad arguments panic in Go, with gonum's
// message, before any C call (a C call on them would read or write out of
// bounds). The sizes, q x q for level 3 and r x r for level 2, are large
// enough for OpenBLAS, which a missing check would then call.
func TestOpenBLASPanicsLikeGonum(t *testing.T) {
	lib := needOpenBLAS(t)
	o, g := openblasBLAS{lib: lib}, gonum.Implementation{}
	ol, gl := openblasLAPACK{lib: lib.lapacke}, gonumlapack.Implementation{}
	const q, r = 17, 257
	if small3(q, q, q) || small2(r, r) {
		t.Fatal("the sizes are left to gonum")
	}
	s := func(n int) []float64 { return make([]float64, n) }
	cases := []struct {
		name     string
		openblas func()
		gonum    func()
	}{
		{"Dgemm short c", func() { o.Dgemm(blas.NoTrans, blas.NoTrans, q, q, q, 1, s(q*q), q, s(q*q), q, 0, s(q*q-1), q) },
			func() { g.Dgemm(blas.NoTrans, blas.NoTrans, q, q, q, 1, s(q*q), q, s(q*q), q, 0, s(q*q-1), q) }},
		{"Dgemm lda of A^T", func() { o.Dgemm(blas.Trans, blas.NoTrans, q+1, q, q, 1, s(q*q+q), q, s(q*q), q, 0, s(q*q+q), q) },
			func() { g.Dgemm(blas.Trans, blas.NoTrans, q+1, q, q, 1, s(q*q+q), q, s(q*q), q, 0, s(q*q+q), q) }},
		{"Dgemm short b^T", func() { o.Dgemm(blas.NoTrans, blas.Trans, q, q+1, q, 1, s(q*q), q, s(q*q+q-1), q, 0, s(q*q+q), q+1) },
			func() { g.Dgemm(blas.NoTrans, blas.Trans, q, q+1, q, 1, s(q*q), q, s(q*q+q-1), q, 0, s(q*q+q), q+1) }},
		{"Dgemm illegal transpose", func() { o.Dgemm('X', blas.NoTrans, q, q, q, 1, s(q*q), q, s(q*q), q, 0, s(q*q), q) },
			func() { g.Dgemm('X', blas.NoTrans, q, q, q, 1, s(q*q), q, s(q*q), q, 0, s(q*q), q) }},
		{"Dsyrk short a^T", func() { o.Dsyrk(blas.Upper, blas.Trans, q, q, 1, s(q*q-1), q, 0, s(q*q), q) },
			func() { g.Dsyrk(blas.Upper, blas.Trans, q, q, 1, s(q*q-1), q, 0, s(q*q), q) }},
		{"Dsyrk illegal triangle", func() { o.Dsyrk(blas.All, blas.NoTrans, q, q, 1, s(q*q), q, 0, s(q*q), q) },
			func() { g.Dsyrk(blas.All, blas.NoTrans, q, q, 1, s(q*q), q, 0, s(q*q), q) }},
		{"Dsymm short a", func() { o.Dsymm(blas.Left, blas.Upper, q+1, q, 1, s(q*q+2*q), q+1, s(q*q+q), q, 0, s(q*q+q), q) },
			func() { g.Dsymm(blas.Left, blas.Upper, q+1, q, 1, s(q*q+2*q), q+1, s(q*q+q), q, 0, s(q*q+q), q) }},
		{"Dtrsm illegal side", func() { o.Dtrsm('X', blas.Upper, blas.NoTrans, blas.Unit, q, q, 1, s(q*q), q, s(q*q), q) },
			func() { g.Dtrsm('X', blas.Upper, blas.NoTrans, blas.Unit, q, q, 1, s(q*q), q, s(q*q), q) }},
		{"Dtrsm short a", func() {
			o.Dtrsm(blas.Right, blas.Upper, blas.NoTrans, blas.Unit, q, q+1, 1, s(q*q+2*q), q+1, s(q*q+q), q+1)
		},
			func() {
				g.Dtrsm(blas.Right, blas.Upper, blas.NoTrans, blas.Unit, q, q+1, 1, s(q*q+2*q), q+1, s(q*q+q), q+1)
			}},
		{"Dtrmm short b", func() { o.Dtrmm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, q, q, 1, s(q*q), q, s(q*q-1), q) },
			func() { g.Dtrmm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, q, q, 1, s(q*q), q, s(q*q-1), q) }},
		{"Dgemv short x, negative increment", func() { o.Dgemv(blas.Trans, r, r, 1, s(r*r), r, s(2*r-2), -2, 0, s(r), 1) },
			func() { g.Dgemv(blas.Trans, r, r, 1, s(r*r), r, s(2*r-2), -2, 0, s(r), 1) }},
		{"Dgemv short a", func() { o.Dgemv(blas.NoTrans, r, r, 1, s(r*r-1), r, s(r), 1, 0, s(r), 1) },
			func() { g.Dgemv(blas.NoTrans, r, r, 1, s(r*r-1), r, s(r), 1, 0, s(r), 1) }},
		{"Dsymv short y", func() { o.Dsymv(blas.Upper, r, 1, s(r*r), r, s(r), 1, 0, s(3*r-3), 3) },
			func() { g.Dsymv(blas.Upper, r, 1, s(r*r), r, s(r), 1, 0, s(3*r-3), 3) }},
		{"Dsymv zero increment", func() { o.Dsymv(blas.Upper, r, 1, s(r*r), r, s(r), 0, 0, s(r), 1) },
			func() { g.Dsymv(blas.Upper, r, 1, s(r*r), r, s(r), 0, 0, s(r), 1) }},
		{"Dtrsv short x", func() { o.Dtrsv(blas.Upper, blas.NoTrans, blas.Unit, r, s(r*r), r, s(r-1), 1) },
			func() { g.Dtrsv(blas.Upper, blas.NoTrans, blas.Unit, r, s(r*r), r, s(r-1), 1) }},
		{"Dtrsv bad lda", func() { o.Dtrsv(blas.Upper, blas.NoTrans, blas.Unit, r, s(r*r), r-1, s(r), 1) },
			func() { g.Dtrsv(blas.Upper, blas.NoTrans, blas.Unit, r, s(r*r), r-1, s(r), 1) }},
	}
	if lib.lapacke != nil {
		cases = append(cases, []struct {
			name     string
			openblas func()
			gonum    func()
		}{
			{"Dpotrf short a", func() { ol.Dpotrf(blas.Upper, q, s(q*q-1), q) }, func() { gl.Dpotrf(blas.Upper, q, s(q*q-1), q) }},
			{"Dpotri bad lda", func() { ol.Dpotri(blas.Lower, q, s(q*q), q-1) }, func() { gl.Dpotri(blas.Lower, q, s(q*q), q-1) }},
			{"Dtrtri short a", func() { ol.Dtrtri(blas.Lower, blas.Unit, q, s(q*q+q-2), q+1) }, func() { gl.Dtrtri(blas.Lower, blas.Unit, q, s(q*q+q-2), q+1) }},
			{"Dtrtri illegal diagonal", func() { ol.Dtrtri(blas.Lower, 'X', q, s(q*q), q) }, func() { gl.Dtrtri(blas.Lower, 'X', q, s(q*q), q) }},
		}...)
	}
	for _, c := range cases {
		got, want := panicOf(c.openblas), panicOf(c.gonum)
		if want == nil {
			t.Fatalf("%s: gonum does not panic", c.name)
		}
		if got != want {
			t.Errorf("%s: panics with %v, gonum with %v", c.name, got, want)
		}
	}
}

// panicOf calls f and returns what it panics with (nil if nothing).
func panicOf(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// TestOpenBLASConcurrent calls OpenBLAS's Dgemm and Dpotrf from several
// goroutines at once (each OS thread entering OpenBLAS's thread pool) and
// compares every result with gonum's.
func TestOpenBLASConcurrent(t *testing.T) {
	lib := needOpenBLAS(t)
	o, g := openblasBLAS{lib: lib}, gonum.Implementation{}
	const workers, n = 4, 150
	rng := rand.New(rand.NewPCG(10, 10))
	a, b := general(rng, n, n, n+1), general(rng, n, n, n+1)
	want := general(rng, n, n, n)
	g.Dgemm(blas.NoTrans, blas.Trans, n, n, n, 1, a, n+1, b, n+1, 0, want, n)
	var chol []float64
	if lib.lapacke != nil {
		chol = spd(rng, n, n, blas.Upper)
	}
	got := make([][]float64, workers)
	ok := make([]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 10 {
				got[w] = make([]float64, n*n)
				o.Dgemm(blas.NoTrans, blas.Trans, n, n, n, 1, a, n+1, b, n+1, 0, got[w], n)
				if chol != nil {
					ok[w] = openblasLAPACK{lib: lib.lapacke}.Dpotrf(blas.Upper, n, append([]float64(nil), chol...), n)
				}
			}
		})
	}
	wg.Wait()
	for w := range workers {
		agree(t, fmt.Sprintf("Dgemm of goroutine %d", w), got[w], want)
		if chol != nil && !ok[w] {
			t.Errorf("Dpotrf of goroutine %d failed", w)
		}
	}
}
