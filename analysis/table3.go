package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
)

func init() {
	Register(Experiment{
		ID:    "table3",
		Title: "Adam instead of SGD (with K-FAC for LQF) for LQF, GaF and NLFT",
		Claim: "After the grid search, Adam reaches about the test error of SGD+K-FAC for LQF and of SGD for GaF " +
			"(and is somewhat worse than SGD+K-FAC for LQF-FC) (paper Table 3).",
		Run:       runTable3,
		Summarize: summarizeTable3,
		Judge:     judgeTable3,
		// RecordsRuns: Run records its runs' end states (validity.go).
		RecordsRuns: true,
		GapBound:    table3GapBound,
	})
}

// table3GapBound bounds the final relative objective gap (L - L*) / L*
// to LQF's closed form of every iterative LQF and LQF-FC run of Table 3
// (SGD+K-FAC and Adam). The claim compares optimizers after the grid search
// on one convex objective: a run that stopped with more than twice the
// optimum's objective (gap > 1) is underfit by its budget, and its test
// error then measures the number of steps, not the optimizer.
const table3GapBound = 1

// judgeTable3 tests Adam against SGD for LQF and GaF.
func judgeTable3(v Measured) Verdict {
	l, g := v.Get("mean_adam_minus_sgd/LQF"), v.Get("mean_adam_minus_sgd/GaF")
	return verdictOf(
		part(math.Abs(l) <= 0.02, "Adam is within 2 points of SGD+K-FAC for LQF (%+.4f)", l),
		part(math.Abs(g) <= 0.02, "Adam is within 2 points of SGD for GaF (%+.4f)", g))
}

// Optimizer columns of Table 3.
const (
	table3SGD    = "SGD"         // SGD+K-FAC for LQF and LQF-FC, SGD with momentum 0.9 (no K-FAC) for GaF and NLFT
	table3Adam   = "Adam"        // the paper's Adam grid (finetune.AdamGrid), beta1 0.5 for GaF
	table3Plain  = "plain SGD"   // LQF without K-FAC (full mode)
	table3Closed = "closed form" // the optimum of LQF and LQF-FC
)

// table3Config is one cell: a method under one optimizer.
type table3Config struct {
	Optimizer string
	Spec      ftSpec
}

// table3Configs lists the cells of a mode. Quick mode runs LQF, GaF and
// NLFT with both optimizers and LQF's closed form; full mode adds LQF-FC
// and LQF with plain SGD.
func table3Configs(quick bool) []table3Config {
	cells := []table3Config{
		{table3SGD, ftSpec{Name: "LQF", Method: finetune.LQF, KFAC: true}},
		{table3Adam, ftSpec{Name: "LQF", Method: finetune.LQF, Adam: true}},
		{table3Closed, ftSpec{Name: "LQF", Method: finetune.LQF, Exact: true}},
	}
	if !quick {
		cells = append(cells,
			table3Config{table3Plain, ftSpec{Name: "LQF", Method: finetune.LQF}},
			table3Config{table3SGD, ftSpec{Name: "LQF-FC", Method: finetune.LQFFC, KFAC: true}},
			table3Config{table3Adam, ftSpec{Name: "LQF-FC", Method: finetune.LQFFC, Adam: true}},
			table3Config{table3Closed, ftSpec{Name: "LQF-FC", Method: finetune.LQFFC, Exact: true}})
	}
	return append(cells,
		table3Config{table3SGD, ftSpec{Name: "GaF", Method: finetune.GaF}},
		table3Config{table3Adam, ftSpec{Name: "GaF", Method: finetune.GaF, Adam: true}},
		table3Config{table3SGD, ftSpec{Name: "NLFT", Method: finetune.NLFT}},
		table3Config{table3Adam, ftSpec{Name: "NLFT", Method: finetune.NLFT, Adam: true}})
}

// table3Settings returns the tasks and split sizes of a mode.
func table3Settings(quick bool) (tasks []string, shots, valPerClass, maxTest int) {
	if quick {
		return []string{nearTask}, 5, 10, 200
	}
	return []string{nearTask, farTask}, 50, 50, 2000
}

// table3Cell is one (task, method, optimizer) result of one seed.
type table3Cell struct {
	Task         string  `json:"task"`
	Method       string  `json:"method"`
	Optimizer    string  `json:"optimizer"`
	TestError    float64 `json:"test_error"`
	ValError     float64 `json:"val_error"`
	TrainError   float64 `json:"train_error"`
	LearningRate float64 `json:"learning_rate"`
	Lambda       float64 `json:"weight_decay"`
	// Diverged counts the grid points whose training diverged (skipped;
	// all of them: chance-level errors).
	Diverged int     `json:"diverged,omitempty"`
	Seconds  float64 `json:"seconds"`
}

type table3Result struct {
	Shots int `json:"shots"`
	// MinSteps is the fewest optimizer steps per grid point (ftMinSteps).
	MinSteps int          `json:"min_steps"`
	Cells    []table3Cell `json:"cells"`
}

func runTable3(env *Env, seed uint64) (any, error) {
	tasks, shots, valPerClass, maxTest := table3Settings(env.Quick)
	nets := newFTBackbones(env.Backend)
	res := table3Result{Shots: shots, MinSteps: ftMinSteps(env.Quick)}
	for _, name := range tasks {
		_, splits, err := loadTask(name, data.SplitOptions{Seed: seed, Shots: shots, ValPerClass: valPerClass, MaxTest: maxTest})
		if err != nil {
			return nil, err
		}
		for _, c := range table3Configs(env.Quick) {
			r, err := ftRunCell(env, nets, c.Spec, splits, seed, name+"/"+c.Spec.Name+"/"+c.Optimizer)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", name, c.Optimizer, err)
			}
			env.Logf("table3 seed %d: %s, %s with %s: test error %.4f (%.0fs)", seed, name, c.Spec.Name, c.Optimizer, r.TestError, r.Seconds)
			res.Cells = append(res.Cells, table3Cell{name, c.Spec.Name, c.Optimizer, r.TestError, r.ValError, r.TrainError, r.LearningRate, r.Lambda,
				ftDiverged(c.Spec, env.Quick, splits.Train.Len(), r), r.Seconds})
		}
	}
	return res, nil
}

// table3Columns is the order of the optimizer columns.
var table3Columns = []string{table3SGD, table3Adam, table3Plain, table3Closed}

func summarizeTable3(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[table3Result](raw)
	if err != nil {
		return nil, err
	}
	var tasks, methods, columns []string
	errs := map[string][]float64{}
	key := func(task, m, opt string) string { return task + "/" + m + "/" + opt }
	diverged := map[string]int{} // key -> grid points that diverged, over seeds
	var divergedKeys []string
	for _, r := range results {
		for _, c := range r.Cells {
			if !slices.Contains(tasks, c.Task) {
				tasks = append(tasks, c.Task)
			}
			if !slices.Contains(methods, c.Method) {
				methods = append(methods, c.Method)
			}
			if !slices.Contains(columns, c.Optimizer) {
				columns = append(columns, c.Optimizer)
			}
			k := key(c.Task, c.Method, c.Optimizer)
			errs[k] = append(errs[k], c.TestError)
			if c.Diverged > 0 {
				if _, ok := diverged[k]; !ok {
					divergedKeys = append(divergedKeys, k)
				}
				diverged[k] += c.Diverged
			}
		}
	}
	if len(tasks) == 0 {
		return nil, errors.New("table3: no results")
	}
	slices.SortStableFunc(columns, func(a, b string) int { return slices.Index(table3Columns, a) - slices.Index(table3Columns, b) })
	s := &Summary{Header: append(append([]string{"task", "method"}, columns...), "Adam - SGD"), Values: map[string]float64{}}
	diffs := map[string][]float64{} // method -> Adam - SGD per task
	for _, task := range tasks {
		for _, m := range methods {
			row := []string{task, m}
			found := false
			for _, col := range columns {
				if v := errs[key(task, m, col)]; len(v) > 0 {
					row = append(row, PlusMinus(v, "%.4f"))
					found = true
				} else {
					row = append(row, "-")
				}
			}
			if !found {
				continue
			}
			sgd, adam := errs[key(task, m, table3SGD)], errs[key(task, m, table3Adam)]
			if len(sgd) > 0 && len(adam) > 0 {
				ms, _ := MeanStd(sgd)
				ma, _ := MeanStd(adam)
				row = append(row, fmt.Sprintf("%+.4f", ma-ms))
				diffs[m] = append(diffs[m], ma-ms)
				s.Values[task+"/"+m+"/adam_minus_sgd"] = ma - ms
			} else {
				row = append(row, "-")
			}
			s.Rows = append(s.Rows, row)
		}
	}
	var parts []string
	for _, m := range methods {
		if d := diffs[m]; len(d) > 0 {
			mean, _ := MeanStd(d)
			s.Values["mean_adam_minus_sgd/"+m] = mean
			parts = append(parts, fmt.Sprintf("%s %+.4f", m, mean))
		}
	}
	if len(parts) == 0 {
		return nil, errors.New("table3: no method has both SGD and Adam results")
	}
	p, err := table3Plot(tasks, methods, columns, errs, key, len(results), results[0].Shots)
	if err != nil {
		return nil, err
	}
	name := "table3.png"
	if err := figure.SavePlot(p, vg.Length(200+75*len(tasks)*len(methods)), 300, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}
	s.Finding = fmt.Sprintf("Test error with Adam minus with SGD (K-FAC for LQF), mean over tasks, at least %d steps per grid point: %s "+
		"(paper: Adam about equal for LQF and GaF, slightly worse for LQF-FC).", results[0].MinSteps, strings.Join(parts, ", "))
	s.Finding += table3Gaps(s, tasks, methods, errs, key)
	if len(divergedKeys) > 0 {
		var d []string
		for _, k := range divergedKeys {
			d = append(d, fmt.Sprintf("%s %d", k, diverged[k]))
		}
		s.Finding += fmt.Sprintf(" Grid points whose training diverged (skipped; all of a cell's: chance-level error), over seeds: %s.", strings.Join(d, ", "))
	}
	return s, nil
}

// table3Gaps returns the finding's account of how far Adam and SGD stop
// from the closed-form optimum (mean over tasks of the mean test error
// minus the optimum's), for the methods that have one, and records it in
// s.Values. Where Adam stops more than 2 points farther than SGD+K-FAC, the
// difference between the optimizers is one of convergence, not of the
// model both optimize.
func table3Gaps(s *Summary, tasks, methods []string, errs map[string][]float64, key func(string, string, string) string) string {
	var gaps, slow []string
	for _, m := range methods {
		var adam, sgd []float64
		for _, task := range tasks {
			c, a, g := errs[key(task, m, table3Closed)], errs[key(task, m, table3Adam)], errs[key(task, m, table3SGD)]
			if len(c) == 0 || len(a) == 0 || len(g) == 0 {
				continue
			}
			mc, _ := MeanStd(c)
			ma, _ := MeanStd(a)
			mg, _ := MeanStd(g)
			adam, sgd = append(adam, ma-mc), append(sgd, mg-mc)
		}
		if len(adam) == 0 {
			continue
		}
		a, _ := MeanStd(adam)
		g, _ := MeanStd(sgd)
		s.Values["mean_adam_minus_closed/"+m] = a
		s.Values["mean_sgd_minus_closed/"+m] = g
		gaps = append(gaps, fmt.Sprintf("%s: Adam %+.4f, SGD+K-FAC %+.4f", m, a, g))
		if a > g+0.02 {
			slow = append(slow, m)
		}
	}
	if len(gaps) == 0 {
		return ""
	}
	out := fmt.Sprintf(" Test error above the closed-form optimum, mean over tasks: %s.", strings.Join(gaps, "; "))
	if len(slow) > 0 {
		out += fmt.Sprintf(" For %s, Adam stops farther from the optimum than SGD+K-FAC in as many steps: without a preconditioner it does not converge on this ill-conditioned problem (Fig. 3), so the gap is the optimizer's, not the linear model's.", strings.Join(slow, " and "))
	}
	return out
}

// table3Plot draws grouped bars: one group per (task, method), one bar per
// optimizer (the mean test error over seeds, with the standard deviation
// when there are several; no bar where the method has no such optimizer).
func table3Plot(tasks, methods, columns []string, errs map[string][]float64, key func(string, string, string) string, seeds, shots int) (*plot.Plot, error) {
	var groups []string
	for _, task := range tasks {
		for _, m := range methods {
			label := m
			if len(tasks) > 1 {
				label = m + "\n" + task
			}
			groups = append(groups, label)
		}
	}
	var series []figure.BarSeries
	for _, col := range columns {
		s := figure.BarSeries{Name: col}
		for _, task := range tasks {
			for _, m := range methods {
				mean, std := 0.0, 0.0
				if v := errs[key(task, m, col)]; len(v) > 0 {
					mean, std = MeanStd(v)
				}
				s.Values, s.Err = append(s.Values, mean), append(s.Err, std)
			}
		}
		series = append(series, s)
	}
	xlabel := "method and target task"
	if len(tasks) == 1 {
		xlabel = "method, on " + tasks[0]
	}
	return figure.GroupedBars(groups, series, figure.BarOptions{YLabel: "test error (fraction)", XLabel: xlabel,
		Title: fmt.Sprintf("Test error by optimizer, %d shots per class (%s)", shots, overSeeds(seeds))})
}
