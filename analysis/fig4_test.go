package analysis

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
)

// ftMustRaw marshals hand-made seed results.
func ftMustRaw(t *testing.T, seeds ...any) []json.RawMessage {
	t.Helper()
	var raw []json.RawMessage
	for _, r := range seeds {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	return raw
}

// ftSummarizeFake marshals hand-made seed results and runs summarize on them
// in a temporary directory, checking that every figure file exists.
func ftSummarizeFake(t *testing.T, summarize func(*Env, []json.RawMessage) (*Summary, error), seeds ...any) *Summary {
	t.Helper()
	env := &Env{Quick: true, Dir: t.TempDir()}
	s, err := summarize(env, ftMustRaw(t, seeds...))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Figures) == 0 {
		t.Fatal("no figures")
	}
	for _, f := range s.Figures {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s: %v", f, err)
		}
	}
	if s.Finding == "" {
		t.Error("empty finding")
	}
	return s
}

// cell returns the table cell in the row whose first columns are key and
// the column named col.
func ftCell(t *testing.T, s *Summary, col string, key ...string) string {
	t.Helper()
	c := -1
	for i, h := range s.Header {
		if h == col {
			c = i
		}
	}
	if c < 0 {
		t.Fatalf("no column %q in %v", col, s.Header)
	}
rows:
	for _, row := range s.Rows {
		for i, k := range key {
			if row[i] != k {
				continue rows
			}
		}
		return row[c]
	}
	t.Fatalf("no row %v in %v", key, s.Rows)
	return ""
}

func ftNear(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizeFig4(t *testing.T) {
	seed := func(nlft2, lqf2, nlft10, lqf10 float64) fig4Result {
		return fig4Result{Points: []fig4Point{
			{Task: nearTask, Shots: 2, Method: "NLFT", TestError: nlft2},
			{Task: nearTask, Shots: 2, Method: fig4Reference, TestError: lqf2},
			{Task: nearTask, Shots: 2, Method: "FC", TestError: 0.5},
			{Task: nearTask, Shots: 25, Method: "NLFT", TestError: nlft10},
			{Task: nearTask, Shots: 25, Method: fig4Reference, TestError: lqf10},
			{Task: nearTask, Shots: 25, Method: "FC", TestError: 0.3},
		}}
	}
	s := ftSummarizeFake(t, summarizeFig4, seed(0.40, 0.30, 0.20, 0.25), seed(0.50, 0.34, 0.22, 0.27))
	if got := ftCell(t, s, "NLFT", nearTask, "2"); got != "0.4500 ± 0.0707" {
		t.Errorf("NLFT at 2 shots: %q", got)
	}
	if got := ftCell(t, s, fig4Reference, nearTask, "25"); got != "0.2600 ± 0.0141" {
		t.Errorf("LQF at 25 shots: %q", got)
	}
	if v := s.Values["fashion-5-9/2/lqf_minus_nlft"]; !ftNear(v, -0.13) {
		t.Errorf("LQF - NLFT at 2 shots: %g", v)
	}
	if v := s.Values["mean_lqf_minus_nlft_low_shot"]; !ftNear(v, -0.13) {
		t.Errorf("low-shot mean: %g", v)
	}
	if v := s.Values["mean_lqf_minus_nlft_high_shot"]; !ftNear(v, 0.05) {
		t.Errorf("high-shot mean: %g", v)
	}
	if s.Values["lqf_wins"] != 1 || s.Values["cells"] != 2 {
		t.Errorf("wins %g of %g cells", s.Values["lqf_wins"], s.Values["cells"])
	}
}

func TestFTEpochs(t *testing.T) {
	for _, c := range []struct {
		n, batch, minSteps int
		epochs, want       float64
	}{
		{10, 28, 20, 10, 20},  // one step of 10 images per epoch
		{50, 28, 20, 10, 20},  // one full batch per epoch (the rest dropped)
		{280, 28, 20, 10, 10}, // 10 steps per epoch: epochs suffice
		{280, 28, 100, 5, 10},
		{0, 28, 20, 3, 3},
	} {
		if got := ftEpochs(c.n, c.batch, c.epochs, c.minSteps); got != c.want {
			t.Errorf("ftEpochs(%d, %d, %g, %d) = %g; want %g", c.n, c.batch, c.epochs, c.minSteps, got, c.want)
		}
	}
}

func TestFTOptions(t *testing.T) {
	q := ftOptions(ftSpec{Method: finetune.NLFT}, true, 50, 3)
	if len(q.LearningRates) != 1 || q.LearningRates[0] != ftNLFTLearningRates[0] || len(q.Lambdas) != 1 || q.Seed != 3 {
		t.Errorf("quick NLFT grid %v x %v, seed %d", q.LearningRates, q.Lambdas, q.Seed)
	}
	f := ftOptions(ftSpec{Method: finetune.LQF, KFAC: true}, false, 50, 1)
	if f.Curvature == nil || len(f.LearningRates) != 2 || f.LearningRates[0] != 0.001 {
		t.Errorf("K-FAC LQF: curvature %v, learning rates %v", f.Curvature != nil, f.LearningRates)
	}
	e := ftOptions(ftSpec{Method: finetune.LQF, Exact: true}, true, 50, 1)
	if e.Solver != finetune.SolverExact || len(e.Lambdas) != 2 {
		t.Errorf("exact LQF: solver %q, weight decays %v", e.Solver, e.Lambdas)
	}
	a := ftOptions(ftSpec{Method: finetune.GaF, Adam: true}, false, 50, 1)
	if a.Optimizer != model.Adam || a.AdamBeta1 != 0.5 || len(a.LearningRates) != 3 {
		t.Errorf("Adam GaF: %q beta1 %g, learning rates %v", a.Optimizer, a.AdamBeta1, a.LearningRates)
	}
}
