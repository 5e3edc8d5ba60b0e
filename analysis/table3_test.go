package analysis

import (
	"strings"
	"testing"
)

func TestSummarizeTable3(t *testing.T) {
	seed := func(lqfSGD, lqfAdam, gafSGD, gafAdam float64) table3Result {
		return table3Result{Shots: 5, Cells: []table3Cell{
			{Task: nearTask, Method: "LQF", Optimizer: table3Adam, TestError: lqfAdam},
			{Task: nearTask, Method: "LQF", Optimizer: table3SGD, TestError: lqfSGD},
			{Task: nearTask, Method: "LQF", Optimizer: table3Closed, TestError: 0.2},
			{Task: nearTask, Method: "GaF", Optimizer: table3SGD, TestError: gafSGD},
			{Task: nearTask, Method: "GaF", Optimizer: table3Adam, TestError: gafAdam},
		}}
	}
	s := ftSummarizeFake(t, summarizeTable3, seed(0.20, 0.30, 0.40, 0.30), seed(0.24, 0.30, 0.42, 0.34))
	// Columns follow table3Columns whatever the order of the cells.
	if s.Header[2] != table3SGD || s.Header[3] != table3Adam || s.Header[4] != table3Closed {
		t.Errorf("header %v", s.Header)
	}
	if got := ftCell(t, s, table3SGD, nearTask, "LQF"); got != "0.2200 ± 0.0283" {
		t.Errorf("LQF with SGD: %q", got)
	}
	if got := ftCell(t, s, table3Closed, nearTask, "GaF"); got != "-" {
		t.Errorf("GaF closed form: %q", got)
	}
	if v := s.Values["mean_adam_minus_sgd/LQF"]; !ftNear(v, 0.08) {
		t.Errorf("LQF Adam - SGD = %g", v)
	}
	if v := s.Values["mean_adam_minus_sgd/GaF"]; !ftNear(v, -0.09) {
		t.Errorf("GaF Adam - SGD = %g", v)
	}
	if strings.Contains(s.Finding, "diverged") {
		t.Errorf("finding mentions divergence, none happened: %s", s.Finding)
	}
	// LQF's optimum 0.2: Adam stops 0.10 above it, SGD+K-FAC 0.02.
	if a, g := s.Values["mean_adam_minus_closed/LQF"], s.Values["mean_sgd_minus_closed/LQF"]; !ftNear(a, 0.10) || !ftNear(g, 0.02) {
		t.Errorf("LQF above its optimum: Adam %g, SGD %g; want 0.10, 0.02", a, g)
	}
	if _, ok := s.Values["mean_adam_minus_closed/GaF"]; ok {
		t.Error("GaF has no closed form, yet a distance to it")
	}
	if !strings.Contains(s.Finding, "LQF: Adam +0.1000, SGD+K-FAC +0.0200") || !strings.Contains(s.Finding, "For LQF, Adam stops farther") {
		t.Errorf("finding lacks LQF's distances to the optimum or their reading: %s", s.Finding)
	}
	// Adam as close to the optimum as SGD: no convergence remark.
	s = ftSummarizeFake(t, summarizeTable3, seed(0.22, 0.23, 0.40, 0.30))
	if strings.Contains(s.Finding, "Adam stops farther") {
		t.Errorf("Adam 0.03 above the optimum, SGD 0.02, yet the finding blames convergence: %s", s.Finding)
	}
	a, b := seed(0.20, 0.30, 0.40, 0.30), seed(0.24, 0.30, 0.42, 0.34)
	a.Cells[3].Diverged, b.Cells[3].Diverged = 1, 2
	s = ftSummarizeFake(t, summarizeTable3, a, b)
	if !strings.Contains(s.Finding, "fashion-5-9/GaF/"+table3SGD+" 3") {
		t.Errorf("finding does not count the 3 diverged grid points of GaF with SGD: %s", s.Finding)
	}
}
