package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
)

func init() {
	Register(Experiment{
		ID:    "fig1",
		Title: "Error relative to NLFT over tasks (left) and sensitivity to the learning rate and batch size (right)",
		Claim: "Over tasks LQF's error is closest to NLFT's (median +12%, GaF +47%, FC +71%), and LQF's best effective learning rate eta/((1-m) b) " +
			"is far more stable than NLFT's, its error varying less over an eta x batch-size grid (paper Fig. 1).",
		Run:       runFig1,
		Summarize: summarizeFig1,
		Judge:     judgeFig1,
		// RecordsRuns: Run records its runs' end states (validity.go).
		RecordsRuns: true,
	})
}

// judgeFig1 tests Table 1's part of the claim and the sensitivity: the
// best effective learning rate's spread over tasks (which needs at least
// two tasks: full mode; quick mode runs one) and the error's range over
// the grid.
func judgeFig1(v Measured) Verdict {
	parts := []ClaimPart{comparisonPart(v)}
	l, n := v.Get("mean_range/lqf"), v.Get("mean_range/nlft")
	if v.Has("best_elr_span/lqf") {
		ls, ns := v.Get("best_elr_span/lqf"), v.Get("best_elr_span/nlft")
		parts = append(parts, part(ls < ns, "LQF's best effective learning rate varies less over tasks than NLFT's (%.3gx vs %.3gx)", ls, ns))
	}
	parts = append(parts, part(l < n, "LQF's validation error varies less over the eta x batch grid than NLFT's (range %.3f vs %.3f)", l, n))
	return verdictOf(parts...)
}

// fig1Methods are the methods of the sensitivity grid.
var fig1Methods = []finetune.Method{finetune.LQF, finetune.NLFT}

// fig1Config is the protocol of Fig. 1 right in one mode.
type fig1Config struct {
	Tasks                          []string
	MaxTrain, ValPerClass, MaxTest int
	Epochs                         float64
	Lambda                         float64
	// Etas are each method's learning rates: the same span (a factor 10
	// in quick mode, 33 in full mode) around each method's working range;
	// K-FAC-preconditioned LQF diverges at NLFT's rates on this backbone.
	Etas    map[finetune.Method][]float64
	Batches []int
}

// fig1Settings returns the sensitivity grid of a mode. Both methods use
// SGD with momentum 0.9 (LQF preconditioned by K-FAC as in lqf finetune),
// a fixed weight decay 1e-4 and the same epochs.
func fig1Settings(quick bool) fig1Config {
	if quick {
		return fig1Config{
			Tasks:    []string{nearTask},
			MaxTrain: 40, ValPerClass: 10, MaxTest: 50, Epochs: 8, Lambda: 1e-4,
			Etas:    map[finetune.Method][]float64{finetune.NLFT: {0.03, 0.003}, finetune.LQF: {0.001, 0.0001}},
			Batches: []int{8, 20},
		}
	}
	return fig1Config{
		Tasks:    []string{nearTask, "fashion", farTask},
		MaxTrain: 500, ValPerClass: 100, MaxTest: 500, Epochs: 10, Lambda: 1e-4,
		Etas: map[finetune.Method][]float64{
			finetune.NLFT: {0.1, 0.03, 0.01, 0.003},
			finetune.LQF:  {0.003, 0.001, 0.0003, 0.0001},
		},
		Batches: []int{8, 28, 64},
	}
}

// fig1Point is one (method, eta, batch) cell of the grid on one task.
type fig1Point struct {
	Task         string  `json:"task"`
	Method       string  `json:"method"`
	LearningRate float64 `json:"learning_rate"`
	// BatchSize is the batch actually used (at most the training size).
	BatchSize int     `json:"batch_size"`
	Momentum  float64 `json:"momentum"`
	// ELR is the effective learning rate eta / ((1 - momentum) batch).
	ELR float64 `json:"elr"`
	// ValError is the validation error; chance level (1 - 1/C) when the
	// run diverged.
	ValError  float64 `json:"val_error"`
	TestError float64 `json:"test_error"`
	Diverged  bool    `json:"diverged"`
}

// fig1Result is one seed of Fig. 1: Table 1's errors (left) and the grid
// (right).
type fig1Result struct {
	Table1 *comparisonResult `json:"table1"`
	Grid   []fig1Point       `json:"grid"`
}

// effectiveLR is the paper's effective learning rate eta / ((1 - m) b).
func effectiveLR(eta, momentum float64, batch int) float64 {
	return eta / ((1 - momentum) * float64(batch))
}

func runFig1(env *Env, seed uint64) (any, error) {
	res := fig1Result{}
	if t, ok := cachedComparison(env, "table1", seed); ok {
		env.Logf("fig1 seed %d: reusing the result of table1", seed)
		res.Table1 = t
	} else {
		t, err := computeComparison(env, seed)
		if err != nil {
			return nil, err
		}
		res.Table1 = t
	}
	// The comparison's runs; the eta x batch grid below is not recorded:
	// its diverged points are what Fig. 1 right measures, not a failed run.
	noteComparisonRuns(env, seed, res.Table1)
	cfg := fig1Settings(env.Quick)
	backbones, err := loadBackbones(env.Backend)
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.Tasks {
		_, splits, err := loadTask(name, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
		if err != nil {
			return nil, err
		}
		chance := 1 - 1/float64(splits.Train.NumClasses)
		// LQF's Jacobian features are the same at every (eta, batch).
		jacobians := &finetune.JacobianCache{}
		for _, m := range fig1Methods {
			o := finetune.DefaultOptions(m)
			o.Seed, o.Epochs, o.Lambdas = seed, cfg.Epochs, []float64{cfg.Lambda}
			o.JacobianCache = jacobians
			if m == finetune.LQF {
				o.Curvature = memoKFAC(seed) // one per task and seed
			}
			for _, b := range cfg.Batches {
				for _, eta := range cfg.Etas[m] {
					o.BatchSize, o.LearningRates = b, []float64{eta}
					bs := min(b, splits.Train.Len())
					pt, err := Cell(env, seed, fmt.Sprintf("%s/%s/eta=%g/batch=%d", name, m, eta, b), func() (fig1Point, error) {
						pt := fig1Point{Task: name, Method: string(m), LearningRate: eta, BatchSize: bs, Momentum: o.Momentum,
							ELR: effectiveLR(eta, o.Momentum, bs)}
						r, _, err := finetune.Run(env.Backend, backbones[m.Activation()], splits, o)
						switch {
						case errors.Is(err, model.ErrDiverged):
							pt.Diverged, pt.ValError, pt.TestError = true, chance, chance
						case err != nil:
							return pt, fmt.Errorf("%s, %s, eta %g, batch %d: %w", name, m, eta, b, err)
						default:
							pt.ValError, pt.TestError = r.ValError, r.TestError
						}
						return pt, nil
					})
					if err != nil {
						return nil, err
					}
					env.Logf("fig1 seed %d: %s %s eta %g batch %d (ELR %.3g): val error %.4f%s", seed, name, m, eta, bs, pt.ELR, pt.ValError,
						map[bool]string{true: " (diverged)"}[pt.Diverged])
					res.Grid = append(res.Grid, pt)
				}
			}
		}
	}
	return res, nil
}

// fig1Cell aggregates one grid point over seeds.
type fig1Cell struct {
	eta      float64
	batch    int
	elr      float64
	val      []float64
	diverged int
}

// fig1Grid is the grid aggregated over seeds, per task and method.
type fig1Grid struct {
	tasks []string
	cells map[string][]*fig1Cell // key task/method, sorted by ELR
}

func collectFig1Grid(results []fig1Result) (*fig1Grid, error) {
	g := &fig1Grid{cells: map[string][]*fig1Cell{}}
	index := map[string]*fig1Cell{}
	for _, r := range results {
		for _, p := range r.Grid {
			key := p.Task + "/" + p.Method
			if !slices.Contains(g.tasks, p.Task) {
				g.tasks = append(g.tasks, p.Task)
			}
			id := fmt.Sprintf("%s/%g/%d", key, p.LearningRate, p.BatchSize)
			c, ok := index[id]
			if !ok {
				c = &fig1Cell{eta: p.LearningRate, batch: p.BatchSize, elr: p.ELR}
				index[id] = c
				g.cells[key] = append(g.cells[key], c)
			}
			c.val = append(c.val, p.ValError)
			if p.Diverged {
				c.diverged++
			}
		}
	}
	if len(g.tasks) == 0 {
		return nil, errors.New("no grid results")
	}
	for key, cs := range g.cells {
		for _, c := range cs {
			if len(c.val) != len(results) {
				return nil, fmt.Errorf("%s eta %g batch %d: %d results for %d seeds", key, c.eta, c.batch, len(c.val), len(results))
			}
		}
		sort.SliceStable(cs, func(a, b int) bool { return cs[a].elr < cs[b].elr })
	}
	return g, nil
}

// fig1Sensitivity summarizes one method's grid on one task from the mean
// validation errors over seeds.
type fig1Sensitivity struct {
	best             *fig1Cell
	minErr, maxErr   float64
	stdErr           float64 // standard deviation over the grid points
	diverged, points int
	// nearBest counts the grid points within fig1NearBest of minErr.
	nearBest int
	// excess is each grid point's mean validation error minus minErr.
	excess []float64
}

// fig1NearBest is the validation error (2 points) within which a grid
// point counts as near-optimal.
const fig1NearBest = 0.02

// fig1Spread summarizes the cells of one grid, sorted or not.
func fig1Spread(cs []*fig1Cell) fig1Sensitivity {
	s := fig1Sensitivity{minErr: math.Inf(1), maxErr: math.Inf(-1), points: len(cs)}
	var means []float64
	for _, c := range cs {
		m, _ := MeanStd(c.val)
		means = append(means, m)
		if m < s.minErr {
			s.minErr, s.best = m, c
		}
		s.maxErr = math.Max(s.maxErr, m)
		s.diverged += c.diverged
	}
	_, s.stdErr = MeanStd(means)
	for _, m := range means {
		s.excess = append(s.excess, m-s.minErr)
		if m <= s.minErr+fig1NearBest {
			s.nearBest++
		}
	}
	return s
}

func summarizeFig1(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig1Result](raw)
	if err != nil {
		return nil, err
	}
	var t1 []comparisonResult
	for i, r := range results {
		if r.Table1 == nil {
			return nil, fmt.Errorf("seed result %d has no table1 errors", i+1)
		}
		t1 = append(t1, *r.Table1)
	}
	st, err := collectComparison(t1)
	if err != nil {
		return nil, err
	}
	grid, err := collectFig1Grid(results)
	if err != nil {
		return nil, err
	}
	s := &Summary{Header: []string{"task", "method", "best eta", "best batch", "best ELR", "min val error", "max val error", "range", "std over grid", "diverged"},
		Values: map[string]float64{}}

	// Left: error relative to NLFT, per task (near to far) and method.
	var relParts []string
	var bars []figure.BarSeries
	var groups []string
	for _, m := range []finetune.Method{finetune.LQF, finetune.LQFFC, finetune.GaF, finetune.FC} {
		r, skipped := st.relative(m)
		if len(r) == 0 {
			return nil, fmt.Errorf("%s: no task with a positive NLFT error", m)
		}
		med := median(r)
		s.Values["median_relative/"+string(m)] = med
		relParts = append(relParts, fmt.Sprintf("%s %+.0f%%", methodLabel(m), 100*(med-1)))
		if skipped > 0 {
			s.Values["skipped_tasks/"+string(m)] = float64(skipped)
		}
		tasks, mean, std := st.relativeByTask(m)
		groups = tasks
		bars = append(bars, figure.BarSeries{Name: methodLabel(m), Values: append(mean, med), Err: append(std, math.NaN())})
	}
	var labels []string
	for _, t := range groups {
		labels = append(labels, taskLabel(t))
	}
	labels = append(labels, "median\nover tasks")
	left, err := figure.GroupedBars(labels, bars, figure.BarOptions{
		Title:     fmt.Sprintf("Test error relative to NLFT, per task (%s)", overSeeds(len(results))),
		XLabel:    "target task, near to far from the source",
		YLabel:    "test error / NLFT test error (ratio)",
		Reference: &figure.Reference{Y: 1, Name: "NLFT (= 1)"},
	})
	if err != nil {
		return nil, err
	}
	// A thin line sets the median apart from the tasks.
	x := float64(len(labels)) - 1.5
	sep, err := plotter.NewLine(plotter.XYs{{X: x, Y: left.Y.Min}, {X: x, Y: left.Y.Max}})
	if err != nil {
		return nil, err
	}
	sep.Color, sep.Width = color.Gray{Y: 150}, vg.Points(0.75)
	left.Add(sep)
	leftName := "fig1-left.png"
	if err := figure.SavePlot(left, vg.Length(max(460, 150+62*len(labels))), 300, env.Path(leftName)); err != nil {
		return nil, err
	}

	// Right: validation error against the effective learning rate.
	var series []figure.Series
	ranges := map[finetune.Method][]float64{}
	bestELR := map[finetune.Method][]float64{}
	near, points := map[finetune.Method]int{}, map[finetune.Method]int{}
	excess := map[finetune.Method][]float64{}
	var divergedTotal int
	for _, t := range grid.tasks {
		for _, m := range fig1Methods {
			cs := grid.cells[t+"/"+string(m)]
			if len(cs) == 0 {
				continue
			}
			sv := fig1Spread(cs)
			ser := figure.Series{Name: fmt.Sprintf("%s, %s", methodLabel(m), t), Dashed: m == finetune.NLFT}
			for _, c := range cs {
				mean, std := MeanStd(c.val)
				ser.X, ser.Y, ser.Err = append(ser.X, c.elr), append(ser.Y, mean), append(ser.Err, std)
			}
			series = append(series, ser)
			rng := sv.maxErr - sv.minErr
			ranges[m] = append(ranges[m], rng)
			bestELR[m] = append(bestELR[m], sv.best.elr)
			divergedTotal += sv.diverged
			near[m] += sv.nearBest
			points[m] += sv.points
			excess[m] = append(excess[m], sv.excess...)
			s.Values[fmt.Sprintf("range/%s/%s", t, m)] = rng
			s.Values[fmt.Sprintf("best_elr/%s/%s", t, m)] = sv.best.elr
			s.Rows = append(s.Rows, []string{t, methodLabel(m), fmt.Sprintf("%g", sv.best.eta), fmt.Sprint(sv.best.batch),
				fmt.Sprintf("%.3g", sv.best.elr), fmt.Sprintf("%.4f", sv.minErr), fmt.Sprintf("%.4f", sv.maxErr),
				fmt.Sprintf("%.4f", rng), fmt.Sprintf("%.4f", sv.stdErr), fmt.Sprintf("%d/%d", sv.diverged, sv.points*len(results))})
		}
	}
	right, err := figure.Lines(series, figure.LineOptions{Title: fmt.Sprintf("Validation error over the eta x batch grid (%s)", overSeeds(len(results))),
		XLabel: "effective learning rate eta / ((1 - m) b)", YLabel: "validation error (fraction)", LogX: true})
	if err != nil {
		return nil, err
	}
	rightName := "fig1-right.png"
	if err := figure.SavePlot(right, 620, 320, env.Path(rightName)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(leftName), env.Path(rightName)}

	lqfRange, _ := MeanStd(ranges[finetune.LQF])
	nlftRange, _ := MeanStd(ranges[finetune.NLFT])
	s.Values["mean_range/lqf"], s.Values["mean_range/nlft"] = lqfRange, nlftRange
	s.Values["diverged_points"] = float64(divergedTotal)
	verdict := "LQF is less sensitive, as the paper claims"
	if lqfRange >= nlftRange {
		verdict = "by this range LQF is not less sensitive here, unlike the paper's claim"
	}
	elrSpan := func(m finetune.Method) string {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range bestELR[m] {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if len(bestELR[m]) < 2 {
			return fmt.Sprintf("%.3g", lo)
		}
		s.Values["best_elr_span/"+string(m)] = hi / lo
		return fmt.Sprintf("%.3g-%.3g", lo, hi)
	}
	s.Finding = fmt.Sprintf("Left (LQF and LQF-FC in closed form): median test error relative to NLFT over %d tasks: %s (paper: LQF +12%%, GaF +47%%, FC +71%%). "+
		"Right: over the eta x batch grid the validation error of LQF (K-FAC) spans %.3f (max - min, mean over %d tasks) vs %.3f for NLFT, so %s; "+
		"best ELR LQF %s, NLFT %s; %d grid runs diverged.",
		len(st.Tasks), strings.Join(relParts, ", "), lqfRange, len(grid.tasks), nlftRange, verdict, elrSpan(finetune.LQF), elrSpan(finetune.NLFT), divergedTotal)
	if span := s.Values["best_elr_span/"+string(finetune.LQF)]; span > 0 {
		s.Finding += fmt.Sprintf(" Over tasks the best ELR varies %.3gx for LQF and %.3gx for NLFT.", span, s.Values["best_elr_span/"+string(finetune.NLFT)])
	}
	lqfNear := float64(near[finetune.LQF]) / float64(points[finetune.LQF])
	nlftNear := float64(near[finetune.NLFT]) / float64(points[finetune.NLFT])
	s.Values["near_best_fraction/lqf"], s.Values["near_best_fraction/nlft"] = lqfNear, nlftNear
	lqfExcess, nlftExcess := median(excess[finetune.LQF]), median(excess[finetune.NLFT])
	s.Values["median_excess/lqf"], s.Values["median_excess/nlft"] = lqfExcess, nlftExcess
	s.Finding += fmt.Sprintf(" Grid points within %.2f of their task's best validation error: LQF %d of %d, NLFT %d of %d; "+
		"median excess over the best: LQF %.4f, NLFT %.4f",
		fig1NearBest, near[finetune.LQF], points[finetune.LQF], near[finetune.NLFT], points[finetune.NLFT], lqfExcess, nlftExcess)
	if lqfRange >= nlftRange && lqfNear > nlftNear && lqfExcess < nlftExcess {
		s.Finding += ": LQF's wider range comes from a few runs far from its best, " +
			"while at a typical grid point it is closer to its best than NLFT is"
	}
	s.Finding += "."
	return s, nil
}
