package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
)

func init() {
	Register(Experiment{
		ID:        "table2",
		Title:     "Bilinear pooling (B-LQF, B-NLFT) vs average pooling",
		Claim:     "Square-root-normalized bilinear pooling improves LQF markedly (B-LQF) while changing NLFT little (paper Table 2).",
		Run:       runTable2,
		Summarize: summarizeTable2,
		Judge:     judgeTable2,
		// RecordsRuns: Run records its runs' end states (validity.go).
		RecordsRuns: true,
	})
}

// judgeTable2 tests bilinear pooling's effect on LQF and NLFT.
func judgeTable2(v Measured) Verdict {
	bl, bn := v.Get("mean_blqf_minus_lqf"), v.Get("mean_bnlft_minus_nlft")
	return verdictOf(
		part(bl <= -0.01, "bilinear pooling lowers LQF's error by at least 1 point (%+.4f)", bl),
		part(math.Abs(bn) < math.Abs(bl), "it changes NLFT less (%+.4f)", bn))
}

// table2Specs are the four cells of each task: NLFT and LQF with average
// and with bilinear pooling. LQF is solved in closed form: with bilinear
// pooling the head has FeatureDim = 64^2 inputs, whose K-FAC factor would
// need the eigendecomposition of a 4097 x 4097 matrix per task.
func table2Specs() []ftSpec {
	return []ftSpec{
		{Name: "NLFT", Method: finetune.NLFT},
		{Name: "B-NLFT", Method: finetune.NLFT, Pooling: model.BilinearPooling},
		{Name: "LQF", Method: finetune.LQF, Exact: true},
		{Name: "B-LQF", Method: finetune.LQF, Exact: true, Pooling: model.BilinearPooling},
	}
}

// table2Settings returns the tasks and split sizes of a mode.
func table2Settings(quick bool) (tasks []string, shots, valPerClass, maxTest int) {
	if quick {
		return []string{nearTask}, 5, 10, 200
	}
	return []string{nearTask, "mnist-5-9", "fashion-rot90", farTask}, 50, 50, 2000
}

// table2Cell is one (task, configuration) result of one seed.
type table2Cell struct {
	Task         string  `json:"task"`
	Method       string  `json:"method"`
	Pooling      string  `json:"pooling"`
	TestError    float64 `json:"test_error"`
	ValError     float64 `json:"val_error"`
	LearningRate float64 `json:"learning_rate"`
	Lambda       float64 `json:"weight_decay"`
	// Diverged counts the grid points whose training diverged (skipped;
	// all of them: chance-level errors).
	Diverged int     `json:"diverged,omitempty"`
	Seconds  float64 `json:"seconds"`
}

type table2Result struct {
	Shots int          `json:"shots"`
	Cells []table2Cell `json:"cells"`
}

func runTable2(env *Env, seed uint64) (any, error) {
	tasks, shots, valPerClass, maxTest := table2Settings(env.Quick)
	nets := newFTBackbones(env.Backend)
	res := table2Result{Shots: shots}
	for _, name := range tasks {
		_, splits, err := loadTask(name, data.SplitOptions{Seed: seed, Shots: shots, ValPerClass: valPerClass, MaxTest: maxTest})
		if err != nil {
			return nil, err
		}
		for _, spec := range table2Specs() {
			r, err := ftRunCell(env, nets, spec, splits, seed, name+"/"+spec.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			pool := spec.Pooling
			if pool == "" {
				pool = model.AvgPooling
			}
			env.Logf("table2 seed %d: %s, %s: test error %.4f (%.0fs)", seed, name, spec.Name, r.TestError, r.Seconds)
			res.Cells = append(res.Cells, table2Cell{name, spec.Name, string(pool), r.TestError, r.ValError, r.LearningRate, r.Lambda,
				ftDiverged(spec, env.Quick, splits.Train.Len(), r), r.Seconds})
		}
	}
	return res, nil
}

func summarizeTable2(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[table2Result](raw)
	if err != nil {
		return nil, err
	}
	var tasks, methods []string
	errs := map[string][]float64{}
	key := func(task, m string) string { return task + "/" + m }
	for _, r := range results {
		for _, c := range r.Cells {
			if !slices.Contains(tasks, c.Task) {
				tasks = append(tasks, c.Task)
			}
			if !slices.Contains(methods, c.Method) {
				methods = append(methods, c.Method)
			}
			errs[key(c.Task, c.Method)] = append(errs[key(c.Task, c.Method)], c.TestError)
		}
	}
	if len(tasks) == 0 {
		return nil, errors.New("table2: no results")
	}
	s := &Summary{Header: append(append([]string{"task"}, methods...), "B-LQF - LQF", "B-NLFT - NLFT"), Values: map[string]float64{}}
	// gain returns mean(b) - mean(a) on task, and whether both exist.
	gain := func(task, a, b string) (float64, bool) {
		va, vb := errs[key(task, a)], errs[key(task, b)]
		if len(va) == 0 || len(vb) == 0 {
			return 0, false
		}
		ma, _ := MeanStd(va)
		mb, _ := MeanStd(vb)
		return mb - ma, true
	}
	var lqfGains, nlftGains []float64
	for _, task := range tasks {
		row := []string{task}
		for _, m := range methods {
			if v := errs[key(task, m)]; len(v) > 0 {
				row = append(row, PlusMinus(v, "%.4f"))
			} else {
				row = append(row, "-")
			}
		}
		for _, pair := range [][2]string{{"LQF", "B-LQF"}, {"NLFT", "B-NLFT"}} {
			d, ok := gain(task, pair[0], pair[1])
			if !ok {
				row = append(row, "-")
				continue
			}
			row = append(row, fmt.Sprintf("%+.4f", d))
			s.Values[task+"/"+pair[1]+"_minus_"+pair[0]] = d
			if pair[0] == "LQF" {
				lqfGains = append(lqfGains, d)
			} else {
				nlftGains = append(nlftGains, d)
			}
		}
		s.Rows = append(s.Rows, row)
	}
	if len(lqfGains) == 0 || len(nlftGains) == 0 {
		return nil, errors.New("table2: no task has both poolings of LQF and of NLFT")
	}
	ml, _ := MeanStd(lqfGains)
	mn, _ := MeanStd(nlftGains)
	better := 0
	for _, d := range lqfGains {
		if d < 0 {
			better++
		}
	}
	s.Values["mean_blqf_minus_lqf"] = ml
	s.Values["mean_bnlft_minus_nlft"] = mn
	p, err := table2Plot(tasks, methods, errs, key, len(results), results[0].Shots)
	if err != nil {
		return nil, err
	}
	name := "table2.png"
	if err := figure.SavePlot(p, vg.Length(max(420, 200+90*len(tasks))), 300, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}
	s.Finding = fmt.Sprintf("Bilinear pooling changes the test error of LQF (closed form) by %+.4f on average (lower on %d of %d tasks) and NLFT's by %+.4f "+
		"(paper: B-LQF clearly better than LQF on fine-grained tasks, B-NLFT about equal to NLFT).", ml, better, len(lqfGains), mn)
	diverged := 0
	for _, r := range results {
		for _, c := range r.Cells {
			diverged += c.Diverged
		}
	}
	if diverged > 0 {
		s.Finding += fmt.Sprintf(" %d grid points diverged over the seeds (skipped; a cell whose points all diverged has chance-level error).", diverged)
	}
	return s, nil
}

// table2Plot draws grouped bars: one group per task, one bar per method
// (the mean test error over seeds, with the standard deviation when there
// are several).
func table2Plot(tasks, methods []string, errs map[string][]float64, key func(string, string) string, seeds, shots int) (*plot.Plot, error) {
	var series []figure.BarSeries
	for _, m := range methods {
		s := figure.BarSeries{Name: m, Values: make([]float64, len(tasks)), Err: make([]float64, len(tasks))}
		for i, task := range tasks {
			if v := errs[key(task, m)]; len(v) > 0 {
				s.Values[i], s.Err[i] = MeanStd(v)
			}
		}
		series = append(series, s)
	}
	var labels []string
	for _, t := range tasks {
		labels = append(labels, taskLabel(t))
	}
	return figure.GroupedBars(labels, series, figure.BarOptions{YLabel: "test error (fraction)", XLabel: "target task",
		Title: fmt.Sprintf("Average vs bilinear pooling, %d shots per class (%s)", shots, overSeeds(seeds))})
}
