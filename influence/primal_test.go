package influence

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// pixels is an LQF-FC problem whose features are the raw pixels of real
// mnist-5-9 images, average-pooled pool x pool.
type pixels struct {
	n, t, f, c  int
	train, test []float32 // [n, f], [t, f]
	f0          []float32 // outputs at dw = 0 [n, c]
	labels      []int32
	r           []float64 // alpha Y - f0 [n*c]
	lambda      float64
	ridge       float64 // linalg.RidgeTerm(lambda, n)
}

func loadPixels(t *testing.T, pool, nTrain int) *pixels {
	t.Helper()
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 7, MaxTrain: nTrain, ValPerClass: 1, MaxTest: 6})
	if err != nil {
		t.Fatal(err)
	}
	side := data.Width / pool
	f := side * side
	poolSet := func(s *data.Set) []float32 {
		out := make([]float32, s.Len()*f)
		for i := range s.Len() {
			for j, v := range s.Image(i) {
				y, x := j/data.Width, j%data.Width
				out[i*f+(y/pool)*side+x/pool] += v / float32(pool*pool)
			}
		}
		return out
	}
	px := &pixels{n: sp.Train.Len(), t: sp.Test.Len(), f: f, c: sp.Train.NumClasses,
		train: poolSet(sp.Train), test: poolSet(sp.Test), labels: sp.Train.Labels, lambda: 1e-2}
	// Deterministic outputs at dw = 0 that the head cannot fit exactly.
	px.f0 = make([]float32, px.n*px.c)
	for i := range px.n {
		mean := 0.0
		for _, v := range px.train[i*f : (i+1)*f] {
			mean += float64(v) / float64(f)
		}
		for a := range px.c {
			px.f0[i*px.c+a] = float32(0.3 * math.Sin(float64(a)+20*mean))
		}
	}
	px.r = linalg.Residuals(px.f0, px.labels, px.c, model.DefaultAlpha)
	px.ridge = linalg.RidgeTerm(px.lambda, px.n)
	return px
}

// rows returns the rows of the row-major x (w columns) at idx.
func rowsAt[T any](x []T, w int, idx []int) []T {
	var out []T
	for _, i := range idx {
		out = append(out, x[i*w:(i+1)*w]...)
	}
	return out
}

// fitHead solves (Phi^T Phi + rho I) W = Phi^T R from scratch on the
// samples (mat.Cholesky), Phi = [features, 1]; it returns W [f+1, c].
func fitHead(t *testing.T, px *pixels, samples []int) *mat.Dense {
	t.Helper()
	d := px.f + 1
	phi := mat.NewDense(len(samples), d, nil)
	r := mat.NewDense(len(samples), px.c, nil)
	for x, i := range samples {
		for j := range px.f {
			phi.Set(x, j, float64(px.train[i*px.f+j]))
		}
		phi.Set(x, px.f, 1)
		for a := range px.c {
			r.Set(x, a, px.r[i*px.c+a])
		}
	}
	m := mat.NewSymDense(d, nil)
	m.SymOuterK(1, phi.T())
	for j := range d {
		m.SetSym(j, j, m.At(j, j)+px.ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(m) {
		t.Fatal("Phi^T Phi + rho I not positive definite")
	}
	var rhs, w mat.Dense
	rhs.Mul(phi.T(), r)
	if err := chol.SolveTo(&w, &rhs); err != nil {
		t.Fatal(err)
	}
	return &w
}

// headOutputs returns [x, 1] W [rows*c] for x [rows, f].
func headOutputs(w *mat.Dense, x []float32, f int) []float64 {
	d, c := w.Dims()
	var out []float64
	for i := range len(x) / f {
		for a := range c {
			s := w.At(d-1, a)
			for j := range f {
				s += float64(x[i*f+j]) * w.At(j, a)
			}
			out = append(out, s)
		}
	}
	return out
}

func newPrimal(t *testing.T, px *pixels, samples []int) *Primal {
	t.Helper()
	p, err := NewPrimal(rowsAt(px.train, px.f, samples), px.f, rowsAt(px.r, px.c, samples), px.c, px.ridge)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrimalWeightsMatchSolveLinearHead(t *testing.T) {
	px := loadPixels(t, 2, 30)
	p, err := NewPrimal(px.train, px.f, px.r, px.c, px.ridge)
	if err != nil {
		t.Fatal(err)
	}
	dW, db := p.Weights()
	wantW, wantB, err := linalg.SolveLinearHead(px.train, px.f0, px.labels, px.f, px.c, model.DefaultAlpha, px.lambda)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dW", dW, wantW, 1e-9)
	assertClose(t, "db", db, wantB, 1e-9)
}

// TestPrimalLeaveOneOutMatchesRetraining compares the leave-one-out
// changes of the test and training outputs with refitting the head without
// each sample, with fewer samples than features (pool 2: 196 features, 30
// samples) and more (pool 4: 49 features, 80 samples).
func TestPrimalLeaveOneOutMatchesRetraining(t *testing.T) {
	for _, cfg := range []struct{ pool, n int }{{2, 30}, {4, 80}} {
		t.Run(fmt.Sprintf("pool=%d,n=%d", cfg.pool, cfg.n), func(t *testing.T) {
			px := loadPixels(t, cfg.pool, cfg.n)
			p := newPrimal(t, px, without(px.n))
			loo, err := p.LeaveOneOut(px.test)
			if err != nil {
				t.Fatal(err)
			}
			self, err := p.SelfInfluence()
			if err != nil {
				t.Fatal(err)
			}
			full := fitHead(t, px, without(px.n))
			fullTest, fullTrain := headOutputs(full, px.test, px.f), headOutputs(full, px.train, px.f)
			pred, err := p.Predict(px.test)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "Predict", pred, fullTest, 1e-9)
			var wantLOO, wantSelf []float64
			for i := range px.n {
				w := fitHead(t, px, without(px.n, i))
				wantLOO = append(wantLOO, sub(fullTest, headOutputs(w, px.test, px.f))...)
				own := headOutputs(w, px.train[i*px.f:(i+1)*px.f], px.f)
				wantSelf = append(wantSelf, sub(fullTrain[i*px.c:(i+1)*px.c], own)...)
			}
			assertClose(t, "LeaveOneOut", flat(loo), wantLOO, 1e-9)
			assertClose(t, "SelfInfluence", flat(self), wantSelf, 1e-9)
		})
	}
}

// TestPrimalMatchesKernel checks that the primal form equals the kernel
// form on the equivalent kernel K[(i,c),(j,d)] = (phi_i . phi_j) delta_cd.
func TestPrimalMatchesKernel(t *testing.T) {
	px := loadPixels(t, 4, 40)
	dot := func(a, b []float32) float64 {
		s := 1.0 // the bias column
		for j := range a {
			s += float64(a[j]) * float64(b[j])
		}
		return s
	}
	row := func(x []float32, i int) []float32 { return x[i*px.f : (i+1)*px.f] }
	k := mat.NewSymDense(px.n*px.c, nil)
	for i := range px.n {
		for j := i; j < px.n; j++ {
			v := dot(row(px.train, i), row(px.train, j))
			for a := range px.c {
				k.SetSym(i*px.c+a, j*px.c+a, v)
			}
		}
	}
	kx := mat.NewDense(px.t*px.c, px.n*px.c, nil)
	for s := range px.t {
		for j := range px.n {
			v := dot(row(px.test, s), row(px.train, j))
			for a := range px.c {
				kx.Set(s*px.c+a, j*px.c+a, v)
			}
		}
	}
	e, err := NewExact(k, px.r, px.c, px.ridge)
	if err != nil {
		t.Fatal(err)
	}
	p := newPrimal(t, px, without(px.n))
	got, err := p.LeaveOneOut(px.test)
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.LeaveOneOut(kx)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut", flat(got), flat(want), 1e-9)
	self, err := p.SelfInfluence()
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "SelfInfluence", flat(self), flat(e.SelfInfluence()), 1e-9)
	drop := []int{3, 17, 30}
	gotEffect, err := p.RemovalEffect(px.test, drop)
	if err != nil {
		t.Fatal(err)
	}
	wantEffect, err := e.RemovalEffect(kx, drop)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "RemovalEffect", gotEffect, wantEffect, 1e-9)
}

// TestPrimalRemove checks exact unlearning against refitting the head on
// the remaining samples.
func TestPrimalRemove(t *testing.T) {
	px := loadPixels(t, 2, 30)
	p := newPrimal(t, px, without(px.n))
	drop := []int{11, 2, 7}
	keep := without(px.n, drop...)
	q, err := p.Remove(drop)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Indices(), keep) || q.N != len(keep) {
		t.Fatalf("Indices after Remove = %v (N %d), want %v", q.Indices(), q.N, keep)
	}
	w := fitHead(t, px, keep)
	dW, db := q.Weights()
	assertClose(t, "weights", append(dW, db...), w.RawMatrix().Data, 1e-9)
	pred, err := q.Predict(px.test)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "test outputs", pred, headOutputs(w, px.test, px.f), 1e-9)
	effect, err := p.RemovalEffect(px.test, drop)
	if err != nil {
		t.Fatal(err)
	}
	full := headOutputs(fitHead(t, px, without(px.n)), px.test, px.f)
	assertClose(t, "RemovalEffect", effect, sub(full, headOutputs(w, px.test, px.f)), 1e-9)

	// The downdated M^-1 must match too: compare leave-one-out with a
	// fresh solve, and remove in two steps.
	fresh := newPrimal(t, px, keep)
	got, err := q.LeaveOneOut(px.test)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.LeaveOneOut(px.test)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut after Remove", flat(got), flat(want), 1e-9)
	once, err := p.Remove([]int{2, 7})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := once.Remove([]int{slices.Index(once.Indices(), 11)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(twice.Indices(), keep) {
		t.Fatalf("Indices after two removals = %v, want %v", twice.Indices(), keep)
	}
	dW2, db2 := twice.Weights()
	assertClose(t, "two removals", append(dW2, db2...), append(dW, db...), 1e-9)
}

// TestPrimalAdd checks incremental learning against solving the union:
// samples 9 and 3 are appended to the others.
func TestPrimalAdd(t *testing.T) {
	px := loadPixels(t, 2, 30)
	added := []int{9, 3}
	base := without(px.n, added...)
	p := newPrimal(t, px, base)
	q, err := p.Add(rowsAt(px.train, px.f, added), rowsAt(px.r, px.c, added))
	if err != nil {
		t.Fatal(err)
	}
	if want := without(px.n); !slices.Equal(q.Indices(), want) || q.N != px.n {
		t.Fatalf("Indices after Add = %v (N %d), want %v", q.Indices(), q.N, want)
	}
	order := append(slices.Clone(base), added...)
	w := fitHead(t, px, order)
	dW, db := q.Weights()
	assertClose(t, "weights", append(dW, db...), w.RawMatrix().Data, 1e-9)
	fresh := newPrimal(t, px, order)
	got, err := q.LeaveOneOut(px.test)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.LeaveOneOut(px.test)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "LeaveOneOut after Add", flat(got), flat(want), 1e-9)
	gotSelf, err := q.SelfInfluence()
	if err != nil {
		t.Fatal(err)
	}
	wantSelf, err := fresh.SelfInfluence()
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "SelfInfluence after Add", flat(gotSelf), flat(wantSelf), 1e-9)
}

func TestPrimalBadInputs(t *testing.T) {
	px := loadPixels(t, 4, 12)
	p := newPrimal(t, px, without(px.n))
	nanX := slices.Clone(px.train)
	nanX[5] = float32(math.NaN())
	nanR := slices.Clone(px.r)
	nanR[1] = math.Inf(-1)
	one := px.train[:px.f]
	for name, f := range map[string]func() error{
		"zero features":   func() error { _, err := NewPrimal(px.train, 0, px.r, px.c, px.ridge); return err },
		"zero classes":    func() error { _, err := NewPrimal(px.train, px.f, px.r, 0, px.ridge); return err },
		"ragged features": func() error { _, err := NewPrimal(px.train[1:], px.f, px.r, px.c, px.ridge); return err },
		"no samples":      func() error { _, err := NewPrimal(nil, px.f, nil, px.c, px.ridge); return err },
		"residual count":  func() error { _, err := NewPrimal(px.train, px.f, px.r[1:], px.c, px.ridge); return err },
		"NaN feature":     func() error { _, err := NewPrimal(nanX, px.f, px.r, px.c, px.ridge); return err },
		"Inf residual":    func() error { _, err := NewPrimal(px.train, px.f, nanR, px.c, px.ridge); return err },
		"zero ridge":      func() error { _, err := NewPrimal(px.train, px.f, px.r, px.c, 0); return err },
		"negative ridge":  func() error { _, err := NewPrimal(px.train, px.f, px.r, px.c, -2); return err },
		"LOO ragged":      func() error { _, err := p.LeaveOneOut(px.test[1:]); return err },
		"LOO empty":       func() error { _, err := p.LeaveOneOut(nil); return err },
		"Predict ragged":  func() error { _, err := p.Predict(px.test[2:]); return err },
		"effect index":    func() error { _, err := p.RemovalEffect(px.test, []int{px.n}); return err },
		"effect twice":    func() error { _, err := p.RemovalEffect(px.test, []int{1, 1}); return err },
		"remove negative": func() error { _, err := p.Remove([]int{-1}); return err },
		"remove none":     func() error { _, err := p.Remove(nil); return err },
		"remove all":      func() error { _, err := p.Remove(without(px.n)); return err },
		"add ragged":      func() error { _, err := p.Add(one[1:], make([]float64, px.c)); return err },
		"add residuals":   func() error { _, err := p.Add(one, make([]float64, px.c+1)); return err },
		"add NaN":         func() error { _, err := p.Add(one, nanR[:px.c]); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
