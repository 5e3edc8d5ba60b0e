package weightdecay

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
)

// The path equals independent solves (a fresh Cholesky of K + rho I per
// lambda, and linalg.SolveKernel in parameter space) at 5 lambdas.
func TestPathMatchesIndependentSolves(t *testing.T) {
	d := loadNTK(t)
	p, v := newValidation(t, d)
	for _, lambda := range []float64{1e-4, 1e-3, 1e-2, 1e-1, 1} {
		rho := linalg.RidgeTerm(lambda, d.n)
		want := solveFresh(t, d.K, d.r, rho)
		a, err := p.Coefficients(lambda)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "coefficients", a, want, 1e-8)
		pred, err := v.Predict(lambda)
		if err != nil {
			t.Fatal(err)
		}
		wantPred := mulVec(d.Kv, want)
		assertClose(t, "validation predictions", pred, wantPred, 1e-8)
		loss, err := v.Loss(lambda)
		if err != nil {
			t.Fatal(err)
		}
		wantLoss := 0.0
		for i, f := range wantPred {
			wantLoss += (f - d.rv[i]) * (f - d.rv[i])
		}
		wantLoss /= float64(d.m)
		if e := relDiff(loss, wantLoss); !(e <= 1e-8) {
			t.Errorf("lambda %g: validation loss %.12g, direct %.12g (relative %.2g)", lambda, loss, wantLoss, e)
		}
		dw, err := p.Weights(d.J, d.p, lambda)
		if err != nil {
			t.Fatal(err)
		}
		wantDW, err := linalg.SolveKernel(d.J, d.n*d.c, d.p, d.K, d.r, rho)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "dw", dw, wantDW, 1e-8)
	}
}

// The sample-level leave-one-out residuals equal retraining without each
// sample (a fresh Cholesky of the reduced kernel, the same rho).
func TestLOOMatchesRetraining(t *testing.T) {
	d := loadNTK(t)
	p := newPath(t, d)
	c, rows := d.c, d.n*d.c
	for _, lambda := range []float64{1e-2, 1} {
		rho := linalg.RidgeTerm(lambda, d.n)
		want := make([]float64, rows)
		for i := range d.n {
			var keep []int
			for j := range rows {
				if j/c != i {
					keep = append(keep, j)
				}
			}
			sub := mat.NewSymDense(len(keep), nil)
			rs := make([]float64, len(keep))
			for x, jx := range keep {
				for y := x; y < len(keep); y++ {
					sub.SetSym(x, y, d.K.At(jx, keep[y]))
				}
				rs[x] = d.r[jx]
			}
			a := solveFresh(t, sub, rs, rho)
			for o := range c {
				f := 0.0
				for x, jx := range keep {
					f += d.K.At(i*c+o, jx) * a[x]
				}
				want[i*c+o] = d.r[i*c+o] - f
			}
		}
		e, err := p.LOOResiduals(lambda)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "leave-one-out residuals", e, want, 1e-9)
		score, err := p.LOO(lambda)
		if err != nil {
			t.Fatal(err)
		}
		if w := sumSquares(want) / float64(d.n); !(relDiff(score, w) <= 1e-9) {
			t.Errorf("lambda %g: LOO %.12g, retraining %.12g", lambda, score, w)
		}
	}
}

// GCV equals its formula with an explicit inverse of K + rho I.
func TestGCVMatchesExplicitInverse(t *testing.T) {
	d := loadNTK(t)
	p := newPath(t, d)
	rows := d.n * d.c
	for _, lambda := range []float64{1e-3, 1e-1, 10} {
		rho := linalg.RidgeTerm(lambda, d.n)
		A := mat.NewDense(rows, rows, nil)
		A.Copy(d.K)
		for i := range rows {
			A.Set(i, i, A.At(i, i)+rho)
		}
		var inv, H mat.Dense
		if err := inv.Inverse(A); err != nil {
			t.Fatal(err)
		}
		H.Mul(d.K, &inv)
		fit := mulVec(&H, d.r)
		res := 0.0
		for i, f := range fit {
			res += (d.r[i] - f) * (d.r[i] - f)
		}
		nc := float64(rows)
		classical := nc * res / math.Pow(nc-mat.Trace(&H), 2)
		got, err := p.GCV(lambda)
		if err != nil {
			t.Fatal(err)
		}
		if e := relDiff(got, float64(d.c)*classical); !(e <= 1e-9) {
			t.Errorf("lambda %g: GCV %.12g, explicit C x %.12g (relative %.2g)", lambda, got, classical, e)
		}
	}
}

// The Choose functions return the argmin of the scores they return.
func TestChoose(t *testing.T) {
	d := loadNTK(t)
	p, v := newValidation(t, d)
	grid, err := LogGrid(1e-4, 1e2, 25)
	if err != nil {
		t.Fatal(err)
	}
	for name, choose := range map[string]func([]float64) (float64, []float64, error){
		"loo": p.ChooseLOO, "gcv": p.ChooseGCV, "validation": v.Choose,
	} {
		best, scores, err := choose(grid)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for i, s := range scores {
			if s < scores[k] {
				k = i
			}
		}
		if best != grid[k] || k == 0 || k == len(grid)-1 {
			t.Errorf("%s: best %g, argmin of the scores %g (index %d of %d)", name, best, grid[k], k, len(grid))
		}
		t.Logf("%s: best lambda %.3g, score %.5g", name, best, scores[k])
	}
}
