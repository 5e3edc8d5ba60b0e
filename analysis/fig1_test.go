package analysis

import (
	"math"
	"testing"

	"github.com/lqf-go/lqf/finetune"
)

// fakeFig1 returns a Fig. 1 seed: Table 1 from fakeTable1 and a 2 x 2 grid
// per method on one task, where LQF's validation error is lqf[i] and
// NLFT's nlft[i] at grid point i (eta-major: (eta0, 8), (eta0, 28),
// (eta1, 8), (eta1, 28)).
func fakeFig1(base float64, lqf, nlft [4]float64, nlftDiverged int) fig1Result {
	t1 := fakeTable1(base)
	r := fig1Result{Table1: &t1}
	etas := map[finetune.Method][]float64{finetune.LQF: {0.001, 0.0001}, finetune.NLFT: {0.03, 0.003}}
	vals := map[finetune.Method][4]float64{finetune.LQF: lqf, finetune.NLFT: nlft}
	for _, m := range fig1Methods {
		i := 0
		for _, eta := range etas[m] {
			for _, b := range []int{8, 28} {
				r.Grid = append(r.Grid, fig1Point{Task: nearTask, Method: string(m), LearningRate: eta, BatchSize: b,
					Momentum: 0.9, ELR: effectiveLR(eta, 0.9, b), ValError: vals[m][i], TestError: vals[m][i],
					Diverged: m == finetune.NLFT && i == nlftDiverged})
				i++
			}
		}
	}
	return r
}

func TestEffectiveLR(t *testing.T) {
	if got := effectiveLR(0.1, 0.9, 28); math.Abs(got-0.1/(0.1*28)) > 1e-15 {
		t.Errorf("ELR %g", got)
	}
}

func TestSummarizeFig1(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	raw := table1RawResults(t,
		fakeFig1(0.1, [4]float64{0.10, 0.12, 0.14, 0.10}, [4]float64{0.8, 0.3, 0.2, 0.5}, 0),
		fakeFig1(0.05, [4]float64{0.12, 0.12, 0.16, 0.10}, [4]float64{0.8, 0.4, 0.2, 0.3}, 0))
	s, err := summarizeFig1(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	table1CheckFigures(t, s, "fig1-left.png", "fig1-right.png")
	// Left: LQF's error is twice NLFT's on every task.
	if got := s.Values["median_relative/lqf"]; math.Abs(got-2) > 1e-12 {
		t.Errorf("LQF relative error %g, want 2", got)
	}
	if got := s.Values["median_relative/fc"]; math.Abs(got-5) > 1e-12 {
		t.Errorf("FC relative error %g, want 5", got)
	}
	// Mean over seeds of LQF: 0.11, 0.12, 0.15, 0.10 -> range 0.05, best
	// (0.0001, 28).
	if got := s.Values["range/fashion-5-9/lqf"]; math.Abs(got-0.05) > 1e-12 {
		t.Errorf("LQF range %g, want 0.05", got)
	}
	if got, want := s.Values["best_elr/fashion-5-9/lqf"], effectiveLR(0.0001, 0.9, 28); math.Abs(got-want) > 1e-15 {
		t.Errorf("LQF best ELR %g, want %g", got, want)
	}
	// NLFT: 0.8, 0.35, 0.2, 0.4 -> range 0.6, best (0.003, 8).
	if got := s.Values["range/fashion-5-9/nlft"]; math.Abs(got-0.6) > 1e-12 {
		t.Errorf("NLFT range %g, want 0.6", got)
	}
	if got, want := s.Values["best_elr/fashion-5-9/nlft"], effectiveLR(0.003, 0.9, 8); math.Abs(got-want) > 1e-15 {
		t.Errorf("NLFT best ELR %g, want %g", got, want)
	}
	if got := s.Values["diverged_points"]; got != 2 {
		t.Errorf("%g diverged points, want 2", got)
	}
	// Within 0.02 of the best: LQF 0.11, 0.12, 0.10 (3 of 4); NLFT 0.2 only.
	if got := s.Values["near_best_fraction/lqf"]; math.Abs(got-0.75) > 1e-12 {
		t.Errorf("LQF near-best fraction %g, want 0.75", got)
	}
	if got := s.Values["near_best_fraction/nlft"]; math.Abs(got-0.25) > 1e-12 {
		t.Errorf("NLFT near-best fraction %g, want 0.25", got)
	}
	// Excess over the best: LQF 0.01, 0.02, 0.05, 0 -> median 0.015;
	// NLFT 0.6, 0.15, 0, 0.2 -> median 0.175.
	if got := s.Values["median_excess/lqf"]; math.Abs(got-0.015) > 1e-12 {
		t.Errorf("LQF median excess %g, want 0.015", got)
	}
	if got := s.Values["median_excess/nlft"]; math.Abs(got-0.175) > 1e-12 {
		t.Errorf("NLFT median excess %g, want 0.175", got)
	}
	if len(s.Rows) != 2 || s.Rows[0][1] != "LQF" || s.Rows[1][9] != "2/8" {
		t.Errorf("rows %v", s.Rows)
	}
}

func TestSummarizeFig1NeedsTable1(t *testing.T) {
	r := fakeFig1(0.1, [4]float64{}, [4]float64{}, -1)
	r.Table1 = nil
	if _, err := summarizeFig1(&Env{Dir: t.TempDir()}, table1RawResults(t, r)); err == nil {
		t.Fatal("a seed without Table 1 errors was accepted")
	}
}

// TestFig1Relative: the bars of Fig. 1 left are comparisonStats.relative's
// ratios, per task near to far, with their spread over seeds; a task where
// NLFT's error is zero on every seed has no bar.
func TestFig1Relative(t *testing.T) {
	a, b := fakeTable1(0.1), fakeTable1(0.05)
	// Seed 2: LQF's error on the near task is 3x NLFT's instead of 2x.
	for i, c := range b.Cells {
		if c.Task == nearTask && c.Method == string(finetune.LQF) {
			b.Cells[i].TestError = 3 * 0.05
		}
	}
	st, err := collectComparison([]comparisonResult{a, b})
	if err != nil {
		t.Fatal(err)
	}
	tasks, mean, std := st.relativeByTask(finetune.LQF)
	rel, _ := st.relative(finetune.LQF)
	if len(tasks) != 2 || tasks[0] != nearTask || tasks[1] != farTask {
		t.Fatalf("tasks %v, want near then far", tasks)
	}
	for i := range rel {
		if mean[i] != rel[i] {
			t.Errorf("%s: bar %v, relative %v", tasks[i], mean[i], rel[i])
		}
	}
	if math.Abs(mean[0]-2.5) > 1e-12 || math.Abs(std[0]-math.Sqrt(0.5)) > 1e-12 || math.Abs(mean[1]-2) > 1e-12 || std[1] > 1e-12 {
		t.Errorf("means %v, stds %v; want (2.5, 2) and (sqrt 0.5, 0)", mean, std)
	}
	// NLFT's error zero on the far task in both seeds: no bar there.
	for _, r := range []*comparisonResult{&a, &b} {
		for i, c := range r.Cells {
			if c.Task == farTask && c.Method == string(finetune.NLFT) {
				r.Cells[i].TestError = 0
			}
		}
	}
	if st, err = collectComparison([]comparisonResult{a, b}); err != nil {
		t.Fatal(err)
	}
	if tasks, _, _ := st.relativeByTask(finetune.LQF); len(tasks) != 1 || tasks[0] != nearTask {
		t.Errorf("tasks %v, want the near one only", tasks)
	}
}

func TestTaskLabel(t *testing.T) {
	for in, want := range map[string]string{"fashion-5-9": "fashion\n5-9", "mnist": "mnist", "fashion-inverted": "fashion\ninverted"} {
		if got := taskLabel(in); got != want {
			t.Errorf("taskLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
