package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/plot"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

func init() {
	Register(Experiment{
		ID:        "table1",
		Title:     "Test error of NLFT, LQF, LQF-FC, GaF and FC on every target task, near to far from the source",
		Claim:     "LQF comes closest to non-linear fine-tuning among the linear methods (paper Table 1: median error +12% over NLFT, vs +47% for GaF and +71% for FC).",
		Run:       runTable1,
		Summarize: summarizeTable1,
	})
}

// table1Methods lists the methods of Table 1 in column order.
var table1Methods = []finetune.Method{finetune.NLFT, finetune.LQF, finetune.LQFFC, finetune.GaF, finetune.FC}

// table1Config is the protocol of Table 1 in one mode.
type table1Config struct {
	Tasks                          []string
	MaxTrain, ValPerClass, MaxTest int
	// BatchSize of the iterative methods (0: the paper's 28).
	BatchSize int
	// Epochs overrides the method's default number of epochs (absent: the
	// default of finetune.DefaultOptions).
	Epochs map[finetune.Method]float64
	// Grid returns the learning rates and weight decays searched on the
	// validation split; the exact solver ignores the learning rates.
	Grid func(m finetune.Method) (lrs, wds []float64)
}

// table1Settings returns Table 1's protocol. Full mode: every target task,
// at most 500 training images (lqf finetune's default), 100 validation
// images per class, 2000 test images, default epochs and the paper's grid
// (lambda in {1e-4, 1e-5}); LQF and LQF-FC by the exact solver, whose
// Jacobian (5000 rows x 78k parameters, 1.6 GB) fits. Quick mode: a near
// and a far task, 40 training images, batch 8 (for enough steps), 8 epochs
// of NLFT and GaF, one grid point per method.
func table1Settings(quick bool) table1Config {
	if quick {
		return table1Config{
			Tasks:    []string{"fashion-5-9", "mnist-rot90"},
			MaxTrain: 40, ValPerClass: 10, MaxTest: 200, BatchSize: 8,
			Epochs: map[finetune.Method]float64{finetune.NLFT: 8, finetune.GaF: 8, finetune.FC: 30},
			Grid: func(m finetune.Method) ([]float64, []float64) {
				switch m {
				case finetune.FC:
					return []float64{0.1}, []float64{1e-4}
				case finetune.LQF, finetune.LQFFC:
					return []float64{0}, []float64{1e-4}
				}
				return []float64{0.01}, []float64{1e-4}
			},
		}
	}
	var tasks []string
	for _, t := range table1Targets() {
		tasks = append(tasks, t.Name)
	}
	return table1Config{
		Tasks:    tasks,
		MaxTrain: 500, ValPerClass: 100, MaxTest: 2000,
		Grid: func(m finetune.Method) ([]float64, []float64) {
			lrs, wds := finetune.PaperGrid(m, finetune.DefaultOptions(m).Loss)
			if m == finetune.LQF || m == finetune.LQFFC {
				lrs = []float64{0}
			}
			return lrs, wds
		},
	}
}

// table1Targets returns the target tasks sorted by Rank (near to far).
func table1Targets() []data.Task {
	var out []data.Task
	for _, t := range data.Tasks() {
		if t.Role == data.Target {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Rank < out[b].Rank })
	return out
}

// table1Cell is one method's result on one task for one seed.
type table1Cell struct {
	Task         string  `json:"task"`
	Rank         int     `json:"rank"`
	Method       string  `json:"method"`
	Solver       string  `json:"solver"` // "sgd", "closed form"
	TestError    float64 `json:"test_error"`
	ValError     float64 `json:"val_error"`
	TrainError   float64 `json:"train_error"`
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay"`
	Diverged     int     `json:"diverged"` // grid points that diverged
	TrainSize    int     `json:"train_size"`
	TestSize     int     `json:"test_size"`
	Seconds      float64 `json:"seconds"`
}

// table1Result is one seed of Table 1.
type table1Result struct {
	Cells []table1Cell `json:"cells"`
}

// runTable1 reuses the seed's Table 1 result when Figure 1 (which needs the
// same numbers for its box plot) already computed it in the same output
// directory and mode, and computes it otherwise.
func runTable1(env *Env, seed uint64) (any, error) {
	if r, ok := siblingTable1(env, "fig1", seed); ok {
		env.Logf("table1 seed %d: reusing the result of fig1", seed)
		return r, nil
	}
	return computeTable1(env, seed)
}

// siblingTable1 reads the Table 1 part of experiment id's cached result of
// the seed (same mode, same output directory): table1's own seed file, or
// the "table1" field of fig1's.
func siblingTable1(env *Env, id string, seed uint64) (*table1Result, bool) {
	sub := id
	if env.Quick {
		sub += "-quick"
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(env.Dir), sub, fmt.Sprintf("seed-%d.json", seed)))
	if err != nil {
		return nil, false
	}
	var r table1Result
	if id == "fig1" {
		var f fig1Result
		if json.Unmarshal(raw, &f) != nil || f.Table1 == nil {
			return nil, false
		}
		r = *f.Table1
	} else if json.Unmarshal(raw, &r) != nil {
		return nil, false
	}
	if len(r.Cells) != len(table1Settings(env.Quick).Tasks)*len(table1Methods) {
		return nil, false
	}
	return &r, true
}

// computeTable1 fine-tunes every method on every task of the mode.
func computeTable1(env *Env, seed uint64) (*table1Result, error) {
	cfg := table1Settings(env.Quick)
	backbones, err := table1Backbones(env.Backend)
	if err != nil {
		return nil, err
	}
	res := &table1Result{}
	for _, name := range cfg.Tasks {
		task, err := data.TaskByName(name)
		if err != nil {
			return nil, err
		}
		splits, err := task.Load(data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, m := range table1Methods {
			o := finetune.DefaultOptions(m)
			o.Seed = seed
			o.LearningRates, o.WeightDecays = cfg.Grid(m)
			if cfg.BatchSize > 0 {
				o.BatchSize = cfg.BatchSize
			}
			if e, ok := cfg.Epochs[m]; ok {
				o.Epochs = e
			}
			solver := "sgd"
			if m == finetune.LQF || m == finetune.LQFFC {
				o.Solver, solver = finetune.SolverExact, "closed form"
			}
			c, err := Cell(env, seed, name+"/"+string(m), func() (table1Cell, error) {
				r, diverged, err := finetuneEachPoint(env.Backend, backbones[m.Activation()], splits, o)
				if err != nil {
					return table1Cell{}, fmt.Errorf("%s, %s: %w", name, m, err)
				}
				return table1Cell{Task: name, Rank: task.Rank, Method: string(m), Solver: solver,
					TestError: r.TestError, ValError: r.ValError, TrainError: r.TrainError, LearningRate: r.LearningRate,
					WeightDecay: r.WeightDecay, Diverged: diverged, TrainSize: r.TrainSize, TestSize: r.TestSize, Seconds: r.Seconds}, nil
			})
			if err != nil {
				return nil, err
			}
			env.Logf("table1 seed %d: %s %s: test error %.4f (val %.4f, %.0fs)", seed, name, m, c.TestError, c.ValError, c.Seconds)
			res.Cells = append(res.Cells, c)
		}
	}
	return res, nil
}

// table1Backbones loads the committed ReLU and Leaky-ReLU backbones.
func table1Backbones(be backends.Backend) (map[model.Activation]*model.Network, error) {
	out := map[model.Activation]*model.Network{}
	for _, a := range []model.Activation{model.ReLU, model.LeakyReLU} {
		n, err := pretrained.Load(be, a)
		if err != nil {
			return nil, err
		}
		out[a] = n
	}
	return out, nil
}

// finetuneEachPoint is finetune.Run that survives divergence: an
// iterative method is fine-tuned one grid point at a time, a point whose
// loss overflows is counted in diverged and skipped, and the point with the
// lowest validation error is returned (its Grid lists the points that
// trained). The exact solver, which cannot diverge, runs the whole grid at
// once. It fails if every point diverged. o.Curvature is called once per
// point: wrap it with memoCurvature to compute the factors once (the
// Jacobian features are shared through o.JacobianCache).
func finetuneEachPoint(be backends.Backend, base *model.Network, splits *data.Splits, o finetune.Options) (best *finetune.Result, diverged int, err error) {
	if o.Solver == finetune.SolverExact {
		r, _, err := finetune.Run(be, base, splits, o)
		return r, 0, err
	}
	if o.JacobianCache == nil {
		// The points share the linear methods' Jacobian features.
		o.JacobianCache = &finetune.JacobianCache{}
	}
	var grid []finetune.GridPoint
	seconds := 0.0
	for _, lr := range o.LearningRates {
		for _, wd := range o.WeightDecays {
			p := o
			p.LearningRates, p.WeightDecays = []float64{lr}, []float64{wd}
			r, _, err := finetune.Run(be, base, splits, p)
			if errors.Is(err, model.ErrDiverged) {
				diverged++
				continue
			}
			if err != nil {
				return nil, 0, fmt.Errorf("lr %g, wd %g: %w", lr, wd, err)
			}
			grid = append(grid, r.Grid...)
			seconds += r.Seconds
			if best == nil || r.ValError < best.ValError {
				best = r
			}
		}
	}
	if best == nil {
		return nil, diverged, fmt.Errorf("every one of the %d grid points diverged: %w", diverged, model.ErrDiverged)
	}
	best.Grid, best.Seconds = grid, seconds
	return best, diverged, nil
}

// memoCurvature wraps f so that the curvature is computed on the first
// call and returned again on the next ones: valid while every call passes
// the same training set and a network with the same weights (Finetune
// replaces the head with the same seed at every grid point).
func memoCurvature(f model.CurvatureFunc) model.CurvatureFunc {
	var (
		c     model.Curvature
		train *data.Set
	)
	return func(be backends.Backend, net *model.Network, set *data.Set) (model.Curvature, error) {
		if c != nil && set == train {
			return c, nil
		}
		var err error
		if c, err = f(be, net, set); err != nil {
			c = nil
			return nil, err
		}
		train = set
		return c, nil
	}
}

// table1KFAC is the K-FAC curvature lqf finetune uses for LQF (KFC
// factors, EK-FAC eigenvalue correction, extra damping 1e-3), computed
// once per training set.
func table1KFAC(seed uint64) model.CurvatureFunc {
	return memoCurvature(kfac.CurvatureFunc(kfac.Options{Expand: true, EigenCorrection: true, ExtraDamping: 1e-3, Seed: seed}))
}

// kfacLQFRates are the learning rates of K-FAC-preconditioned LQF (as in
// lqf finetune: the paper's 0.1 diverges on this backbone).
var kfacLQFRates = []float64{0.001, 0.0003}

// table1Stats holds Table 1's errors by task and method: per seed, in
// seed order.
type table1Stats struct {
	Tasks []string       // sorted by rank
	Rank  map[string]int // task -> rank
	// Err[task][method] lists the test errors over seeds.
	Err map[string]map[string][]float64
}

// collectTable1 groups the cells of every seed by task and method.
func collectTable1(results []table1Result) (*table1Stats, error) {
	s := &table1Stats{Rank: map[string]int{}, Err: map[string]map[string][]float64{}}
	for _, r := range results {
		for _, c := range r.Cells {
			if _, ok := s.Err[c.Task]; !ok {
				s.Err[c.Task] = map[string][]float64{}
				s.Tasks = append(s.Tasks, c.Task)
				s.Rank[c.Task] = c.Rank
			}
			s.Err[c.Task][c.Method] = append(s.Err[c.Task][c.Method], c.TestError)
		}
	}
	if len(s.Tasks) == 0 {
		return nil, errors.New("no Table 1 results")
	}
	sort.SliceStable(s.Tasks, func(a, b int) bool { return s.Rank[s.Tasks[a]] < s.Rank[s.Tasks[b]] })
	for _, t := range s.Tasks {
		for _, m := range table1Methods {
			if len(s.Err[t][string(m)]) != len(results) {
				return nil, fmt.Errorf("task %s, method %s: %d results for %d seeds", t, m, len(s.Err[t][string(m)]), len(results))
			}
		}
	}
	return s, nil
}

// relative returns, for each task (in s.Tasks order) where NLFT's mean
// error is positive, the mean over seeds of method m's error divided by
// NLFT's error of the same seed (seeds with a zero NLFT error are left
// out), and the number of tasks left out.
func (s *table1Stats) relative(m finetune.Method) (ratios []float64, skipped int) {
	for _, t := range s.Tasks {
		var r []float64
		for i, e := range s.Err[t][string(m)] {
			if base := s.Err[t][string(finetune.NLFT)][i]; base > 0 {
				r = append(r, e/base)
			}
		}
		if len(r) == 0 {
			skipped++
			continue
		}
		mean, _ := MeanStd(r)
		ratios = append(ratios, mean)
	}
	return ratios, skipped
}

// table1Median returns the median of x (NaN for none).
func table1Median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	if n := len(y); n%2 == 1 {
		return y[n/2]
	} else {
		return (y[n/2-1] + y[n/2]) / 2
	}
}

// table1Headroom raises the top of p's y axis so that the range of the data
// takes 1/f of the height, leaving room for a legend at the top.
func table1Headroom(p *plot.Plot, f float64) {
	p.Y.Max = p.Y.Min + f*(p.Y.Max-p.Y.Min)
}

// table1Label is a method's name in tables and legends.
func table1Label(m finetune.Method) string {
	switch m {
	case finetune.LQFFC:
		return "LQF-FC"
	case finetune.GaF:
		return "GaF"
	}
	return strings.ToUpper(string(m))
}

func summarizeTable1(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[table1Result](raw)
	if err != nil {
		return nil, err
	}
	st, err := collectTable1(results)
	if err != nil {
		return nil, err
	}
	s := &Summary{Header: []string{"task", "rank"}, Values: map[string]float64{}}
	for _, m := range table1Methods {
		s.Header = append(s.Header, table1Label(m))
	}
	series := make([]figure.Series, len(table1Methods))
	for k, m := range table1Methods {
		series[k].Name = table1Label(m)
		series[k].Dashed = m != finetune.NLFT && m != finetune.LQF
	}
	for _, t := range st.Tasks {
		row := []string{t, fmt.Sprint(st.Rank[t])}
		for k, m := range table1Methods {
			e := st.Err[t][string(m)]
			mean, std := MeanStd(e)
			row = append(row, PlusMinus(e, "%.4f"))
			s.Values[t+"/"+string(m)] = mean
			series[k].X = append(series[k].X, float64(st.Rank[t]))
			series[k].Y = append(series[k].Y, mean)
			series[k].Err = append(series[k].Err, std)
		}
		s.Rows = append(s.Rows, row)
	}
	medRow := []string{"median error / NLFT", ""}
	var parts []string
	best, bestMed := finetune.Method(""), math.Inf(1)
	for _, m := range table1Methods {
		r, _ := st.relative(m)
		med := table1Median(r)
		medRow = append(medRow, fmt.Sprintf("%.3f", med))
		s.Values["median_relative/"+string(m)] = med
		if m != finetune.NLFT {
			parts = append(parts, fmt.Sprintf("%s %+.0f%%", table1Label(m), 100*(med-1)))
			if med < bestMed {
				best, bestMed = m, med
			}
		}
	}
	s.Rows = append(s.Rows, medRow)
	p, err := figure.Lines(series, figure.LineOptions{Title: fmt.Sprintf("Test error by task, near to far (%d seeds)", len(results)),
		XLabel: "task rank (1 = nearest to the source)", YLabel: "test error"})
	if err != nil {
		return nil, err
	}
	table1Headroom(p, 1.45)
	name := "table1.png"
	if err := figure.SavePlot(p, 400, 280, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}
	verdict := "as in the paper"
	if best != finetune.LQF {
		verdict = "unlike the paper, where it is LQF"
	}
	lqfRatio := s.Values["median_relative/"+string(finetune.LQF)]
	side := "above"
	if lqfRatio < 1 {
		side = "below"
	}
	s.Finding = fmt.Sprintf("With LQF and LQF-FC at their closed-form optimum (not K-FAC SGD), median test error relative to NLFT over %d tasks: %s (paper: LQF +12%%, GaF +47%%, FC +71%%); the linear method with the lowest relative error is %s, %s, and LQF's error is %s NLFT's (median ratio %.2f; paper 1.12).",
		len(st.Tasks), strings.Join(parts, ", "), table1Label(best), verdict, side, lqfRatio)
	if lqfRatio < 1 {
		// The paper's Table 1 trains on whole data sets; these tasks keep at
		// most MaxTrain images, the regime where the paper (Fig. 4, Sec. 4)
		// itself finds LQF ahead of NLFT.
		s.Finding += fmt.Sprintf(" Each task here trains on at most %d images, the low-data regime in which the paper also finds LQF ahead of NLFT (its Fig. 4); its Table 1 trains on whole data sets, where NLFT leads.",
			table1Settings(env.Quick).MaxTrain)
	}
	return s, nil
}
