package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJudgeOutcomes: a part holds or fails on its side of the criterion,
// and the outcome counts the parts.
func TestJudgeOutcomes(t *testing.T) {
	cases := []struct {
		id     string
		values map[string]float64
		want   string
	}{
		{"fig6", map[string]float64{"mean_most_minus_least": 0.04}, Reproduced},
		// Fig. 1 in quick mode (one task): no best-ELR spread to judge.
		{"fig1", map[string]float64{"median_relative/lqf": 1.1, "median_relative/gaf": 1.5, "median_relative/fc": 1.7,
			"mean_range/lqf": 0.05, "mean_range/nlft": 0.3}, Reproduced},
		// Full mode: the best ELR is narrower for LQF, its error range is not.
		{"fig1", map[string]float64{"median_relative/lqf": 1.1, "median_relative/gaf": 1.5, "median_relative/fc": 1.7,
			"mean_range/lqf": 0.5, "mean_range/nlft": 0.3, "best_elr_span/lqf": 3, "best_elr_span/nlft": 10}, PartlyReproduced},
		{"fig1", map[string]float64{"median_relative/lqf": 1.1, "median_relative/gaf": 1.5, "median_relative/fc": 1.7,
			"mean_range/lqf": 0.05, "mean_range/nlft": 0.3, "best_elr_span/lqf": 3, "best_elr_span/nlft": 10}, Reproduced},
		{"fig1", map[string]float64{"median_relative/lqf": 2, "median_relative/gaf": 1.5, "median_relative/fc": 1.7,
			"mean_range/lqf": 0.5, "mean_range/nlft": 0.3, "best_elr_span/lqf": 30, "best_elr_span/nlft": 10}, NotReproduced},
		{"fig6", map[string]float64{"mean_most_minus_least": -0.04}, NotReproduced},
		// The greedy protocol, when present, decides (one-shot is a variant).
		{"fig6", map[string]float64{"mean_most_minus_least": -0.04, "mean_most_minus_least_greedy": 0.02}, Reproduced},
		{"fig6", map[string]float64{"mean_most_minus_least": 0.04, "mean_most_minus_least_greedy": -0.01}, NotReproduced},
		{"fig5", map[string]float64{"max_dw_rel_diff": 1e-12, "exact_incremental_minus_retrained": 0, "nlft_incremental_minus_paragon": 0.03}, Reproduced},
		{"fig5", map[string]float64{"max_dw_rel_diff": 1e-12, "exact_incremental_minus_retrained": 0, "nlft_incremental_minus_paragon": 0.002}, PartlyReproduced},
		{"fig5", map[string]float64{"max_dw_rel_diff": 1e-3, "exact_incremental_minus_retrained": 0.01, "nlft_incremental_minus_paragon": 0.002}, NotReproduced},
		{"table2", map[string]float64{"mean_blqf_minus_lqf": -0.05, "mean_bnlft_minus_nlft": 0.01}, Reproduced},
		{"table2", map[string]float64{"mean_blqf_minus_lqf": -0.005, "mean_bnlft_minus_nlft": 0.01}, NotReproduced},
		{"fig8", map[string]float64{"sgd_gap_warm_0.1": 1, "sgd_gap_warm_1": 1, "sgd_warm_lower_objective": 2,
			"sgd_warm_minus_scratch_test_error": 0.01, "cg_fraction_saved": 0.3}, Reproduced},
		{"fig8", map[string]float64{"sgd_gap_warm_0.1": 1, "sgd_gap_warm_1": 1, "sgd_warm_lower_objective": 1,
			"sgd_warm_minus_scratch_test_error": 0.01, "cg_fraction_saved": 0.3}, PartlyReproduced},
	}
	for _, c := range cases {
		v, err := Judge(c.id, c.values)
		if err != nil {
			t.Fatalf("%s %v: %v", c.id, c.values, err)
		}
		if v.Outcome != c.want {
			t.Errorf("%s %v: %s, want %s", c.id, c.values, v, c.want)
		}
		if s := v.String(); !strings.HasPrefix(s, c.want+": ") {
			t.Errorf("%s: String %q does not start with the outcome", c.id, s)
		}
	}
}

// TestJudgeEveryExperiment: every experiment has criteria, a summary
// without its numbers is an error that names them and the fix, and the
// summaries committed under results/reproduce can all be judged.
func TestJudgeEveryExperiment(t *testing.T) {
	for _, x := range Experiments() {
		if _, err := Judge(x.ID, nil); err == nil || !strings.Contains(err.Error(), "rerun `lqf reproduce") {
			t.Errorf("%s with no values: error %v, want one naming the missing keys and the fix", x.ID, err)
		}
		judged := false
		for _, sub := range []string{x.ID, x.ID + "-quick"} {
			raw, err := os.ReadFile(filepath.Join("..", "results", "reproduce", sub, "summary.json"))
			if err != nil {
				continue
			}
			var rep Report
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			if _, err := Judge(x.ID, rep.Summary.Values); err != nil {
				t.Errorf("committed %s: %v", sub, err)
			}
			judged = true
		}
		if !judged {
			t.Errorf("%s: no committed summary under results/reproduce", x.ID)
		}
	}
	if _, err := Judge("fig9", map[string]float64{}); err == nil {
		t.Error("unknown experiment: no error")
	}
}
