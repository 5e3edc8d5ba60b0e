package influence

import (
	"math"
	"slices"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/linalg"
)

// ntk is the empirical NTK of a small network on real mnist-5-9 images,
// shared by the kernel-form tests.
type ntk struct {
	n, c, p int
	J       []float32     // training Jacobian rows [n*c, p]
	Jx      []float32     // test Jacobian rows [t*c, p]
	K       *mat.SymDense // [n*c, n*c]
	Kx      *mat.Dense    // test x training [t*c, n*c]
	r       []float64     // residuals [n*c]
	ridge   float64
}

var (
	ntkOnce sync.Once
	ntkData *ntk
	ntkErr  error
)

func loadNTK(t *testing.T) *ntk {
	t.Helper()
	ntkOnce.Do(func() { ntkData, ntkErr = buildNTK() })
	if ntkErr != nil {
		t.Fatal(ntkErr)
	}
	return ntkData
}

func buildNTK() (*ntk, error) {
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	net, sp, err := lqftest.Setup(be, 10, 1, 5)
	if err != nil {
		return nil, err
	}
	k, err := lqftest.NewKernels(be, net, sp.Train, sp.Test)
	if err != nil {
		return nil, err
	}
	n := sp.Train.Len()
	return &ntk{n: n, c: k.C, p: k.P, J: k.J, Jx: k.Jx, K: k.K, Kx: k.Kx, r: k.R, ridge: linalg.RidgeTerm(1e-2, n)}, nil
}

// sampleRows returns the kernel rows (i*c+a) of the samples in order.
func sampleRows(samples []int, c int) []int {
	var rows []int
	for _, i := range samples {
		for a := range c {
			rows = append(rows, i*c+a)
		}
	}
	return rows
}

func without(n int, drop ...int) []int {
	var keep []int
	for i := range n {
		if !slices.Contains(drop, i) {
			keep = append(keep, i)
		}
	}
	return keep
}

// subKernel returns K restricted to the samples (rows and columns), in
// that order.
func subKernel(k *mat.SymDense, c int, samples []int) *mat.SymDense {
	rows := sampleRows(samples, c)
	out := mat.NewSymDense(len(rows), nil)
	for x, jx := range rows {
		for y := x; y < len(rows); y++ {
			out.SetSym(x, y, k.At(jx, rows[y]))
		}
	}
	return out
}

// subCols returns the columns of kx for the samples, in that order.
func subCols(kx mat.Matrix, c int, samples []int) *mat.Dense {
	rows := sampleRows(samples, c)
	m, _ := kx.Dims()
	out := mat.NewDense(m, len(rows), nil)
	for t := range m {
		for y, jy := range rows {
			out.Set(t, y, kx.At(t, jy))
		}
	}
	return out
}

func subVec(r []float64, c int, samples []int) []float64 {
	var out []float64
	for _, j := range sampleRows(samples, c) {
		out = append(out, r[j])
	}
	return out
}

// retrain solves the closed form on the samples from scratch (a fresh
// Cholesky of their kernel system) and returns the coefficients and the
// test predictions k(x)^T a.
func retrain(t *testing.T, d *ntk, samples []int) (coef, pred []float64) {
	t.Helper()
	k := subKernel(d.K, d.c, samples)
	rows := k.SymmetricDim()
	for i := range rows {
		k.SetSym(i, i, k.At(i, i)+d.ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(k) {
		t.Fatal("reduced system not positive definite")
	}
	var a, f mat.VecDense
	if err := chol.SolveVecTo(&a, mat.NewVecDense(rows, subVec(d.r, d.c, samples))); err != nil {
		t.Fatal(err)
	}
	f.MulVec(subCols(d.Kx, d.c, samples), &a)
	return a.RawVector().Data, f.RawVector().Data
}

// assertClose checks max |got - want| <= tol * max |want| (and want != 0).
func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var maxErr, maxVal float64
	for i := range want {
		maxErr = math.Max(maxErr, math.Abs(got[i]-want[i]))
		maxVal = math.Max(maxVal, math.Abs(want[i]))
	}
	t.Logf("%s: max |got - want| = %.3g, max |want| = %.3g", what, maxErr, maxVal)
	if !(maxErr <= tol*maxVal) || maxVal == 0 {
		t.Errorf("%s: max |got - want| = %.3g, max |want| = %.3g (tolerance %.0e relative)", what, maxErr, maxVal, tol)
	}
}

func flat(x [][]float64) []float64 {
	var out []float64
	for _, r := range x {
		out = append(out, r...)
	}
	return out
}

func newExact(t *testing.T, d *ntk, samples []int) *Exact {
	t.Helper()
	e, err := NewExact(subKernel(d.K, d.c, samples), subVec(d.r, d.c, samples), d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// TestLeaveOneOutMatchesRetraining computes the exact leave-one-out change
// of every test output for every training sample with the Woodbury
// identity, and compares it with retraining the LQF closed form without
// that sample (a fresh Cholesky solve of the reduced kernel system), on the
// empirical NTK of a small network and real images.
func TestLeaveOneOutMatchesRetraining(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	loo, err := e.LeaveOneOut(d.Kx)
	if err != nil {
		t.Fatal(err)
	}
	_, full := retrain(t, d, without(d.n))
	pred, err := e.Predict(d.Kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Predict", pred, full, 1e-9)
	var want [][]float64
	for i := range d.n {
		_, p := retrain(t, d, without(d.n, i))
		want = append(want, sub(full, p))
	}
	assertClose(t, "LeaveOneOut", flat(loo), flat(want), 1e-9)
}

// TestSelfInfluence checks the closed form without a test kernel against
// LeaveOneOut with the training kernel as test kernel.
func TestSelfInfluence(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	loo, err := e.LeaveOneOut(mat.DenseCopyOf(d.K))
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for i := range d.n {
		want = append(want, loo[i][i*d.c:(i+1)*d.c]...)
	}
	assertClose(t, "SelfInfluence", flat(e.SelfInfluence()), want, 1e-9)
}

// TestExactRemove checks exact unlearning of a set of samples against
// re-solving the closed form on the remaining samples.
func TestExactRemove(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	before := e.Coefficients()
	drop := []int{6, 1, 4}
	keep := without(d.n, drop...)
	f, err := e.Remove(drop)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Indices(); !slices.Equal(got, keep) || f.N != len(keep) {
		t.Fatalf("Indices after Remove = %v (N %d), want %v", got, f.N, keep)
	}
	assertClose(t, "receiver after Remove", e.Coefficients(), before, 0)

	coef, pred := retrain(t, d, keep)
	assertClose(t, "coefficients", f.Coefficients(), coef, 1e-9)
	kx := subCols(d.Kx, d.c, keep)
	got, err := f.Predict(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "test outputs", got, pred, 1e-9)

	_, full := retrain(t, d, without(d.n))
	effect, err := e.RemovalEffect(d.Kx, drop)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "RemovalEffect", effect, sub(full, pred), 1e-9)

	// The downdated inverse, not only a, must match: compare every query
	// with a fresh factorization of the remaining samples.
	fresh := newExact(t, d, keep)
	looGot, err := f.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	looWant, err := fresh.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut after Remove", flat(looGot), flat(looWant), 1e-9)
	assertClose(t, "SelfInfluence after Remove", flat(f.SelfInfluence()), flat(fresh.SelfInfluence()), 1e-9)

	var jKeep []float32
	for _, row := range sampleRows(keep, d.c) {
		jKeep = append(jKeep, d.J[row*d.p:(row+1)*d.p]...)
	}
	dw, err := f.Weights(jKeep, d.p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := linalg.SolveKernel(jKeep, len(keep)*d.c, d.p, subKernel(d.K, d.c, keep), subVec(d.r, d.c, keep), d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Weights after Remove", dw, want, 1e-9)
}

// TestExactRemoveTwice checks that two removals in sequence equal removing
// the union at once.
func TestExactRemoveTwice(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	once, err := e.Remove([]int{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	pos := slices.Index(once.Indices(), 6)
	twice, err := once.Remove([]int{pos})
	if err != nil {
		t.Fatal(err)
	}
	union, err := e.Remove([]int{6, 1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(twice.Indices(), union.Indices()) {
		t.Fatalf("Indices %v, want %v", twice.Indices(), union.Indices())
	}
	assertClose(t, "coefficients", twice.Coefficients(), union.Coefficients(), 1e-9)
	kx := subCols(d.Kx, d.c, union.Indices())
	a, err := twice.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := union.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut", flat(a), flat(b), 1e-9)
}

// TestExactAdd checks incremental learning against factorizing the union:
// samples 5 and 2 are appended to the others.
func TestExactAdd(t *testing.T) {
	d := loadNTK(t)
	added := []int{5, 2}
	base := without(d.n, added...)
	e := newExact(t, d, base)
	rowsA, rowsB := sampleRows(added, d.c), sampleRows(base, d.c)
	kCross := mat.NewDense(len(rowsA), len(rowsB), nil)
	for x, jx := range rowsA {
		for y, jy := range rowsB {
			kCross.Set(x, y, d.K.At(jx, jy))
		}
	}
	f, err := e.Add(kCross, subKernel(d.K, d.c, added), subVec(d.r, d.c, added))
	if err != nil {
		t.Fatal(err)
	}
	if want := without(d.n); !slices.Equal(f.Indices(), want) || f.N != d.n {
		t.Fatalf("Indices after Add = %v (N %d), want %v", f.Indices(), f.N, want)
	}
	order := append(slices.Clone(base), added...)
	coef, pred := retrain(t, d, order)
	assertClose(t, "coefficients vs retraining", f.Coefficients(), coef, 1e-9)
	fresh := newExact(t, d, order)
	assertClose(t, "coefficients", f.Coefficients(), fresh.Coefficients(), 1e-9)
	kx := subCols(d.Kx, d.c, order)
	got, err := f.Predict(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "test outputs", got, pred, 1e-9)
	looGot, err := f.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	looWant, err := fresh.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut after Add", flat(looGot), flat(looWant), 1e-9)
	assertClose(t, "SelfInfluence after Add", flat(f.SelfInfluence()), flat(fresh.SelfInfluence()), 1e-9)

	// Removing the added samples again recovers the base model.
	back, err := f.Remove([]int{d.n - 2, d.n - 1})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Add then Remove", back.Coefficients(), e.Coefficients(), 1e-9)
}

// TestExactWeights checks dw = J^T a against linalg.SolveKernel.
func TestExactWeights(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := e.Weights(d.J, d.p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := linalg.SolveKernel(d.J, d.n*d.c, d.p, d.K, d.r, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "Weights", dw, want, 1e-9)
}

func TestExactBadInputs(t *testing.T) {
	d := loadNTK(t)
	rows := d.n * d.c
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	var neg mat.SymDense
	neg.ScaleSym(-1, d.K)
	nan := slices.Clone(d.r)
	nan[3] = math.NaN()
	wide := mat.NewDense(2, rows+1, nil)
	for name, f := range map[string]func() error{
		"nil kernel":      func() error { _, err := NewExact(nil, d.r, d.c, d.ridge); return err },
		"zero classes":    func() error { _, err := NewExact(d.K, d.r, 0, d.ridge); return err },
		"classes":         func() error { _, err := NewExact(d.K, d.r, 3, d.ridge); return err },
		"short residuals": func() error { _, err := NewExact(d.K, d.r[1:], d.c, d.ridge); return err },
		"NaN residual":    func() error { _, err := NewExact(d.K, nan, d.c, d.ridge); return err },
		"zero ridge":      func() error { _, err := NewExact(d.K, d.r, d.c, 0); return err },
		"negative ridge":  func() error { _, err := NewExact(d.K, d.r, d.c, -1); return err },
		"NaN ridge":       func() error { _, err := NewExact(d.K, d.r, d.c, math.NaN()); return err },
		"Inf ridge":       func() error { _, err := NewExact(d.K, d.r, d.c, math.Inf(1)); return err },
		"indefinite":      func() error { _, err := NewExact(&neg, d.r, d.c, d.ridge); return err },
		"LOO columns":     func() error { _, err := e.LeaveOneOut(wide); return err },
		"LOO nil":         func() error { _, err := e.LeaveOneOut(nil); return err },
		"Predict columns": func() error { _, err := e.Predict(wide); return err },
		"effect columns":  func() error { _, err := e.RemovalEffect(wide, []int{0}); return err },
		"effect index":    func() error { _, err := e.RemovalEffect(d.Kx, []int{d.n}); return err },
		"effect empty":    func() error { _, err := e.RemovalEffect(d.Kx, nil); return err },
		"remove range":    func() error { _, err := e.Remove([]int{0, d.n}); return err },
		"remove negative": func() error { _, err := e.Remove([]int{-1}); return err },
		"remove twice":    func() error { _, err := e.Remove([]int{2, 3, 2}); return err },
		"remove none":     func() error { _, err := e.Remove(nil); return err },
		"remove all":      func() error { _, err := e.Remove(without(d.n)); return err },
		"weights size":    func() error { _, err := e.Weights(d.J[1:], d.p); return err },
		"weights p":       func() error { _, err := e.Weights(d.J, 0); return err },
		"add nil":         func() error { _, err := e.Add(nil, nil, nil); return err },
		"add cross cols": func() error {
			_, err := e.Add(mat.NewDense(d.c, rows+1, nil), mat.NewSymDense(d.c, nil), make([]float64, d.c))
			return err
		},
		"add cross rows": func() error {
			_, err := e.Add(mat.NewDense(d.c+1, rows, nil), mat.NewSymDense(d.c+1, nil), make([]float64, d.c+1))
			return err
		},
		"add kNew size": func() error {
			_, err := e.Add(mat.NewDense(d.c, rows, nil), mat.NewSymDense(2*d.c, nil), make([]float64, d.c))
			return err
		},
		"add residuals": func() error {
			_, err := e.Add(mat.NewDense(d.c, rows, nil), mat.NewSymDense(d.c, nil), make([]float64, d.c-1))
			return err
		},
		"add indefinite": func() error {
			// kNew = -2 rho I makes the Schur complement negative definite.
			kNew := mat.NewSymDense(d.c, nil)
			for a := range d.c {
				kNew.SetSym(a, a, -2*d.ridge)
			}
			_, err := e.Add(mat.NewDense(d.c, rows, nil), kNew, make([]float64, d.c))
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestLeaveOneOutBlocks checks LeaveOneOut over more test outputs than one
// block, from a test kernel that is a view (stride larger than its width).
func TestLeaveOneOutBlocks(t *testing.T) {
	d := loadNTK(t)
	e, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	small, err := e.LeaveOneOut(d.Kx)
	if err != nil {
		t.Fatal(err)
	}
	m, rows := d.Kx.Dims()
	const big = 600
	wide := mat.NewDense(big, rows+3, nil)
	for t := range big {
		wide.SetRow(t, append(mat.Row(nil, t%m, d.Kx), 7, 7, 7))
	}
	loo, err := e.LeaveOneOut(wide.Slice(0, big, 0, rows).(*mat.Dense))
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for i := range d.n {
		for t := range big {
			want = append(want, small[i][t%m])
		}
	}
	assertClose(t, "LeaveOneOut of a view over 600 outputs", flat(loo), want, 1e-12)
}
