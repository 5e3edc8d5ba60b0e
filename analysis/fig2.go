package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
)

func init() {
	Register(Experiment{
		ID:        "fig2",
		Title:     "Ablation of LQF: cross-entropy instead of MSE, plain SGD instead of K-FAC, ReLU instead of Leaky-ReLU",
		Claim:     "Each ingredient of LQF helps: removing the MSE loss, the K-FAC preconditioner or the Leaky-ReLU backbone raises the test error, MSE the most (paper Fig. 2).",
		Run:       runFig2,
		Summarize: summarizeFig2,
		Judge:     judgeFig2,
		// RecordsRuns: Run records its runs' end states (validity.go).
		RecordsRuns: true,
	})
}

// judgeFig2 tests that removing each ingredient raises the error, MSE the
// most.
func judgeFig2(v Measured) Verdict {
	mse, kf, leaky := v.Get("increase/-mse"), v.Get("increase/-kfac"), v.Get("increase/-leaky")
	return verdictOf(
		part(mse > 0, "cross-entropy instead of MSE raises the error (%+.4f)", mse),
		part(kf > 0, "plain SGD instead of K-FAC raises the error (%+.4f)", kf),
		part(leaky > 0, "ReLU instead of Leaky-ReLU raises the error (%+.4f)", leaky),
		part(mse > kf && mse > leaky, "MSE matters the most"))
}

// fig2Variant is LQF with some ingredient removed, as lqf finetune
// --ablate does it.
type fig2Variant struct {
	Name  string // "lqf", "-mse", "-kfac", "-leaky"
	Label string
}

// fig2Variants lists full LQF and its three ablations.
var fig2Variants = []fig2Variant{
	{"lqf", "LQF"},
	{"-mse", "- MSE (cross-entropy)"},
	{"-kfac", "- K-FAC (plain SGD)"},
	{"-leaky", "- Leaky-ReLU (ReLU)"},
}

// fig2Config is the protocol of Fig. 2 in one mode.
type fig2Config struct {
	Tasks                          []string
	MaxTrain, ValPerClass, MaxTest int
	Epochs                         float64
	BatchSize                      int // 0: the paper's 28
	// KFACRates are the learning rates with K-FAC, PlainRates without
	// (the paper's SGD grid); Lambdas is the lambda grid of all.
	KFACRates, PlainRates, Lambdas []float64
}

// fig2Settings: full mode, a near, a middle and a far task with lqf
// finetune's sizes and grids (K-FAC eta in {0.001, 0.0003}, plain SGD eta in
// {0.01, 0.001}, lambda in {1e-4, 1e-5}, batch 28, 10 epochs); quick mode
// one task, 40 images, batch 8, 8 epochs, lambda 1e-4.
func fig2Settings(quick bool) fig2Config {
	if quick {
		return fig2Config{Tasks: []string{nearTask}, MaxTrain: 40, ValPerClass: 10, MaxTest: 200, Epochs: 8, BatchSize: 8,
			KFACRates: finetune.CurvatureGrid(finetune.LQF), PlainRates: []float64{0.01, 0.001}, Lambdas: []float64{1e-4}}
	}
	lrs, wds := finetune.PaperGrid(finetune.LQF, model.MSE)
	return fig2Config{Tasks: []string{nearTask, "fashion", farTask}, MaxTrain: 500, ValPerClass: 100, MaxTest: 2000, Epochs: 10,
		KFACRates: finetune.CurvatureGrid(finetune.LQF), PlainRates: lrs, Lambdas: wds}
}

// fig2Cell is one variant on one task for one seed.
type fig2Cell struct {
	Task         string  `json:"task"`
	Rank         int     `json:"rank"`
	Variant      string  `json:"variant"`
	TestError    float64 `json:"test_error"`
	ValError     float64 `json:"val_error"`
	LearningRate float64 `json:"learning_rate"`
	Lambda       float64 `json:"weight_decay"`
	// Diverged counts the grid points that diverged; when all did, the
	// errors are chance level (1 - 1/C).
	Diverged int     `json:"diverged"`
	Seconds  float64 `json:"seconds"`
}

type fig2Result struct {
	Cells []fig2Cell `json:"cells"`
}

// fig2Options returns the fine-tuning options of a variant and the
// activation of its backbone.
func fig2Options(cfg fig2Config, v string, seed uint64, curvature map[model.Activation]model.CurvatureFunc) (finetune.Options, model.Activation) {
	o := finetune.DefaultOptions(finetune.LQF)
	o.Seed, o.Epochs, o.Lambdas = seed, cfg.Epochs, cfg.Lambdas
	if cfg.BatchSize > 0 {
		o.BatchSize = cfg.BatchSize
	}
	act := model.LeakyReLU
	if v == "-leaky" {
		act = model.ReLU
	}
	if v == "-mse" {
		o.Loss = model.CrossEntropy
	}
	if v == "-kfac" {
		o.LearningRates = cfg.PlainRates
	} else {
		o.Curvature, o.LearningRates = curvature[act], cfg.KFACRates
	}
	return o, act
}

func runFig2(env *Env, seed uint64) (any, error) {
	cfg := fig2Settings(env.Quick)
	backbones, err := loadBackbones(env.Backend)
	if err != nil {
		return nil, err
	}
	res := fig2Result{}
	for _, name := range cfg.Tasks {
		task, splits, err := loadTask(name, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
		if err != nil {
			return nil, err
		}
		// The K-FAC factors depend on the backbone and the training set:
		// LQF and its MSE ablation share the Leaky-ReLU ones.
		curvature := map[model.Activation]model.CurvatureFunc{model.LeakyReLU: memoKFAC(seed), model.ReLU: memoKFAC(seed)}
		// So do their Jacobian features, at every grid point.
		jacobians := &finetune.JacobianCache{}
		for _, v := range fig2Variants {
			o, act := fig2Options(cfg, v.Name, seed, curvature)
			o.JacobianCache = jacobians
			c, err := Cell(env, seed, name+"/"+v.Name, func() (fig2Cell, error) {
				c := fig2Cell{Task: name, Rank: task.Rank, Variant: v.Name}
				r, diverged, err := finetuneEachPoint(env.Backend, backbones[act], splits, o)
				c.Diverged = diverged
				switch {
				case errors.Is(err, model.ErrDiverged):
					chance := 1 - 1/float64(splits.Train.NumClasses)
					c.TestError, c.ValError = chance, chance
				case err != nil:
					return c, fmt.Errorf("%s, %s: %w", name, v.Name, err)
				default:
					c.TestError, c.ValError, c.LearningRate, c.Lambda, c.Seconds = r.TestError, r.ValError, r.LearningRate, r.Lambda, r.Seconds
				}
				return c, nil
			})
			if err != nil {
				return nil, err
			}
			env.Logf("fig2 seed %d: %s %s: test error %.4f (val %.4f, %d diverged)", seed, name, v.Name, c.TestError, c.ValError, c.Diverged)
			// A variant whose every grid point diverged is a diverged run
			// (its errors are chance level then).
			trained := []finetune.GridPoint{{}}
			if c.Diverged >= len(o.LearningRates)*len(o.Lambdas) {
				trained = nil
			}
			env.noteRun(seed, name+"/"+v.Name, &finetune.Result{TestError: c.TestError, Grid: trained}, true)
			res.Cells = append(res.Cells, c)
		}
	}
	return res, nil
}

func summarizeFig2(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig2Result](raw)
	if err != nil {
		return nil, err
	}
	errs := map[string]map[string][]float64{} // task -> variant -> per seed
	rank := map[string]int{}
	diverged := map[string]int{}
	var tasks []string
	for _, r := range results {
		for _, c := range r.Cells {
			if _, ok := errs[c.Task]; !ok {
				errs[c.Task] = map[string][]float64{}
				tasks = append(tasks, c.Task)
				rank[c.Task] = c.Rank
			}
			errs[c.Task][c.Variant] = append(errs[c.Task][c.Variant], c.TestError)
			diverged[c.Variant] += c.Diverged
		}
	}
	if len(tasks) == 0 {
		return nil, errors.New("no results")
	}
	sort.SliceStable(tasks, func(a, b int) bool { return rank[tasks[a]] < rank[tasks[b]] })
	for _, t := range tasks {
		for _, v := range fig2Variants {
			if len(errs[t][v.Name]) != len(results) {
				return nil, fmt.Errorf("task %s, %s: %d results for %d seeds", t, v.Name, len(errs[t][v.Name]), len(results))
			}
		}
	}
	s := &Summary{Header: []string{"task"}, Values: map[string]float64{}}
	for _, v := range fig2Variants {
		s.Header = append(s.Header, v.Label)
	}
	increase := map[string]float64{} // mean over tasks of (variant - LQF)
	var series []figure.BarSeries
	for _, v := range fig2Variants {
		bs := figure.BarSeries{Name: v.Label}
		for _, t := range tasks {
			m, sd := MeanStd(errs[t][v.Name])
			bs.Values, bs.Err = append(bs.Values, m), append(bs.Err, sd)
			s.Values[t+"/"+v.Name] = m
			full, _ := MeanStd(errs[t]["lqf"])
			increase[v.Name] += (m - full) / float64(len(tasks))
		}
		if len(results) < 2 {
			bs.Err = nil
		}
		series = append(series, bs)
	}
	var labels []string
	for _, t := range tasks {
		labels = append(labels, taskLabel(t))
	}
	p, err := figure.GroupedBars(labels, series, figure.BarOptions{YLabel: "test error (fraction)", XLabel: "target task, near to far from the source",
		Title: fmt.Sprintf("LQF ablation: test error (%s)", overSeeds(len(results)))})
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		row := []string{t}
		for _, v := range fig2Variants {
			row = append(row, PlusMinus(errs[t][v.Name], "%.4f"))
		}
		s.Rows = append(s.Rows, row)
	}
	row := []string{"mean change vs LQF"}
	var parts []string
	helps, worst, worstInc := 0, "", math.Inf(-1)
	for _, v := range fig2Variants {
		row = append(row, fmt.Sprintf("%+.4f", increase[v.Name]))
		if v.Name == "lqf" {
			continue
		}
		s.Values["increase/"+v.Name] = increase[v.Name]
		parts = append(parts, fmt.Sprintf("%s %+.3f", strings.TrimPrefix(v.Name, "-"), increase[v.Name]))
		if increase[v.Name] > 0 {
			helps++
		}
		if increase[v.Name] > worstInc {
			worst, worstInc = v.Name, increase[v.Name]
		}
		if diverged[v.Name] > 0 {
			s.Values["diverged/"+v.Name] = float64(diverged[v.Name])
		}
	}
	s.Rows = append(s.Rows, row)
	name := "fig2.png"
	if err := figure.SavePlot(p, vg.Length(260+90*len(tasks)), 300, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}
	s.Finding = fmt.Sprintf("Removing each ingredient changes LQF's test error (mean over %d tasks) by: %s; %d of 3 ablations hurt, the largest harm from removing %s (paper: each helps, MSE the most).",
		len(tasks), strings.Join(parts, ", "), helps, strings.TrimPrefix(worst, "-"))
	return s, nil
}
