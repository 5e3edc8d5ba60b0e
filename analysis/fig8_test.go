package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/weightdecay"
)

// TestFig8ConjugateGradient checks the recorded conjugate-gradient runs on
// a random kernel against weightdecay.WarmStart and the exact solution.
func TestFig8ConjugateGradient(t *testing.T) {
	const n, c, lambda0, lambda, tol = 6, 3, 0.5, 0.02, 1e-8
	rows := n * c
	rng := rand.New(rand.NewPCG(1, 2))
	a := mat.NewDense(rows, 2*rows, nil)
	for i := range rows {
		for j := range 2 * rows {
			a.Set(i, j, rng.NormFloat64()*math.Pow(3, float64(j%5)))
		}
	}
	k := mat.NewSymDense(rows, nil)
	k.SymOuterK(1, a)
	r := make([]float64, rows)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	path, err := weightdecay.NewPath(k, r, n)
	if err != nil {
		t.Fatal(err)
	}
	a0, _ := path.Coefficients(lambda0)
	star, _ := path.Coefficients(lambda)
	ws, err := weightdecay.WarmStart(k, r, n, lambda0, lambda, tol)
	if err != nil {
		t.Fatal(err)
	}
	rnorm := math.Sqrt(fig8DotSelf(r))
	for _, x := range []struct {
		name  string
		start []float64
		iters int
		res0  float64 // relative residual at the start
	}{{"warm", a0, ws.ItersWarm, math.Abs(linalg.RidgeTerm(lambda0, n)-linalg.RidgeTerm(lambda, n)) * math.Sqrt(fig8DotSelf(a0)) / rnorm},
		{"cold", nil, ws.ItersCold, 1}} {
		res, gaps, err := fig8ConjugateGradient(k, r, n, lambda, x.start, star, tol, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(gaps) || len(res) < 2 {
			t.Fatalf("%s: %d residuals, %d gaps", x.name, len(res), len(gaps))
		}
		if math.Abs(res[0]-x.res0) > 1e-9*x.res0 {
			t.Errorf("%s: start residual %g, want %g", x.name, res[0], x.res0)
		}
		if last := res[len(res)-1]; last > tol {
			t.Errorf("%s: final residual %g > %g", x.name, last, tol)
		}
		if last := gaps[len(gaps)-1]; math.Abs(last) > 1e-9 {
			t.Errorf("%s: final objective gap %g", x.name, last)
		}
		if gaps[0] <= 0 {
			t.Errorf("%s: start gap %g is not positive", x.name, gaps[0])
		}
		if its := len(res) - 1; its < x.iters-2 || its > x.iters+2 {
			t.Errorf("%s: %d iterations, weightdecay.WarmStart %d", x.name, its, x.iters)
		}
		t.Logf("%s: %d iterations (WarmStart %d), start gap %.3g", x.name, len(res)-1, x.iters, gaps[0])
	}
	if _, _, err := fig8ConjugateGradient(k, make([]float64, rows), n, lambda, nil, star, tol, 10); err == nil {
		t.Error("zero residuals accepted")
	}
}

func fig8DotSelf(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v * v
	}
	return s
}

func TestFig8Mean(t *testing.T) {
	got := fig8Mean([][]float64{{1, 0.1}, {1, 0.01, 0}}, 1e-6)
	want := []float64{1, math.Sqrt(0.1 * 0.01), math.Sqrt(0.1 * 1e-6)}
	for i := range want {
		if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("fig8Mean = %v, want %v", got, want)
		}
	}
}

// fig8Fake is a seed result with the numbers of seed s (0 or 1): both
// starts reach the gap at lambda0 = 0.1; at lambda 1 the warm start of
// seed 1 does not.
func fig8Fake(s int) fig8Result {
	f := float64(s)
	grid := []float64{0.01, 0.1, 1}
	warm1 := fig8Run{TestError: 0.25, Gaps: []float64{0.8, 5e-4}, Reached: true, Epochs: 1}
	if s == 1 {
		warm1 = fig8Run{TestError: 0.35, Gaps: []float64{0.8, 0.3, 0.2}}
	}
	return fig8Result{Task: nearTask, TrainSize: 40, ValSize: 25, TestSize: 200, Lambda0: 0.1, Tol: 1e-6, Momentum: 0.9, GapTarget: 1e-3, MaxEpochs: 2, BatchSize: 40,
		GaussNewtonMax: 380 * (1 + f),
		CG: []fig8CG{{Lambda0: 0.1, Lambda: 1, ItersWarm: 10 + 2*s, ItersCold: 20 + 2*s,
			ResidualWarm: []float64{0.1, 1e-7}, ResidualCold: []float64{1, 1e-3, 1e-7}, GapWarm: []float64{0.5, 0}, GapCold: []float64{2, 0.1, 0}}},
		SGD: []fig8SGD{
			{Lambda: 0.1, ExactTestError: 0.2, LambdaMax: 2, LearningRate: 0.95,
				Scratch: fig8Run{TestError: 0.2 + 0.01*f, Gaps: []float64{5, 1e-2, 5e-4}, Reached: true, Epochs: 2},
				Warm:    fig8Run{TestError: 0.2, Gaps: []float64{0}, Reached: true}},
			{Lambda: 1, ExactTestError: 0.25, LambdaMax: 2, LearningRate: 0.95,
				Scratch: fig8Run{TestError: 0.26, Gaps: []float64{1, 0.1, 1e-4}, Reached: true, Epochs: 2}, Warm: warm1}},
		PlainSGD: []fig8SGD{{Lambda: 1, ExactTestError: 0.25, LambdaMax: 400, LearningRate: 0.00475,
			Scratch: fig8Run{TestError: 0.4, Gaps: []float64{1, 0.5}}, Warm: fig8Run{TestError: 0.3, Gaps: []float64{0.8, 0.4}}}},
		Grid: grid, ValLoss: []float64{2, 1, 3}, LOO: []float64{2, 1.5, 1}, GCV: []float64{2, 1.5, 1}, TestLoss: []float64{2, 1, 3 + f},
		TestError: []float64{0.3, 0.2, 0.25},
		Choices: []fig8Choice{{fig8LOO, 1, 3 + f, 0.25}, {fig8GCV, 1, 3 + f, 0.25}, {fig8ValGrid, 0.1, 1, 0.2},
			{fig8Hypergrad, 0.1 * math.Pow(10, 0.5*f), 1 + f, 0.2}, {fig8BestLoss, 0.1, 1, 0.2}, {fig8BestError, 0.1, 1, 0.2}}}
}

func TestSummarizeFig8(t *testing.T) {
	var raw []json.RawMessage
	for s := range 2 {
		b, err := json.Marshal(fig8Fake(s))
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	s, err := summarizeFig8(&Env{Dir: t.TempDir()}, raw)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{
		"cg_iters_warm_1": 11, "cg_iters_cold_1": 21, "cg_fraction_saved": 1 - 11.0/21,
		// Judged pairs: both seeds at lambda 0.1, seed 1 at lambda 1.
		"sgd_kfac_pairs": 4, "sgd_kfac_pairs_reached": 3, "sgd_kfac_warm_reached_fraction": 0.75,
		"sgd_kfac_warm_minus_scratch_test_error":                  (0 - 0.01 - 0.01) / 3,
		"sgd_kfac_max_abs_warm_minus_scratch_test_error":          0.01,
		"sgd_kfac_warm_minus_exact_test_error":                    0,
		"sgd_kfac_epochs_saved":                                   0.5, // lambda 1, seed 1: 1 epoch against 2
		"sgd_kfac_reached_warm_1":                                 0.5,
		"sgd_kfac_epochs_warm_1":                                  1,
		"sgd_kfac_epochs_scratch_1":                               2,
		"sgd_kfac_lambda_max_1":                                   2,
		"sgd_kfac_lr_1":                                           0.95,
		"sgd_kfac_test_error_warm_1":                              0.3,
		"closed_form_test_error_1":                                0.25,
		"sgd_plain_pairs":                                         2,
		"sgd_plain_pairs_reached":                                 0,
		"sgd_plain_warm_reached_fraction":                         0,
		"gauss_newton_lambda_max":                                 570,
		"sgd_legacy_lr_over_limit_max":                            0.01 * 760 / 3.8,
		"sgd_gap_target":                                          1e-3,
		"runs_recorded":                                           1,
		"run_gap/seed-2/SGD+K-FAC at lambda 1 warm from 0.1":      0.2,
		"run_diverged/seed-2/SGD+K-FAC at lambda 1 warm from 0.1": 0,
		"choice_test_error_loo":                                   0.25,
		"choice_lambda_log10_loo":                                 0,
		"choice_decades_from_best_loo":                            1,
		"choice_decades_from_best_hypergradient":                  0.25,
		"worst_choice_test_loss_excess":                           2.5, // LOO and GCV: test loss 3.5 against 1
	} {
		if got, ok := s.Values[key]; !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %g (present %v), want %g", key, got, ok, want)
		}
	}
	// The plain variant's runs are not recorded for validity; no pair of
	// it reached the gap, so it has no comparison.
	for key := range s.Values {
		if strings.Contains(key, "plain") && strings.HasPrefix(key, keyRunGap) {
			t.Errorf("variant run recorded: %s", key)
		}
	}
	if _, ok := s.Values["sgd_plain_warm_minus_scratch_test_error"]; ok {
		t.Error("a comparison of plain SGD without a pair that reached the gap")
	}
	// 1 CG row, 2 SGD + K-FAC rows, 1 plain SGD row, 6 choice rows.
	if len(s.Rows) != 10 || s.Rows[0][2] != "11.0 ± 1.4" || s.Rows[1][3] != "0.2050 ± 0.0071" || s.Rows[4][2] != "10^0.00 ± 0.00" {
		t.Errorf("rows %q", s.Rows)
	}
	if !strings.Contains(s.Finding, "48% fewer iterations") || !strings.Contains(s.Finding, "in 3 of 4 (seed, lambda) pairs") ||
		!strings.Contains(s.Finding, "50% fewer epochs") || !strings.Contains(s.Finding, fig8LOO) {
		t.Errorf("finding %q", s.Finding)
	}
	v := judgeFig8(Measured{values: s.Values})
	if v.Outcome != PartlyReproduced || len(v.Parts) != 4 || v.Parts[0].Holds || !v.Parts[1].Holds || !v.Parts[2].Holds {
		t.Errorf("verdict %s", v)
	}
	if vr := validityOf(s.Values, fig8GapBound); !vr.Valid() || vr.Runs != 8 {
		t.Errorf("validity %s", vr)
	}
	if len(s.Figures) != 4 {
		t.Fatalf("figures %q", s.Figures)
	}
	for _, f := range s.Figures {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s: %v", f, err)
		}
	}
	short := fig8Fake(1)
	short.Choices = short.Choices[:2]
	b, _ := json.Marshal(short)
	if _, err := summarizeFig8(&Env{Dir: t.TempDir()}, []json.RawMessage{raw[0], b}); err == nil {
		t.Error("seeds with different settings were accepted")
	}
}

// TestFig8StepBelowStabilityLimit computes on a small problem the largest
// eigenvalue of LQF's mean-form Hessian H = (2/N) J^T J + lambda I, plain
// and preconditioned by a diagonal P (P^-1/2 H P^-1/2), densely with
// mat.EigenSym, checks fig8TopEigen against it and that fig8LearningRate
// is below heavy ball's limit 2 (1 + m) / lambda_max: full-batch heavy ball
// at that step reaches a relative objective gap of 1e-3 to the closed form,
// while 1.1 times the limit diverges.
func TestFig8StepBelowStabilityLimit(t *testing.T) {
	const n, c, p, lambda, m = 8, 3, 30, 1e-2, 0.9
	rows := n * c
	rng := rand.New(rand.NewPCG(3, 4))
	J := make([]float32, rows*p)
	for i := range rows {
		for j := range p {
			J[i*p+j] = float32(rng.NormFloat64() * math.Pow(2, float64(j%4)))
		}
	}
	r := make([]float64, rows)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	jd := mat.NewDense(rows, p, nil)
	for i := range rows {
		for j := range p {
			jd.Set(i, j, float64(J[i*p+j]))
		}
	}
	h := mat.NewSymDense(p, nil)
	h.SymOuterK(2.0/n, jd.T())
	for j := range p {
		h.SetSym(j, j, h.At(j, j)+lambda)
	}
	diag := make([]float64, p) // the preconditioner P, diagonal
	for j := range diag {
		diag[j] = h.At(j, j) * (0.5 + rng.Float64())
	}
	power := func(v []float64, pw float64) ([]float64, error) {
		out := make([]float64, len(v))
		for j := range v {
			out[j] = math.Pow(diag[j], pw) * v[j]
		}
		return out, nil
	}
	// The optimum: H dw* = (2/N) J^T r.
	var b mat.VecDense
	b.MulVec(jd.T(), mat.NewVecDense(rows, r))
	b.ScaleVec(2.0/n, &b)
	var star mat.VecDense
	var chol mat.Cholesky
	if !chol.Factorize(h) {
		t.Fatal("H is not positive definite")
	}
	if err := chol.SolveVecTo(&star, &b); err != nil {
		t.Fatal(err)
	}
	objective := func(dw []float64) float64 {
		var res mat.VecDense
		res.MulVec(jd, mat.NewVecDense(p, dw))
		res.SubVec(&res, mat.NewVecDense(rows, r))
		return mat.Dot(&res, &res)/n + lambda/2*fig8DotSelf(dw)
	}
	opt := objective(star.RawVector().Data)
	for _, pre := range []struct {
		name  string
		power func(v []float64, pw float64) ([]float64, error)
	}{{"plain", nil}, {"preconditioned", power}} {
		// Dense reference: P^-1/2 H P^-1/2 (P = I for plain).
		op := mat.NewSymDense(p, nil)
		for i := range p {
			for j := i; j < p; j++ {
				x := h.At(i, j)
				if pre.power != nil {
					x /= math.Sqrt(diag[i] * diag[j])
				}
				op.SetSym(i, j, x)
			}
		}
		var eig mat.EigenSym
		if !eig.Factorize(op, false) {
			t.Fatal("eigendecomposition failed")
		}
		want := eig.Values(nil)[p-1]
		got, err := fig8TopEigen(J, p, n, lambda, pre.power, 1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-6*want {
			t.Errorf("%s: lambda_max %g, dense %g", pre.name, got, want)
		}
		limit := 2 * (1 + m) / want
		lr := fig8LearningRate(got, m)
		if !(lr < limit) || math.Abs(lr-fig8StabilityFraction*limit) > 1e-6*limit {
			t.Errorf("%s: learning rate %g against the limit %g", pre.name, lr, limit)
		}
		// Full-batch heavy ball: v <- m v + P^-1 g, dw <- dw - lr v.
		heavyBall := func(lr float64, steps int) (gap float64, epochs int) {
			dw, vel := make([]float64, p), make([]float64, p)
			for k := 1; k <= steps; k++ {
				var g mat.VecDense
				g.MulVec(h, mat.NewVecDense(p, dw))
				g.SubVec(&g, &b)
				d := g.RawVector().Data
				if pre.power != nil {
					d, _ = pre.power(d, -1)
				}
				for j := range dw {
					vel[j] = m*vel[j] + d[j]
					dw[j] -= lr * vel[j]
				}
				gap = (objective(dw) - opt) / opt
				if gap <= 1e-3 || gap > 1e6 || math.IsNaN(gap) {
					return gap, k
				}
			}
			return gap, steps
		}
		gap, epochs := heavyBall(lr, 20000)
		if gap > 1e-3 {
			t.Errorf("%s: heavy ball at lr %g ends at gap %g", pre.name, lr, gap)
		}
		if over, _ := heavyBall(1.1*limit, 20000); !(over > 1e6) && !math.IsNaN(over) {
			t.Errorf("%s: heavy ball above the limit (lr %g) ends at gap %g, not diverged", pre.name, 1.1*limit, over)
		}
		t.Logf("%s: lambda_max %.4g, lr %.4g, gap 1e-3 in %d steps", pre.name, got, lr, epochs)
	}
}

// TestSummarizeFig8UnreachedScratch: a scratch run stopped at the epoch cap
// above the gap target is not compared and its gap does not make the runs
// invalid; a warm start's gap does.
func TestSummarizeFig8UnreachedScratch(t *testing.T) {
	summarize := func(edit func(r *fig8Result)) *Summary {
		var raw []json.RawMessage
		for s := range 2 {
			r := fig8Fake(s)
			if s == 1 {
				edit(&r)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b)
		}
		sum, err := summarizeFig8(&Env{Dir: t.TempDir()}, raw)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	s := summarize(func(r *fig8Result) { r.SGD[1].Scratch = fig8Run{TestError: 0.5, Gaps: []float64{1, 3}} })
	if _, ok := s.Values["run_gap/seed-2/SGD+K-FAC at lambda 1 scratch"]; ok {
		t.Error("the gap of an unreached scratch run is bounded")
	}
	if _, ok := s.Values["run_diverged/seed-2/SGD+K-FAC at lambda 1 scratch"]; !ok {
		t.Error("the unreached scratch run is not recorded")
	}
	if v := validityOf(s.Values, fig8GapBound); !v.Valid() {
		t.Errorf("validity %s", v)
	}
	if got := s.Values["sgd_kfac_reached_scratch_1"]; got != 0.5 {
		t.Errorf("scratch runs reached at lambda 1: %g, want 0.5", got)
	}
	s = summarize(func(r *fig8Result) { r.SGD[1].Warm = fig8Run{TestError: 0.5, Gaps: []float64{1, 3}} })
	if v := validityOf(s.Values, fig8GapBound); v.Valid() {
		t.Errorf("a warm start at gap 3 is valid: %s", v)
	}
	s = summarize(func(r *fig8Result) {
		r.SGD[1].Scratch = fig8Run{TestError: 0.8, Gaps: []float64{1, 1e7}, Diverged: true}
	})
	if v := validityOf(s.Values, fig8GapBound); v.Valid() {
		t.Errorf("a diverged scratch run is valid: %s", v)
	}
}
