package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
	"github.com/lqf-go/lqf/weightdecay"
)

func init() {
	Register(Experiment{
		ID:        "fig8",
		Title:     "Weight decay: warm start from the solution at lambda0 vs training from scratch, and the choice of lambda",
		Claim:     "LQF is convex, so the solution at lambda0 fine-tuned to a new lambda reaches the same optimum and test error as training from scratch, which makes the weight-decay search cheap (paper Fig. 8, Appendix A.1).",
		Run:       runFig8,
		Summarize: summarizeFig8,
		Judge:     judgeFig8,
	})
}

// judgeFig8 tests warm-started SGD at every lambda of the summary and the
// iterations warm-started conjugate gradients save.
func judgeFig8(v Measured) Verdict {
	lambdas := 0
	for _, k := range v.Keys() {
		if strings.HasPrefix(k, "sgd_gap_warm_") {
			lambdas++
		}
	}
	lower, dErr, saved := v.Get("sgd_warm_lower_objective"), v.Get("sgd_warm_minus_scratch_test_error"), v.Get("cg_fraction_saved")
	return verdictOf(
		part(lambdas > 0 && lower == float64(lambdas), "warm-started SGD ends at a lower objective than from scratch at every lambda (%.0f of %d)", lower, lambdas),
		part(math.Abs(dErr) <= 0.02, "its test error is within 2 points of training from scratch (%+.4f)", dErr),
		part(saved >= 0.1, "warm-started conjugate gradients save at least 10%% of the iterations (%.0f%%)", 100*saved))
}

// fig8CG is conjugate gradients on the kernel system (K + rho I) a = R at
// Lambda, started at a(Lambda0) (warm) and at zero (cold).
type fig8CG struct {
	Lambda0 float64 `json:"lambda0"`
	Lambda  float64 `json:"lambda"`
	// ItersWarm and ItersCold are weightdecay.WarmStart's iteration counts
	// to the relative residual Tol.
	ItersWarm int `json:"iters_warm"`
	ItersCold int `json:"iters_cold"`
	// ResidualWarm and ResidualCold are the relative residuals
	// ||R - (K + rho I) a_k|| / ||R|| after k = 0, 1, ... iterations (a
	// separate conjugate-gradient loop that records them).
	ResidualWarm []float64 `json:"residual_warm"`
	ResidualCold []float64 `json:"residual_cold"`
	// GapWarm and GapCold are the relative objective gaps
	// (L(J^T a_k) - L*) / L* of LQF's objective at Lambda.
	GapWarm []float64 `json:"gap_warm"`
	GapCold []float64 `json:"gap_cold"`
}

// fig8SGD is LQF trained by SGD at Lambda for a fixed number of epochs,
// from dw = 0 (scratch) and from the exact solution dw*(Lambda0) (warm).
type fig8SGD struct {
	Lambda         float64 `json:"lambda"`
	ExactTestError float64 `json:"exact_test_error"` // closed form at Lambda
	ScratchError   float64 `json:"scratch_test_error"`
	WarmError      float64 `json:"warm_test_error"`
	// ScratchGaps and WarmGaps are the relative objective gaps
	// (L - L*) / L* at the start (index 0) and after every epoch.
	ScratchGaps []float64 `json:"scratch_gaps"`
	WarmGaps    []float64 `json:"warm_gaps"`
}

// fig8Choice is one way of choosing lambda and the test loss and error of
// the closed form at the chosen lambda.
type fig8Choice struct {
	Method    string  `json:"method"`
	Lambda    float64 `json:"lambda"`
	TestLoss  float64 `json:"test_loss"`
	TestError float64 `json:"test_error"`
}

type fig8Result struct {
	Task      string  `json:"task"`
	TrainSize int     `json:"train_size"`
	ValSize   int     `json:"val_size"`
	TestSize  int     `json:"test_size"`
	Lambda0   float64 `json:"lambda0"`
	Tol       float64 `json:"tol"`
	// SGD settings: epochs, learning rate (cosine decay), momentum 0.9,
	// batch size.
	Epochs       float64   `json:"epochs"`
	LearningRate float64   `json:"learning_rate"`
	BatchSize    int       `json:"batch_size"`
	CG           []fig8CG  `json:"cg"`
	SGD          []fig8SGD `json:"sgd"`
	// Grid and the scores along it: the validation loss, the leave-one-out
	// and GCV scores, and the test loss and error of the closed form.
	Grid      []float64    `json:"grid"`
	ValLoss   []float64    `json:"val_loss"`
	LOO       []float64    `json:"loo"`
	GCV       []float64    `json:"gcv"`
	TestLoss  []float64    `json:"test_loss"`
	TestError []float64    `json:"test_error"`
	Choices   []fig8Choice `json:"choices"`
}

// Methods of choosing lambda, in table order.
const (
	fig8LOO        = "leave-one-out (ChooseLOO)"
	fig8GCV        = "GCV (ChooseGCV)"
	fig8ValGrid    = "validation loss, grid (Validation.Choose)"
	fig8Hypergrad  = "validation loss, hypergradient (Validation.Search)"
	fig8BestLoss   = "best on test: test loss (grid)"
	fig8BestError  = "best on test: test error (grid)"
	fig8SearchStep = 40 // evaluations of Validation.Search
)

// fig8Keys names the choice methods in Summary.Values.
var fig8Keys = map[string]string{fig8LOO: "loo", fig8GCV: "gcv", fig8ValGrid: "val_grid", fig8Hypergrad: "hypergradient",
	fig8BestLoss: "best_test_loss", fig8BestError: "best_test_error"}

// fig8Config is the size of one mode.
type fig8Config struct {
	Task                           string
	MaxTrain, ValPerClass, MaxTest int
	Lambda0                        float64
	Lambdas                        []float64 // targets of the conjugate-gradient warm starts
	SGDLambdas                     []float64 // lambdas trained by SGD from scratch and warm
	Tol                            float64
	Epochs, LearningRate           float64
	BatchSize                      int
	GridLo, GridHi                 float64
	GridCount                      int
}

func fig8Settings(quick bool) fig8Config {
	c := fig8Config{Task: nearTask, Lambda0: 0.1, Lambdas: []float64{1e-3, 1e-2, 0.1, 1, 10}, Tol: 1e-6,
		LearningRate: 0.01, GridLo: 1e-4, GridHi: 1e2, GridCount: 25}
	if quick {
		c.MaxTrain, c.ValPerClass, c.MaxTest, c.Epochs, c.BatchSize = 40, 5, 200, 10, 10
		c.SGDLambdas = []float64{1e-2, 0.1, 1, 10}
		return c
	}
	c.MaxTrain, c.ValPerClass, c.MaxTest, c.Epochs, c.BatchSize = 200, 20, 1000, 30, 28
	c.SGDLambdas = c.Lambdas
	return c
}

func runFig8(env *Env, seed uint64) (any, error) {
	cfg := fig8Settings(env.Quick)
	be := env.Backend
	base, err := pretrained.Load(be, finetune.LQF.Activation())
	if err != nil {
		return nil, err
	}
	_, splits, err := loadTask(cfg.Task, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
	if err != nil {
		return nil, err
	}
	train, val, test := splits.Train, splits.Val, splits.Test
	n, c := train.Len(), train.NumClasses
	net, err := base.ReplaceHead(be, c, seed)
	if err != nil {
		return nil, err
	}
	k, err := model.NewKernel(be, net, train, model.DefaultAlpha, env.Progress)
	if err != nil {
		return nil, err
	}
	J, p, r, K := k.J, k.P, k.R, k.K
	path, err := weightdecay.NewPath(K, r, n)
	if err != nil {
		return nil, err
	}
	// withKernel returns set's base outputs, their residuals and set's
	// cross kernel with the training outputs (Jacobian rows computed in
	// chunks).
	withKernel := func(set *data.Set) ([]float32, []float64, *mat.Dense, error) {
		fs, rs, err := k.Outputs(be, set)
		if err != nil {
			return nil, nil, nil, err
		}
		kx, err := k.CrossKernel(be, set, nil)
		return fs, rs, kx, err
	}
	_, rv, kv, err := withKernel(val)
	if err != nil {
		return nil, err
	}
	ft, rt, kt, err := withKernel(test)
	if err != nil {
		return nil, err
	}
	vval, err := path.Validation(kv, rv, val.Len())
	if err != nil {
		return nil, err
	}
	vtest, err := path.Validation(kt, rt, test.Len())
	if err != nil {
		return nil, err
	}
	// closedForm returns the test loss and error of the closed form at lambda.
	closedForm := func(lambda float64) (loss, errRate float64, err error) {
		if loss, err = vtest.Loss(lambda); err != nil {
			return 0, 0, err
		}
		pred, err := vtest.Predict(lambda)
		if err != nil {
			return 0, 0, err
		}
		out := make([]float32, len(pred))
		for i, v := range pred {
			out[i] = ft[i] + float32(v)
		}
		return loss, model.ErrorRate(out, test.Labels), nil
	}
	res := &fig8Result{Task: cfg.Task, TrainSize: n, ValSize: val.Len(), TestSize: test.Len(), Lambda0: cfg.Lambda0, Tol: cfg.Tol,
		Epochs: cfg.Epochs, LearningRate: cfg.LearningRate, BatchSize: min(cfg.BatchSize, n)}

	// 1. Conjugate gradients on the kernel system, warm vs cold.
	a0, err := path.Coefficients(cfg.Lambda0)
	if err != nil {
		return nil, err
	}
	for _, lambda := range cfg.Lambdas {
		if lambda == cfg.Lambda0 {
			continue
		}
		ws, err := weightdecay.WarmStart(K, r, n, cfg.Lambda0, lambda, cfg.Tol)
		if err != nil {
			return nil, fmt.Errorf("fig8: warm start %g -> %g: %w", cfg.Lambda0, lambda, err)
		}
		star, err := path.Coefficients(lambda)
		if err != nil {
			return nil, err
		}
		curve := fig8CG{Lambda0: cfg.Lambda0, Lambda: lambda, ItersWarm: ws.ItersWarm, ItersCold: ws.ItersCold}
		maxIter := 10*n*c + 100
		if curve.ResidualWarm, curve.GapWarm, err = fig8ConjugateGradient(K, r, n, lambda, a0, star, cfg.Tol, maxIter); err != nil {
			return nil, fmt.Errorf("fig8: warm conjugate gradients %g -> %g: %w", cfg.Lambda0, lambda, err)
		}
		if curve.ResidualCold, curve.GapCold, err = fig8ConjugateGradient(K, r, n, lambda, nil, star, cfg.Tol, maxIter); err != nil {
			return nil, fmt.Errorf("fig8: cold conjugate gradients at %g: %w", lambda, err)
		}
		env.Logf("fig8 seed %d: CG %g -> %g: %d iterations warm, %d cold (to relative residual %g)", seed, cfg.Lambda0, lambda, ws.ItersWarm, ws.ItersCold, cfg.Tol)
		res.CG = append(res.CG, curve)
	}

	// 2. SGD on the LQF objective from scratch and from dw*(lambda0).
	dw0, err := path.Weights(J, p, cfg.Lambda0)
	if err != nil {
		return nil, err
	}
	for _, lambda := range cfg.SGDLambdas {
		star, err := path.Weights(J, p, lambda)
		if err != nil {
			return nil, err
		}
		opt := k.Objective(star, lambda)
		point := fig8SGD{Lambda: lambda}
		if _, point.ExactTestError, err = closedForm(lambda); err != nil {
			return nil, err
		}
		for _, warm := range []bool{false, true} {
			m, err := net.Clone()
			if err != nil {
				return nil, err
			}
			start := make([]float64, p)
			if warm {
				copy(start, dw0)
				if err := m.SetTangent(start); err != nil {
					return nil, err
				}
			}
			gaps := []float64{(k.Objective(start, lambda) - opt) / opt}
			label := fmt.Sprintf("lqf sgd lambda=%g scratch", lambda)
			if warm {
				label = fmt.Sprintf("lqf sgd %g -> %g", cfg.Lambda0, lambda)
			}
			cfgmArch := m.Arch
			_, err = model.TrainGraph(be, m.Ctx, cfgmArch.LinearizedLogits, model.ImageBatches(train, res.BatchSize, data.NoAugmentation, seed), c,
				model.TrainOptions{Loss: model.MSE, Alpha: model.DefaultAlpha, LearningRate: cfg.LearningRate, Momentum: 0.9, Lambda: lambda,
					BatchSize: res.BatchSize, Epochs: cfg.Epochs, Seed: seed, Scopes: []string{model.ScopeTangent}, Progress: env.Progress, Label: label,
					OnEpoch: func(int) error {
						dw, err := m.Tangent()
						if err != nil {
							return err
						}
						gaps = append(gaps, (k.Objective(dw, lambda)-opt)/opt)
						return nil
					}})
			if err != nil {
				return nil, fmt.Errorf("fig8: %s: %w", label, err)
			}
			e, err := finetune.PredictError(be, model.LinearizedNetwork{Network: m}, test)
			if err != nil {
				return nil, err
			}
			if warm {
				point.WarmError, point.WarmGaps = e, gaps
			} else {
				point.ScratchError, point.ScratchGaps = e, gaps
			}
		}
		env.Logf("fig8 seed %d: SGD at lambda %g: test error closed form %.4f, scratch %.4f (gap %.3g), warm from %g %.4f (gap %.3g)", seed, lambda,
			point.ExactTestError, point.ScratchError, point.ScratchGaps[len(point.ScratchGaps)-1], cfg.Lambda0, point.WarmError, point.WarmGaps[len(point.WarmGaps)-1])
		res.SGD = append(res.SGD, point)
	}

	// 3. Choices of lambda against the best lambda on the test split.
	if res.Grid, err = weightdecay.LogGrid(cfg.GridLo, cfg.GridHi, cfg.GridCount); err != nil {
		return nil, err
	}
	for _, l := range res.Grid {
		tl, te, err := closedForm(l)
		if err != nil {
			return nil, err
		}
		res.TestLoss, res.TestError = append(res.TestLoss, tl), append(res.TestError, te)
	}
	choose := func(method string, lambda float64) error {
		tl, te, err := closedForm(lambda)
		res.Choices = append(res.Choices, fig8Choice{Method: method, Lambda: lambda, TestLoss: tl, TestError: te})
		return err
	}
	loo, looScores, err := path.ChooseLOO(res.Grid)
	if err != nil {
		return nil, err
	}
	gcv, gcvScores, err := path.ChooseGCV(res.Grid)
	if err != nil {
		return nil, err
	}
	valBest, valLosses, err := vval.Choose(res.Grid)
	if err != nil {
		return nil, err
	}
	res.LOO, res.GCV, res.ValLoss = looScores, gcvScores, valLosses
	best, _, err := vval.Search(cfg.Lambda0, fig8SearchStep)
	if err != nil {
		return nil, err
	}
	for _, x := range []struct {
		method string
		lambda float64
	}{{fig8LOO, loo}, {fig8GCV, gcv}, {fig8ValGrid, valBest}, {fig8Hypergrad, best.Lambda},
		{fig8BestLoss, res.Grid[fig8Argmin(res.TestLoss)]}, {fig8BestError, res.Grid[fig8Argmin(res.TestError)]}} {
		if err := choose(x.method, x.lambda); err != nil {
			return nil, err
		}
		env.Logf("fig8 seed %d: %s: lambda %.3g", seed, x.method, x.lambda)
	}
	return res, nil
}

// fig8Argmin returns the index of the smallest value (the first on ties).
func fig8Argmin(x []float64) int {
	b := 0
	for i, v := range x {
		if v < x[b] {
			b = i
		}
	}
	return b
}

// fig8ConjugateGradient solves (K + rho I) a = r, rho = lambda n / 2, by
// conjugate gradients (linalg.CG) from x0 (nil: zero) until the relative
// residual ||r - (K + rho I) a|| / ||r||, recomputed from K at every
// iterate, is at most tol or maxIter iterations, and returns that residual
// and the relative gap (L(a) - L*) / L* of LQF's objective in kernel form,
// L(a) = (1/n) ||K a - r||^2 + lambda/2 a^T K a (dw = J^T a), at the start
// and after every iteration; star is the exact a(lambda). Unlike
// weightdecay.WarmStart it records the whole history.
func fig8ConjugateGradient(k *mat.SymDense, r []float64, n int, lambda float64, x0, star []float64, tol float64, maxIter int) (residuals, gaps []float64, err error) {
	rows := len(r)
	rho := linalg.RidgeTerm(lambda, n)
	rv := mat.NewVecDense(rows, append([]float64(nil), r...))
	rnorm := mat.Norm(rv, 2)
	if rnorm == 0 {
		return nil, nil, errors.New("the residuals are all zero")
	}
	objective := func(a *mat.VecDense) float64 {
		var ka, d mat.VecDense
		ka.MulVec(k, a)
		d.SubVec(&ka, rv)
		return mat.Dot(&d, &d)/float64(n) + lambda/2*mat.Dot(a, &ka)
	}
	opt := objective(mat.NewVecDense(rows, append([]float64(nil), star...)))
	if !(opt > 0) {
		return nil, nil, fmt.Errorf("optimal objective %g is not positive", opt)
	}
	// record appends the relative residual r - (K + rho I) x, recomputed,
	// and the gap at x, and stops CG once the residual is within tol.
	record := func(_ int, x []float64, _ float64) bool {
		xv := mat.NewVecDense(rows, x)
		var res mat.VecDense
		res.MulVec(k, xv)
		res.AddScaledVec(&res, rho, xv)
		res.SubVec(rv, &res)
		rel := mat.Norm(&res, 2) / rnorm
		residuals = append(residuals, rel)
		gaps = append(gaps, (objective(xv)-opt)/opt)
		return rel <= tol
	}
	// With tolerance 0, CG's own test (on its recurrence) stops it only at
	// an exactly zero residual: record decides.
	if _, err := linalg.CG(linalg.ShiftedOperator(k, rho), r, 0, maxIter, linalg.CGOptions{X0: x0, Progress: record}); err != nil {
		return nil, nil, err
	}
	return residuals, gaps, nil
}

// fig8Mean returns, index by index, the geometric mean over the curves of
// max(v, floor) (curves that stopped earlier keep their last value), and
// the length of the longest curve.
func fig8Mean(curves [][]float64, floor float64) []float64 {
	longest := 0
	for _, c := range curves {
		longest = max(longest, len(c))
	}
	out := make([]float64, longest)
	for i := range out {
		s := 0.0
		for _, c := range curves {
			v := c[min(i, len(c)-1)]
			s += math.Log(math.Max(v, floor))
		}
		out[i] = math.Exp(s / float64(len(curves)))
	}
	return out
}

// fig8Index returns 0..n-1 as float64.
func fig8Index(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i)
	}
	return x
}

func summarizeFig8(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig8Result](raw)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, errors.New("no seed results")
	}
	r0 := results[0]
	for i, r := range results {
		if len(r.CG) != len(r0.CG) || len(r.SGD) != len(r0.SGD) || len(r.Choices) != len(r0.Choices) || len(r.Grid) != len(r0.Grid) {
			return nil, fmt.Errorf("seed result %d has other settings than seed result 1", i+1)
		}
		for _, cg := range r.CG {
			if len(cg.ResidualWarm) == 0 || len(cg.ResidualCold) == 0 || len(cg.GapWarm) == 0 || len(cg.GapCold) == 0 {
				return nil, fmt.Errorf("seed result %d: empty conjugate-gradient history at lambda %g", i+1, cg.Lambda)
			}
		}
		for _, sg := range r.SGD {
			if len(sg.ScratchGaps) == 0 || len(sg.WarmGaps) == 0 {
				return nil, fmt.Errorf("seed result %d: empty SGD history at lambda %g", i+1, sg.Lambda)
			}
		}
	}
	s := &Summary{Values: map[string]float64{}}
	s.Header = []string{"part", "lambda0 -> lambda / method", "warm / chosen lambda", "scratch / test loss", "test error", "note"}
	const floor = 1e-16

	// 1. Conjugate gradients.
	var cgPlots []*plot.Plot
	var saved []float64
	for k, c0 := range r0.CG {
		var warm, cold []float64
		var rw, rc, gw, gc [][]float64
		for _, r := range results {
			cg := r.CG[k]
			warm, cold = append(warm, float64(cg.ItersWarm)), append(cold, float64(cg.ItersCold))
			rw, rc, gw, gc = append(rw, cg.ResidualWarm), append(rc, cg.ResidualCold), append(gw, cg.GapWarm), append(gc, cg.GapCold)
		}
		mw, _ := MeanStd(warm)
		mc, _ := MeanStd(cold)
		saved = append(saved, 1-mw/mc)
		s.Rows = append(s.Rows, []string{"CG iterations", fmt.Sprintf("%g -> %g", c0.Lambda0, c0.Lambda), PlusMinus(warm, "%.1f"), PlusMinus(cold, "%.1f"), "",
			fmt.Sprintf("to relative residual %g; start gap warm %.3g, cold %.3g", r0.Tol, fig8Mean(gw, floor)[0], fig8Mean(gc, floor)[0])})
		s.Values[fmt.Sprintf("cg_iters_warm_%g", c0.Lambda)] = mw
		s.Values[fmt.Sprintf("cg_iters_cold_%g", c0.Lambda)] = mc
		p, err := figure.Lines([]figure.Series{
			{Name: fmt.Sprintf("warm, from a(%g)", c0.Lambda0), X: fig8Index(len(fig8Mean(rw, floor))), Y: fig8Mean(rw, floor), NoPoint: true},
			{Name: "cold, from 0", X: fig8Index(len(fig8Mean(rc, floor))), Y: fig8Mean(rc, floor), NoPoint: true, Dashed: true},
		}, figure.LineOptions{Title: fmt.Sprintf("CG at lambda %g", c0.Lambda), XLabel: "CG iterations", YLabel: "relative residual (ratio)", LogY: true})
		if err != nil {
			return nil, err
		}
		cgPlots = append(cgPlots, p)
	}
	var meanSaved float64
	for _, v := range saved {
		meanSaved += v / float64(len(saved))
	}
	s.Values["cg_fraction_saved"] = meanSaved
	if len(cgPlots) > 0 {
		name := "fig8-cg.png"
		if err := figure.SavePanels(cgPlots, min(len(cgPlots), 4), 260, 240, env.Path(name)); err != nil {
			return nil, err
		}
		s.Figures = append(s.Figures, env.Path(name))
	}

	// 2. SGD from scratch and warm, test error against lambda (paper Fig. 8).
	series := []figure.Series{{Name: "closed form"}, {Name: fmt.Sprintf("SGD from scratch (%g epochs)", r0.Epochs)}, {Name: fmt.Sprintf("SGD from dw*(%g) (%g epochs)", r0.Lambda0, r0.Epochs), Dashed: true}}
	var sgdPlots []*plot.Plot
	var warmMinusScratch, warmMinusExact float64
	// Gaps below sgdFloor (the warm start at lambda0 itself) are drawn at
	// the floor.
	const sgdFloor = 1e-6
	warmLower := 0
	for k, p0 := range r0.SGD {
		var exact, scratch, warm []float64
		var gs, gw [][]float64
		for _, r := range results {
			sg := r.SGD[k]
			exact, scratch, warm = append(exact, sg.ExactTestError), append(scratch, sg.ScratchError), append(warm, sg.WarmError)
			gs, gw = append(gs, sg.ScratchGaps), append(gw, sg.WarmGaps)
		}
		for i, v := range [][]float64{exact, scratch, warm} {
			m, sd := MeanStd(v)
			series[i].X, series[i].Y, series[i].Err = append(series[i].X, p0.Lambda), append(series[i].Y, m), append(series[i].Err, sd)
		}
		me, _ := MeanStd(exact)
		ms, _ := MeanStd(scratch)
		mw, _ := MeanStd(warm)
		warmMinusScratch += (mw - ms) / float64(len(r0.SGD))
		warmMinusExact += (mw - me) / float64(len(r0.SGD))
		ls, lw := fig8Mean(gs, sgdFloor), fig8Mean(gw, sgdFloor)
		if lw[len(lw)-1] < ls[len(ls)-1] {
			warmLower++
		}
		s.Rows = append(s.Rows, []string{"SGD test error", fmt.Sprintf("%g -> %g", r0.Lambda0, p0.Lambda), PlusMinus(warm, "%.4f"), PlusMinus(scratch, "%.4f"), PlusMinus(exact, "%.4f"),
			fmt.Sprintf("closed form in the test-error column; final objective gap warm %.3g, scratch %.3g", lw[len(lw)-1], ls[len(ls)-1])})
		s.Values[fmt.Sprintf("sgd_gap_warm_%g", p0.Lambda)] = lw[len(lw)-1]
		s.Values[fmt.Sprintf("sgd_gap_scratch_%g", p0.Lambda)] = ls[len(ls)-1]
		p, err := figure.Lines([]figure.Series{
			{Name: "from scratch", X: fig8Index(len(ls)), Y: ls},
			{Name: fmt.Sprintf("from dw*(%g)", r0.Lambda0), X: fig8Index(len(lw)), Y: lw, Dashed: true},
		}, figure.LineOptions{Title: fmt.Sprintf("SGD at lambda %g", p0.Lambda), XLabel: "epochs", YLabel: "objective gap (L - L*) / L*", LogY: true})
		if err != nil {
			return nil, err
		}
		sgdPlots = append(sgdPlots, p)
	}
	s.Values["sgd_warm_lower_objective"] = float64(warmLower)
	s.Values["sgd_warm_minus_scratch_test_error"] = warmMinusScratch
	s.Values["sgd_warm_minus_exact_test_error"] = warmMinusExact
	if len(r0.SGD) > 0 {
		p, err := figure.Lines(series, figure.LineOptions{Title: fmt.Sprintf("%s, %d images: LQF test error vs weight decay (%s)", r0.Task, r0.TrainSize, overSeeds(len(results))),
			XLabel: "weight decay lambda (log scale)", YLabel: "test error (fraction)", LogX: true})
		if err != nil {
			return nil, err
		}
		name := "fig8.png"
		if err := figure.SavePlot(p, 560, 340, env.Path(name)); err != nil {
			return nil, err
		}
		s.Figures = append(s.Figures, env.Path(name))
		name = "fig8-sgd.png"
		if err := figure.SavePanels(sgdPlots, min(len(sgdPlots), 5), 260, 240, env.Path(name)); err != nil {
			return nil, err
		}
		s.Figures = append(s.Figures, env.Path(name))
	}

	// 3. Choices of lambda against the best on the test split.
	byMethod := map[string][]fig8Choice{}
	for _, r := range results {
		for _, c := range r.Choices {
			byMethod[c.Method] = append(byMethod[c.Method], c)
		}
	}
	bestLoss := byMethod[fig8BestLoss]
	if len(bestLoss) != len(results) {
		return nil, fmt.Errorf("%d of %d seeds report the best lambda on the test split", len(bestLoss), len(results))
	}
	var worstExcess float64
	var worstMethod string
	for _, c0 := range r0.Choices {
		cs := byMethod[c0.Method]
		if len(cs) != len(results) {
			return nil, fmt.Errorf("%d of %d seeds report %q", len(cs), len(results), c0.Method)
		}
		var logL, loss, errs, dist []float64
		for i, c := range cs {
			logL = append(logL, math.Log10(c.Lambda))
			loss = append(loss, c.TestLoss)
			errs = append(errs, c.TestError)
			dist = append(dist, math.Abs(math.Log10(c.Lambda)-math.Log10(bestLoss[i].Lambda)))
		}
		ml, _ := MeanStd(loss)
		mb, _ := MeanStd(func() []float64 {
			var v []float64
			for _, c := range bestLoss {
				v = append(v, c.TestLoss)
			}
			return v
		}())
		md, _ := MeanStd(dist)
		excess := ml/mb - 1
		s.Rows = append(s.Rows, []string{"lambda choice", c0.Method, "10^" + PlusMinus(logL, "%.2f"), PlusMinus(loss, "%.4g"), PlusMinus(errs, "%.4f"),
			fmt.Sprintf("%.2f decades from the test-loss optimum; test loss %+.1f%% over it", md, 100*excess)})
		me, _ := MeanStd(errs)
		key, ok := fig8Keys[c0.Method]
		if !ok {
			return nil, fmt.Errorf("unknown choice method %q", c0.Method)
		}
		s.Values["choice_test_error_"+key] = me
		s.Values["choice_lambda_log10_"+key], _ = MeanStd(logL)
		s.Values["choice_decades_from_best_"+key] = md
		if c0.Method != fig8BestLoss && c0.Method != fig8BestError && (worstMethod == "" || excess > worstExcess) {
			worstExcess, worstMethod = excess, c0.Method
		}
	}
	// Score curves, scaled by their minimum so that they share an axis.
	var curves []figure.Series
	for _, x := range []struct {
		name string
		get  func(r fig8Result) []float64
	}{{"leave-one-out", func(r fig8Result) []float64 { return r.LOO }}, {"GCV", func(r fig8Result) []float64 { return r.GCV }},
		{"validation loss", func(r fig8Result) []float64 { return r.ValLoss }}, {"test loss", func(r fig8Result) []float64 { return r.TestLoss }}} {
		var all [][]float64
		for _, r := range results {
			v := x.get(r)
			if len(v) != len(r0.Grid) {
				return nil, fmt.Errorf("%s has %d values for %d grid points", x.name, len(v), len(r0.Grid))
			}
			m := v[fig8Argmin(v)]
			if !(m > 0) {
				return nil, fmt.Errorf("%s has a non-positive minimum %g", x.name, m)
			}
			scaled := make([]float64, len(v))
			for i := range v {
				scaled[i] = v[i] / m
			}
			all = append(all, scaled)
		}
		curves = append(curves, figure.Series{Name: x.name, X: r0.Grid, Y: fig8Mean(all, floor), NoPoint: true, Dashed: x.name == "test loss"})
	}
	if len(r0.Grid) > 0 {
		p, err := figure.Lines(curves, figure.LineOptions{Title: fmt.Sprintf("%s: criteria for lambda, each over its minimum (%s)", r0.Task, meanOverSeeds(len(results))),
			XLabel: "weight decay lambda (log scale)", YLabel: "score / its minimum (ratio)", LogX: true})
		if err != nil {
			return nil, err
		}
		name := "fig8-choice.png"
		if err := figure.SavePlot(p, 520, 340, env.Path(name)); err != nil {
			return nil, err
		}
		s.Figures = append(s.Figures, env.Path(name))
	}
	s.Values["worst_choice_test_loss_excess"] = worstExcess

	s.Finding = fmt.Sprintf("conjugate gradients started at the solution for lambda0 = %g need %.0f%% fewer iterations than from zero on average over %d target lambdas; with %g epochs of SGD, starting from dw*(lambda0) ends at a lower LQF objective than training from scratch at %d of %d lambdas and changes the test error by %+.4f against training from scratch and by %+.4f against the closed form, on average over lambda (paper: fine-tuning matches training from scratch). Of the lambda choices, %s is furthest from the test-loss optimum (test loss %+.1f%%).",
		r0.Lambda0, 100*meanSaved, len(r0.CG), r0.Epochs, warmLower, len(r0.SGD), warmMinusScratch, warmMinusExact, worstMethod, 100*worstExcess)
	return s, nil
}
