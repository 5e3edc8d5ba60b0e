package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
)

// fakeFig2 returns a Fig. 2 seed on two tasks: LQF has error base, the
// ablations base + 0.1 (mse), + 0.05 (kfac), - 0.01 (leaky).
func fakeFig2(base float64) fig2Result {
	var r fig2Result
	delta := map[string]float64{"lqf": 0, "-mse": 0.1, "-kfac": 0.05, "-leaky": -0.01}
	for _, task := range []struct {
		name string
		rank int
	}{{nearTask, 1}, {farTask, 7}} {
		for _, v := range fig2Variants {
			r.Cells = append(r.Cells, fig2Cell{Task: task.name, Rank: task.rank, Variant: v.Name, TestError: base + delta[v.Name]})
		}
	}
	return r
}

func TestSummarizeFig2(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	s, err := summarizeFig2(env, table1RawResults(t, fakeFig2(0.2), fakeFig2(0.1)))
	if err != nil {
		t.Fatal(err)
	}
	table1CheckFigures(t, s, "fig2.png")
	if got := s.Values["fashion-5-9/lqf"]; math.Abs(got-0.15) > 1e-12 {
		t.Errorf("LQF mean %g, want 0.15", got)
	}
	if got := s.Values["mnist-rot90/-mse"]; math.Abs(got-0.25) > 1e-12 {
		t.Errorf("-mse mean %g, want 0.25", got)
	}
	for v, want := range map[string]float64{"-mse": 0.1, "-kfac": 0.05, "-leaky": -0.01} {
		if got := s.Values["increase/"+v]; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: increase %g, want %g", v, got, want)
		}
	}
	if len(s.Rows) != 3 || s.Rows[0][1] != "0.1500 ± 0.0707" || s.Rows[2][2] != "+0.1000" {
		t.Errorf("rows %v", s.Rows)
	}
	if want := "2 of 3 ablations hurt, the largest harm from removing mse"; !strings.Contains(s.Finding, want) {
		t.Errorf("finding %q lacks %q", s.Finding, want)
	}
}

func TestFig2Options(t *testing.T) {
	cfg := fig2Settings(false)
	curv := map[model.Activation]model.CurvatureFunc{model.LeakyReLU: memoKFAC(1), model.ReLU: memoKFAC(1)}
	for _, v := range fig2Variants {
		o, act := fig2Options(cfg, v.Name, 3, curv)
		if (o.Loss == model.CrossEntropy) != (v.Name == "-mse") || (o.Curvature == nil) != (v.Name == "-kfac") ||
			(act == model.ReLU) != (v.Name == "-leaky") || o.Seed != 3 || o.Method != finetune.LQF {
			t.Errorf("%s: loss %s, curvature %v, activation %v", v.Name, o.Loss, o.Curvature != nil, act)
		}
		if v.Name == "-kfac" && o.LearningRates[0] != 0.01 || v.Name != "-kfac" && o.LearningRates[0] != 0.001 {
			t.Errorf("%s: learning rates %v", v.Name, o.LearningRates)
		}
	}
}
