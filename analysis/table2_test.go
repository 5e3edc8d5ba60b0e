package analysis

import "testing"

func TestSummarizeTable2(t *testing.T) {
	seed := func(nlft, bnlft, lqf, blqf float64) table2Result {
		r := table2Result{Shots: 5}
		for _, task := range []string{nearTask, farTask} {
			r.Cells = append(r.Cells,
				table2Cell{Task: task, Method: "NLFT", Pooling: "avg", TestError: nlft},
				table2Cell{Task: task, Method: "B-NLFT", Pooling: "bilinear", TestError: bnlft},
				table2Cell{Task: task, Method: "LQF", Pooling: "avg", TestError: lqf},
				table2Cell{Task: task, Method: "B-LQF", Pooling: "bilinear", TestError: blqf})
			lqf += 0.1 // the second task is harder for LQF
		}
		return r
	}
	s := ftSummarizeFake(t, summarizeTable2, seed(0.20, 0.21, 0.30, 0.22), seed(0.22, 0.21, 0.34, 0.26))
	if got := ftCell(t, s, "LQF", farTask); got != "0.4200 ± 0.0283" {
		t.Errorf("LQF on mnist-rot90: %q", got)
	}
	if got := ftCell(t, s, "B-LQF - LQF", nearTask); got != "-0.0800" {
		t.Errorf("B-LQF - LQF on fashion-5-9: %q", got)
	}
	for k, want := range map[string]float64{
		"mean_blqf_minus_lqf":           -0.13,
		"mean_bnlft_minus_nlft":         0,
		"mnist-rot90/B-LQF_minus_LQF":   -0.18,
		"fashion-5-9/B-NLFT_minus_NLFT": 0,
	} {
		if !ftNear(s.Values[k], want) {
			t.Errorf("%s = %g; want %g", k, s.Values[k], want)
		}
	}
}
