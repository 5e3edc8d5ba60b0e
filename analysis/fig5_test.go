package analysis

import (
	"slices"
	"testing"

	"github.com/lqf-go/lqf/data"
)

func TestSummarizeFig5(t *testing.T) {
	seed := func(lqf, sgd, nlftInc, nlftPar [2]float64) fig5Result {
		r := fig5Result{Task: nearTask, Rho: 0.001}
		for s := range 2 {
			r.Steps = append(r.Steps, fig5Step{Step: s + 1, Seen: 10 * (s + 1), DWRelDiff: 1e-14, SGDGap: 0.1, Points: []fig5Point{
				{fig5ExactIncremental, lqf[s], 0.1},
				{fig5LQFParagon, lqf[s], 0.2},
				{fig5SGDIncremental, sgd[s], 1},
				{fig5NLFTIncremental, nlftInc[s], 2},
				{fig5NLFTParagon, nlftPar[s], 3},
			}})
		}
		return r
	}
	s := ftSummarizeFake(t, summarizeFig5,
		seed([2]float64{0.4, 0.3}, [2]float64{0.42, 0.32}, [2]float64{0.35, 0.30}, [2]float64{0.35, 0.25}),
		seed([2]float64{0.5, 0.2}, [2]float64{0.50, 0.24}, [2]float64{0.45, 0.32}, [2]float64{0.45, 0.23}))
	if got := ftCell(t, s, fig5LQFParagon, "2"); got != "0.2500 ± 0.0707" {
		t.Errorf("retrained LQF at step 2: %q", got)
	}
	if got := ftCell(t, s, "images seen", "2"); got != "20" {
		t.Errorf("images seen at step 2: %q", got)
	}
	for k, want := range map[string]float64{
		"exact_incremental_minus_retrained": 0,
		"sgd_incremental_minus_retrained":   0.03,
		"nlft_incremental_minus_paragon":    0.07,
		"lqf_minus_nlft_paragon":            0.01,
		"mean_sgd_objective_gap":            0.1,
		"max_dw_rel_diff":                   1e-14,
	} {
		if !ftNear(s.Values[k], want) {
			t.Errorf("%s = %g; want %g", k, s.Values[k], want)
		}
	}
	// Seeds with different numbers of steps cannot be aggregated.
	short := seed([2]float64{0.4, 0.3}, [2]float64{0.4, 0.3}, [2]float64{0.4, 0.3}, [2]float64{0.4, 0.3})
	short.Steps = short.Steps[:1]
	if _, err := summarizeFig5(&Env{Dir: t.TempDir()}, ftMustRaw(t, seed([2]float64{}, [2]float64{}, [2]float64{}, [2]float64{}), short)); err == nil {
		t.Error("seeds with 2 and 1 steps were aggregated")
	}
}

func TestFig5Chunks(t *testing.T) {
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 2, Shots: 6, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := fig5Chunks(sp.Train, 3, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for i, c := range chunks {
		if len(c) != 10 {
			t.Fatalf("chunk %d has %d images; want 10", i, len(c))
		}
		counts := sp.Train.Subset(c).ClassCounts()
		for class, n := range counts {
			if n != 2 {
				t.Errorf("chunk %d has %d images of class %d; want 2", i, n, class)
			}
		}
		all = append(all, c...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("chunks do not partition the training set: %v", all)
		}
	}
	if _, err := fig5Chunks(sp.Train, 4, 2, 7); err == nil {
		t.Error("fig5Chunks accepted 4 chunks of 2 per class from 6 shots")
	}
}
