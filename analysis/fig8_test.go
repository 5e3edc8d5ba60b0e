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

// fig8Fake is a seed result with the numbers of seed s (0 or 1).
func fig8Fake(s int) fig8Result {
	f := float64(s)
	grid := []float64{0.01, 0.1, 1}
	return fig8Result{Task: nearTask, TrainSize: 40, ValSize: 25, TestSize: 200, Lambda0: 0.1, Tol: 1e-6, Epochs: 2, LearningRate: 0.01, BatchSize: 10,
		CG: []fig8CG{{Lambda0: 0.1, Lambda: 1, ItersWarm: 10 + 2*s, ItersCold: 20 + 2*s,
			ResidualWarm: []float64{0.1, 1e-7}, ResidualCold: []float64{1, 1e-3, 1e-7}, GapWarm: []float64{0.5, 0}, GapCold: []float64{2, 0.1, 0}}},
		SGD: []fig8SGD{
			{Lambda: 0.1, ExactTestError: 0.2, ScratchError: 0.3 + 0.1*f, WarmError: 0.2, ScratchGaps: []float64{5, 2, 1}, WarmGaps: []float64{0, 0.1, 0.05}},
			{Lambda: 1, ExactTestError: 0.25, ScratchError: 0.3, WarmError: 0.25 + 0.1*f, ScratchGaps: []float64{1, 0.5, 0.2}, WarmGaps: []float64{0.8, 0.4, 0.3}}},
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
		"sgd_warm_minus_scratch_test_error":      ((0.2 - 0.35) + (0.3 - 0.3)) / 2,
		"sgd_warm_minus_exact_test_error":        ((0.2 - 0.2) + (0.3 - 0.25)) / 2,
		"sgd_warm_lower_objective":               1, // at lambda 0.1 only
		"choice_test_error_loo":                  0.25,
		"choice_lambda_log10_loo":                0,
		"choice_decades_from_best_loo":           1,
		"choice_decades_from_best_hypergradient": 0.25,
		"worst_choice_test_loss_excess":          2.5, // LOO and GCV: test loss 3.5 against 1
	} {
		if got := s.Values[key]; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	// 1 CG row, 2 SGD rows, 6 choice rows.
	if len(s.Rows) != 9 || s.Rows[0][2] != "11.0 ± 1.4" || s.Rows[1][3] != "0.3500 ± 0.0707" || s.Rows[3][2] != "10^0.00 ± 0.00" {
		t.Errorf("rows %q", s.Rows)
	}
	if !strings.Contains(s.Finding, "48% fewer iterations") || !strings.Contains(s.Finding, "at 1 of 2 lambdas") || !strings.Contains(s.Finding, fig8LOO) {
		t.Errorf("finding %q", s.Finding)
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
