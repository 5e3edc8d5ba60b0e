package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
)

// This file holds the method comparison of Table 1, which Fig. 1 (left)
// draws too: every method fine-tuned on every task of a mode
// (computeComparison), a seed's result shared by the two experiments
// through the other's cache (cachedComparison), and the errors grouped by
// task and method (collectComparison).

// comparedMethods lists the methods of Table 1 in column order.
var comparedMethods = []finetune.Method{finetune.NLFT, finetune.LQF, finetune.LQFFC, finetune.GaF, finetune.FC}

// comparisonConfig is the protocol of Table 1 in one mode.
type comparisonConfig struct {
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

// comparisonSettings returns Table 1's protocol. Full mode: every target task,
// at most 500 training images (lqf finetune's default), 100 validation
// images per class, 2000 test images, default epochs and the paper's grid
// (lambda in {1e-4, 1e-5}); LQF and LQF-FC by the exact solver, whose
// Jacobian (5000 rows x 78k parameters, 1.6 GB) fits. Quick mode: a near
// and a far task, 40 training images, batch 8 (for enough steps), 8 epochs
// of NLFT and GaF, one grid point per method.
func comparisonSettings(quick bool) comparisonConfig {
	if quick {
		return comparisonConfig{
			Tasks:    []string{nearTask, farTask},
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
	for _, t := range targetTasks() {
		tasks = append(tasks, t.Name)
	}
	return comparisonConfig{
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

// comparisonCell is one method's result on one task for one seed.
type comparisonCell struct {
	Task         string  `json:"task"`
	Rank         int     `json:"rank"`
	Method       string  `json:"method"`
	Solver       string  `json:"solver"` // "sgd", "closed form"
	TestError    float64 `json:"test_error"`
	ValError     float64 `json:"val_error"`
	TrainError   float64 `json:"train_error"`
	LearningRate float64 `json:"learning_rate"`
	Lambda       float64 `json:"weight_decay"`
	Diverged     int     `json:"diverged"` // grid points that diverged
	TrainSize    int     `json:"train_size"`
	TestSize     int     `json:"test_size"`
	Seconds      float64 `json:"seconds"`
}

// comparisonResult is one seed of Table 1.
type comparisonResult struct {
	Cells []comparisonCell `json:"cells"`
}

// cachedComparison reads the comparison in experiment id's cached result
// of the seed (same mode, same output directory): table1's own seed file,
// or the "table1" field of fig1's, so that whichever of the two runs second
// reuses it.
func cachedComparison(env *Env, id string, seed uint64) (*comparisonResult, bool) {
	sub := id
	if env.Quick {
		sub += "-quick"
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(env.Dir), sub, fmt.Sprintf("seed-%d.json", seed)))
	if err != nil {
		return nil, false
	}
	var r comparisonResult
	if id == "fig1" {
		var f struct {
			Table1 *comparisonResult `json:"table1"` // fig1Result's
		}
		if json.Unmarshal(raw, &f) != nil || f.Table1 == nil {
			return nil, false
		}
		r = *f.Table1
	} else if json.Unmarshal(raw, &r) != nil {
		return nil, false
	}
	if len(r.Cells) != len(comparisonSettings(env.Quick).Tasks)*len(comparedMethods) {
		return nil, false
	}
	return &r, true
}

// computeComparison fine-tunes every method on every task of the mode.
func computeComparison(env *Env, seed uint64) (*comparisonResult, error) {
	cfg := comparisonSettings(env.Quick)
	backbones, err := loadBackbones(env.Backend)
	if err != nil {
		return nil, err
	}
	res := &comparisonResult{}
	for _, name := range cfg.Tasks {
		task, splits, err := loadTask(name, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
		if err != nil {
			return nil, err
		}
		for _, m := range comparedMethods {
			o := finetune.DefaultOptions(m)
			o.Seed = seed
			o.LearningRates, o.Lambdas = cfg.Grid(m)
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
			c, err := Cell(env, seed, name+"/"+string(m), func() (comparisonCell, error) {
				r, diverged, err := finetuneEachPoint(env.Backend, backbones[m.Activation()], splits, o)
				if err != nil {
					return comparisonCell{}, fmt.Errorf("%s, %s: %w", name, m, err)
				}
				return comparisonCell{Task: name, Rank: task.Rank, Method: string(m), Solver: solver,
					TestError: r.TestError, ValError: r.ValError, TrainError: r.TrainError, LearningRate: r.LearningRate,
					Lambda: r.Lambda, Diverged: diverged, TrainSize: r.TrainSize, TestSize: r.TestSize, Seconds: r.Seconds}, nil
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

// noteComparisonRuns records the end state of every run of a Table 1
// comparison (Env.noteRun), computed now or reused from Fig. 1 or Table 1:
// a cell keeps its selected point's errors, and non-finite ones are a
// diverged run (a method whose every grid point diverged fails the seed).
// LQF and LQF-FC are in closed form here: no gap.
func noteComparisonRuns(env *Env, seed uint64, r *comparisonResult) {
	for _, c := range r.Cells {
		env.noteRun(seed, c.Task+"/"+c.Method, &finetune.Result{TrainError: c.TrainError, TestError: c.TestError, Grid: []finetune.GridPoint{{}}}, false)
	}
}

// comparisonStats holds Table 1's errors by task and method: per seed, in
// seed order.
type comparisonStats struct {
	Tasks []string       // sorted by rank
	Rank  map[string]int // task -> rank
	// Err[task][method] lists the test errors over seeds.
	Err map[string]map[string][]float64
}

// collectComparison groups the cells of every seed by task and method.
func collectComparison(results []comparisonResult) (*comparisonStats, error) {
	s := &comparisonStats{Rank: map[string]int{}, Err: map[string]map[string][]float64{}}
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
		for _, m := range comparedMethods {
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
func (s *comparisonStats) relative(m finetune.Method) (ratios []float64, skipped int) {
	tasks, ratios, _ := s.relativeByTask(m)
	return ratios, len(s.Tasks) - len(tasks)
}

// relativeByTask returns the tasks (in s.Tasks order) where NLFT has a
// positive error on some seed, and for each the mean and standard deviation
// over those seeds of method m's error divided by NLFT's error of the same
// seed.
func (s *comparisonStats) relativeByTask(m finetune.Method) (tasks []string, mean, std []float64) {
	for _, t := range s.Tasks {
		var r []float64
		for i, e := range s.Err[t][string(m)] {
			if base := s.Err[t][string(finetune.NLFT)][i]; base > 0 {
				r = append(r, e/base)
			}
		}
		if len(r) == 0 {
			continue
		}
		mu, sd := MeanStd(r)
		tasks, mean, std = append(tasks, t), append(mean, mu), append(std, sd)
	}
	return tasks, mean, std
}

// comparisonPart is the part of the claims of Table 1 and Fig. 1 that the
// comparison tests: LQF's median error relative to NLFT over tasks is below
// GaF's and FC's.
func comparisonPart(v Measured) ClaimPart {
	lqf, gaf, fc := v.Get("median_relative/lqf"), v.Get("median_relative/gaf"), v.Get("median_relative/fc")
	return part(lqf < gaf && lqf < fc,
		"LQF's median error relative to NLFT (%s) is below GaF's (%s) and FC's (%s)", pct(lqf), pct(gaf), pct(fc))
}
