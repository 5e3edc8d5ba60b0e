package weightdecay

import (
	"math"
	"testing"

	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
)

// The exact hypergradient equals central finite differences of the
// validation loss.
func TestHypergradientMatchesFiniteDifferences(t *testing.T) {
	d := loadNTK(t)
	_, v := newValidation(t, d)
	for _, lambda := range []float64{1e-3, 1e-2, 1e-1, 5} {
		g, err := v.Hypergradient(lambda)
		if err != nil {
			t.Fatal(err)
		}
		h := 1e-4 * lambda
		hi, err := v.Loss(lambda + h)
		if err != nil {
			t.Fatal(err)
		}
		lo, err := v.Loss(lambda - h)
		if err != nil {
			t.Fatal(err)
		}
		fd := (hi - lo) / (2 * h)
		e := relDiff(g, fd)
		t.Logf("lambda %g: dL/dlambda %.10g, finite differences %.10g, relative %.2g", lambda, g, fd, e)
		if !(e <= 1e-6) {
			t.Errorf("lambda %g: hypergradient %.10g, finite differences %.10g (relative %.2g > 1e-6)", lambda, g, fd, e)
		}
	}
}

// The K-FAC hypergradient equals its definition evaluated independently:
// dw from linalg.SolveKernel, u = (F_kfac + lambda I)^-1 dw checked by
// applying F_kfac + lambda I back, and the validation residuals from the
// cross kernel. For lambda much larger than F (here its largest eigenvalue
// is about 24) both d dw*/dlambda agree to first order, -dw*/lambda, and
// the relative error of K-FAC's hypergradient falls like |F| / lambda.
func TestHypergradientKFAC(t *testing.T) {
	d := loadNTK(t)
	p, v := newValidation(t, d)
	f, err := kfac.Compute(d.be, d.net, d.train, kfac.Options{BatchSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, lambda := range []float64{1e-2, 1, 1e4} {
		inv, err := f.Invert(lambda)
		if err != nil {
			t.Fatal(err)
		}
		dw, err := p.Weights(d.J, d.p, lambda)
		if err != nil {
			t.Fatal(err)
		}
		got, err := HypergradientKFAC(d.net, inv, dw, d.Jv, d.rv, d.m)
		if err != nil {
			t.Fatal(err)
		}
		rho := linalg.RidgeTerm(lambda, d.n)
		dwRef, err := linalg.SolveKernel(d.J, d.n*d.c, d.p, d.K, d.r, rho)
		if err != nil {
			t.Fatal(err)
		}
		u, err := inv.Apply(d.net, dwRef)
		if err != nil {
			t.Fatal(err)
		}
		back, err := inv.ApplyPower(d.net, u, 1)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "(F_kfac + lambda I) u vs dw", back, dwRef, 1e-9)
		e := mulVec(d.Kv, solveFresh(t, d.K, d.r, rho))
		want := 0.0
		for i := range e {
			ju := 0.0
			for j, x := range d.Jv[i*d.p : (i+1)*d.p] {
				ju += float64(x) * u[j]
			}
			want += (e[i] - d.rv[i]) * -ju
		}
		want *= 2 / float64(d.m)
		if r := relDiff(got, want); !(r <= 1e-8) {
			t.Errorf("lambda %g: K-FAC hypergradient %.10g, definition %.10g (relative %.2g)", lambda, got, want, r)
		}
		exact, err := v.Hypergradient(lambda)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lambda %g: K-FAC hypergradient %.6g, exact %.6g (relative error %.3g)", lambda, got, exact, relDiff(got, exact))
		if lambda >= 1e4 && !(relDiff(got, exact) <= 1e-2) {
			t.Errorf("lambda %g: K-FAC hypergradient %.6g, exact %.6g: relative error %.3g > 1e-2", lambda, got, exact, relDiff(got, exact))
		}
	}
}

// Search lands within one step of a fine grid's minimum, from below and
// from above.
func TestSearch(t *testing.T) {
	d := loadNTK(t)
	_, v := newValidation(t, d)
	grid, err := LogGrid(1e-4, 1e2, 241)
	if err != nil {
		t.Fatal(err)
	}
	gridBest, _, err := v.Choose(grid)
	if err != nil {
		t.Fatal(err)
	}
	logStep := math.Log(grid[1] / grid[0])
	for _, start := range []float64{1e-3, 50} {
		best, traj, err := v.Search(start, 40)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("start %g: %d evaluations, lambda %.6g (grid %.6g), loss %.8g, dL/dlambda %.3g",
			start, len(traj), best.Lambda, gridBest, best.Loss, best.Hypergradient)
		if off := math.Abs(math.Log(best.Lambda / gridBest)); !(off <= logStep) {
			t.Errorf("start %g: search ends at lambda %g, grid minimum %g: %.3g apart in log (grid step %.3g)", start, best.Lambda, gridBest, off, logStep)
		}
		if last := traj[len(traj)-1]; len(traj) >= 40 || math.Abs(last.Lambda*last.Hypergradient) > 1e-6*last.Loss {
			t.Errorf("start %g: not converged after %d evaluations: lambda dL/dlambda = %.3g", start, len(traj), last.Lambda*last.Hypergradient)
		}
	}
}

// Warm-starting conjugate gradients at a(lambda0) needs fewer iterations
// than starting at zero, and both reach the exact a(lambda).
func TestWarmStart(t *testing.T) {
	d := loadNTK(t)
	p := newPath(t, d)
	for _, lambdas := range [][2]float64{{1e-2, 1.1e-2}, {1e-3, 1.2e-3}} {
		res, err := WarmStart(d.K, d.r, d.n, lambdas[0], lambdas[1], 1e-8)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lambda %g -> %g: %d iterations warm, %d cold", lambdas[0], lambdas[1], res.ItersWarm, res.ItersCold)
		if !(res.ItersWarm < res.ItersCold) || !(res.RelResidualWarm <= 1e-8) || !(res.RelResidualCold <= 1e-8) {
			t.Errorf("lambda %g -> %g: %d iterations warm (relative residual %.2g), %d cold (%.2g): want fewer warm, both <= 1e-8",
				lambdas[0], lambdas[1], res.ItersWarm, res.RelResidualWarm, res.ItersCold, res.RelResidualCold)
		}
		want, err := p.Coefficients(lambdas[1])
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "warm-started solution", res.Warm, want, 1e-5)
		assertClose(t, "cold-started solution", res.Cold, want, 1e-5)
		start, _ := p.Coefficients(lambdas[0])
		assertClose(t, "start", res.Start, start, 1e-8)
	}
}
