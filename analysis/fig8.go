package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
	"github.com/lqf-go/lqf/weightdecay"
)

func init() {
	Register(Experiment{
		ID:    "fig8",
		Title: "Weight decay: warm start from the solution at lambda0 vs training from scratch, and the choice of lambda",
		Claim: "LQF is convex, so the solution at lambda0 fine-tuned to a new lambda reaches the same optimum and test error as training from scratch, which makes the weight-decay search cheap (paper Fig. 8, Appendix A.1). " +
			"Measured with SGD + K-FAC as LQF trains (full batch, momentum 0.9, the step set from the computed largest eigenvalue of the preconditioned Hessian, below the heavy-ball stability limit), each start run to a relative objective gap of 1e-3 to the closed form: " +
			"warm and scratch test errors are compared where both reached it, with the epochs each needed; plain SGD is a variant.",
		Run:       runFig8,
		Summarize: summarizeFig8,
		Judge:     judgeFig8,
		GapBound:  fig8GapBound,
	})
}

// fig8GapBound bounds the final relative objective gap (L - L*) / L* of
// every SGD + K-FAC run of Fig. 8 (from scratch and warm-started) to the
// closed form at its lambda, for the runs the verdict rests on: every warm
// start (the claim is that it reaches the optimum) and the scratch runs
// that reached the gap target (judgeFig8 compares only those; a scratch
// run stopped at the epoch cap above the target is reported, not bounded).
// If a warm start stopped with an objective more than twice the optimum's
// (gap > 1), it is still far from the optimum the claim is about (with
// the earlier protocol's step above the heavy-ball stability limit the gap
// grew to 1e3 and more), and agreeing test errors would say nothing about
// convexity. Every run's divergence is recorded.
const fig8GapBound = 1

// judgeFig8 tests the claim on SGD + K-FAC run to the gap target (keys
// sgd_kfac_*): warm starts reach the closed form's objective, their test
// error matches training from scratch on the (seed, lambda) pairs where
// both starts reached the gap (runs that did not are not judged), they
// need fewer epochs, and warm-started conjugate gradients save iterations.
// A summary of the earlier protocol (fixed epochs of plain SGD at lr 0.01,
// no sgd_kfac_pairs) is judged by that protocol's criteria.
func judgeFig8(v Measured) Verdict {
	saved := v.Get("cg_fraction_saved")
	if v.Has("sgd_kfac_pairs") {
		pairs, reached, warm := v.Get("sgd_kfac_pairs"), v.Get("sgd_kfac_pairs_reached"), v.Get("sgd_kfac_warm_reached_fraction")
		maxAbs, epochs := math.NaN(), math.NaN()
		if v.Has("sgd_kfac_max_abs_warm_minus_scratch_test_error") {
			maxAbs = v.Get("sgd_kfac_max_abs_warm_minus_scratch_test_error")
		}
		if v.Has("sgd_kfac_epochs_saved") {
			epochs = v.Get("sgd_kfac_epochs_saved")
		}
		return verdictOf(
			part(warm == 1, "warm-started SGD + K-FAC reaches the objective gap target to the closed form in every run (%.0f%%)", 100*warm),
			part(reached > 0 && maxAbs <= fig8ErrorTolerance, "where both starts reached the gap (%.0f of %.0f seed-lambda pairs), warm and scratch test errors differ by at most %.0f points (largest %.4f)",
				reached, pairs, 100*fig8ErrorTolerance, maxAbs),
			part(epochs >= 0.1, "warm starts need at least 10%% fewer epochs to the gap than training from scratch (%.0f%%)", 100*epochs),
			part(saved >= 0.1, "warm-started conjugate gradients save at least 10%% of the iterations (%.0f%%)", 100*saved))
	}
	lambdas := 0
	for _, k := range v.Keys() {
		if strings.HasPrefix(k, "sgd_gap_warm_") {
			lambdas++
		}
	}
	lower, dErr := v.Get("sgd_warm_lower_objective"), v.Get("sgd_warm_minus_scratch_test_error")
	return verdictOf(
		part(lambdas > 0 && lower == float64(lambdas), "warm-started SGD ends at a lower objective than from scratch at every lambda (%.0f of %d)", lower, lambdas),
		part(math.Abs(dErr) <= fig8ErrorTolerance, "its test error is within 2 points of training from scratch (%+.4f)", dErr),
		part(saved >= 0.1, "warm-started conjugate gradients save at least 10%% of the iterations (%.0f%%)", 100*saved))
}

// fig8ErrorTolerance is how far (fraction) warm and scratch test errors may
// differ and still match.
const fig8ErrorTolerance = 0.02

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

// SGD protocols of Fig. 8.
const (
	// fig8KFAC is the paper's: SGD with momentum preconditioned by K-FAC
	// (lqf's recommended factors and damping, as LQF trains).
	fig8KFAC = "sgd+kfac"
	// fig8Plain is a variant: plain SGD with momentum.
	fig8Plain = "sgd"
)

const (
	// fig8StabilityFraction is the share of heavy ball's stability limit
	// 2 (1 + m) / lambda_max at which Fig. 8's SGD steps.
	fig8StabilityFraction = 0.5
	// fig8LanczosSteps are the Lanczos steps that estimate lambda_max.
	fig8LanczosSteps = 40
	// fig8DivergedGap is the relative objective gap at which a run counts
	// as diverged and stops.
	fig8DivergedGap = 1e6
	// fig8LegacyLR is the learning rate of Fig. 8's earlier protocol
	// (plain SGD with momentum 0.9, no check against the stability limit),
	// compared with the limit in the summary.
	fig8LegacyLR = 0.01
)

// fig8Run is one SGD run at a lambda, to the gap target or the epoch cap.
type fig8Run struct {
	TestError float64 `json:"test_error"`
	// Gaps are the relative objective gaps (L - L*) / L* to the closed
	// form at the start (index 0) and after every epoch.
	Gaps []float64 `json:"gaps"`
	// Reached is whether the gap came within the target, after Epochs
	// epochs (0: at the start).
	Reached  bool `json:"reached"`
	Epochs   int  `json:"epochs"`
	Diverged bool `json:"diverged,omitempty"`
}

// fig8SGD is LQF trained by full-batch SGD (one protocol) at Lambda from
// dw = 0 (scratch) and from the exact solution dw*(Lambda0) (warm).
type fig8SGD struct {
	Lambda         float64 `json:"lambda"`
	ExactTestError float64 `json:"exact_test_error"` // closed form at Lambda
	// LambdaMax is the largest eigenvalue (Lanczos) of the mean-form
	// Hessian (2/N) J^T J + Lambda I, for K-FAC preconditioned
	// symmetrically by its damped inverse; LearningRate is
	// fig8StabilityFraction of the stability limit 2 (1 + m) / LambdaMax.
	LambdaMax    float64 `json:"lambda_max"`
	LearningRate float64 `json:"learning_rate"`
	Scratch      fig8Run `json:"scratch"`
	Warm         fig8Run `json:"warm"`
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
	// SGD settings: full batch, heavy-ball momentum, constant learning
	// rate (per lambda, in SGD), each run until the relative objective gap
	// is within GapTarget or MaxEpochs epochs.
	Momentum  float64  `json:"momentum"`
	GapTarget float64  `json:"gap_target"`
	MaxEpochs int      `json:"max_epochs"`
	BatchSize int      `json:"batch_size"`
	CG        []fig8CG `json:"cg"`
	// SGD is the paper's protocol (fig8KFAC), PlainSGD the variant
	// (fig8Plain).
	SGD      []fig8SGD `json:"sgd_kfac"`
	PlainSGD []fig8SGD `json:"sgd_plain"`
	// GaussNewtonMax is the largest eigenvalue of the mean-form
	// Gauss-Newton matrix (2/N) J^T J (the plain Hessian less lambda I).
	GaussNewtonMax float64 `json:"gauss_newton_lambda_max"`
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
	// SGDLambdas are trained by SGD + K-FAC from scratch and warm: the
	// paper's 5e-5 and 5e-4 (its weight decay with a mean loss, which is
	// lqf's mean-form lambda) beside lqf's; PlainLambdas by plain SGD.
	SGDLambdas, PlainLambdas []float64
	Tol                      float64
	Momentum, GapTarget      float64
	MaxEpochs                int
	GridLo, GridHi           float64
	GridCount                int
}

func fig8Settings(quick bool) fig8Config {
	c := fig8Config{Task: nearTask, Lambda0: 0.1, Lambdas: []float64{1e-3, 1e-2, 0.1, 1, 10}, Tol: 1e-6,
		Momentum: 0.9, GapTarget: 1e-3, GridLo: 1e-4, GridHi: 1e2, GridCount: 25}
	if quick {
		c.MaxTrain, c.ValPerClass, c.MaxTest, c.MaxEpochs = 40, 5, 200, 300
		c.SGDLambdas = []float64{5e-5, 5e-4, 1e-2, 0.1, 1, 10}
		c.PlainLambdas = []float64{1e-2, 1}
		return c
	}
	c.MaxTrain, c.ValPerClass, c.MaxTest, c.MaxEpochs = 200, 20, 1000, 1000
	c.SGDLambdas = append([]float64{5e-5, 5e-4}, c.Lambdas...)
	c.PlainLambdas = []float64{1e-3, 0.1, 10}
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
		Momentum: cfg.Momentum, GapTarget: cfg.GapTarget, MaxEpochs: cfg.MaxEpochs, BatchSize: n}

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

	// 2. SGD on the LQF objective from scratch and from dw*(lambda0), run
	// until the objective gap to the closed form is within GapTarget (at
	// most MaxEpochs): preconditioned by K-FAC as LQF trains (the paper's
	// protocol), and plain (a variant), each at a learning rate set below
	// the heavy-ball stability limit from the computed largest eigenvalue.
	dw0, err := path.Weights(J, p, cfg.Lambda0)
	if err != nil {
		return nil, err
	}
	curv, err := recommendedCurvature(seed)(be, net, train)
	if err != nil {
		return nil, fmt.Errorf("fig8: K-FAC: %w", err)
	}
	factors, ok := curv.(*kfac.Factors)
	if !ok {
		return nil, fmt.Errorf("fig8: K-FAC curvature is a %T, not *kfac.Factors", curv)
	}
	// The largest eigenvalue of the mean-form Gauss-Newton matrix
	// (2/N) J^T J is (2/N) times K's.
	kTop, err := kfac.Lanczos(func(v []float64) ([]float64, error) {
		out := mat.NewVecDense(len(v), nil)
		out.MulVec(K, mat.NewVecDense(len(v), v))
		return out.RawVector().Data, nil
	}, n*c, fig8LanczosSteps, seed)
	if err != nil {
		return nil, err
	}
	res.GaussNewtonMax = 2 / float64(n) * kTop.Max
	for _, protocol := range []string{fig8KFAC, fig8Plain} {
		lambdas := cfg.SGDLambdas
		if protocol == fig8Plain {
			lambdas = cfg.PlainLambdas
		}
		for _, lambda := range lambdas {
			star, err := path.Weights(J, p, lambda)
			if err != nil {
				return nil, err
			}
			opt := k.Objective(star, lambda)
			point := fig8SGD{Lambda: lambda, LambdaMax: res.GaussNewtonMax + lambda}
			if _, point.ExactTestError, err = closedForm(lambda); err != nil {
				return nil, err
			}
			var pre func(g []float64) ([]float64, error)
			if protocol == fig8KFAC {
				inv, err := factors.Invert(lambda + factors.ExtraDamping)
				if err != nil {
					return nil, err
				}
				pre = func(g []float64) ([]float64, error) { return inv.Apply(net, g) }
				power := func(v []float64, pw float64) ([]float64, error) { return inv.ApplyPower(net, v, pw) }
				if point.LambdaMax, err = fig8TopEigen(J, p, n, lambda, power, seed); err != nil {
					return nil, fmt.Errorf("fig8: preconditioned spectrum at lambda %g: %w", lambda, err)
				}
			}
			point.LearningRate = fig8LearningRate(point.LambdaMax, cfg.Momentum)
			for _, warm := range []bool{false, true} {
				start := make([]float64, p)
				label := fmt.Sprintf("lqf %s lambda=%g scratch", protocol, lambda)
				if warm {
					copy(start, dw0)
					label = fmt.Sprintf("lqf %s %g -> %g", protocol, cfg.Lambda0, lambda)
				}
				t0 := time.Now()
				run, err := fig8Train(env, net, test, k, start, lambda, opt, point.LearningRate, pre, cfg)
				if err != nil {
					return nil, fmt.Errorf("fig8: %s: %w", label, err)
				}
				env.Logf("fig8 seed %d: %s: %s (%.1fs)", seed, label, run.describe(), time.Since(t0).Seconds())
				if warm {
					point.Warm = run
				} else {
					point.Scratch = run
				}
			}
			env.Logf("fig8 seed %d: %s at lambda %g: lambda_max %.4g, lr %.4g; test error closed form %.4f, scratch %.4f (%s), warm from %g %.4f (%s)", seed, protocol, lambda,
				point.LambdaMax, point.LearningRate, point.ExactTestError, point.Scratch.TestError, point.Scratch.describe(), cfg.Lambda0, point.Warm.TestError, point.Warm.describe())
			if protocol == fig8KFAC {
				res.SGD = append(res.SGD, point)
			} else {
				res.PlainSGD = append(res.PlainSGD, point)
			}
		}
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
		if len(r.PlainSGD) != len(r0.PlainSGD) {
			return nil, fmt.Errorf("seed result %d has other settings than seed result 1", i+1)
		}
		for _, sg := range append(slices.Clone(r.SGD), r.PlainSGD...) {
			if len(sg.Scratch.Gaps) == 0 || len(sg.Warm.Gaps) == 0 {
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

	// 2. SGD from scratch and warm to the gap target, test error against
	// lambda (paper Fig. 8): SGD + K-FAC (the paper's protocol, judged and
	// recorded for the runs' validity), then plain SGD (a variant).
	series := []figure.Series{{Name: "closed form"}, {Name: "SGD + K-FAC from scratch"}, {Name: fmt.Sprintf("SGD + K-FAC from dw*(%g)", r0.Lambda0), Dashed: true}}
	var sgdPlots []*plot.Plot
	// Gaps below sgdFloor (the warm start at lambda0 itself) are drawn at
	// the floor.
	const sgdFloor = 1e-6
	for _, proto := range []struct {
		name, key, label string
		points           func(r fig8Result) []fig8SGD
	}{{fig8KFAC, "sgd_kfac", "SGD + K-FAC", func(r fig8Result) []fig8SGD { return r.SGD }},
		{fig8Plain, "sgd_plain", "plain SGD (variant)", func(r fig8Result) []fig8SGD { return r.PlainSGD }}} {
		main := proto.name == fig8KFAC
		var pairs, reachedPairs, warmRuns, warmReached int
		var sumDiff, maxAbsDiff, sumExactDiff float64
		var exactDiffs int
		var epochsWarm, epochsScratch float64
		for k, p0 := range proto.points(r0) {
			var exact, scratch, warm, lmax, lrs []float64
			var gs, gw [][]float64
			var ew, es []float64
			reachedS, reachedW := 0, 0
			for i, r := range results {
				sg := proto.points(r)[k]
				exact, scratch, warm = append(exact, sg.ExactTestError), append(scratch, sg.Scratch.TestError), append(warm, sg.Warm.TestError)
				lmax, lrs = append(lmax, sg.LambdaMax), append(lrs, sg.LearningRate)
				gs, gw = append(gs, sg.Scratch.Gaps), append(gw, sg.Warm.Gaps)
				if main {
					// Each run's end state, for the runs' validity (seeds
					// are summarized in order 1..K): whether it diverged,
					// and the final gap of the runs the verdict rests on,
					// every warm start and the scratch runs that reached
					// the target. A scratch run stopped at the epoch cap
					// above the target is compared with nothing
					// (judgeFig8), so its gap (sgd_kfac_gap_scratch_*)
					// cannot decide the verdict and is not bounded.
					for _, run := range []struct {
						name string
						r    fig8Run
						gap  bool
					}{{"scratch", sg.Scratch, sg.Scratch.Reached}, {fmt.Sprintf("warm from %g", r0.Lambda0), sg.Warm, true}} {
						g := run.r.Gaps[len(run.r.Gaps)-1]
						h := RunHealth{Run: fmt.Sprintf("SGD+K-FAC at lambda %g %s", p0.Lambda, run.name)}
						if run.gap {
							h.Gap = &g
						}
						if run.r.Diverged || math.IsNaN(g) || math.IsInf(g, 0) {
							h.Diverged, h.Gap = true, nil
						}
						addRunHealth(s.Values, uint64(i+1), []RunHealth{h})
					}
				}
				if sg.Scratch.Reached {
					reachedS++
					es = append(es, float64(sg.Scratch.Epochs))
				}
				warmRuns++
				if sg.Warm.Reached {
					reachedW++
					warmReached++
					ew = append(ew, float64(sg.Warm.Epochs))
					sumExactDiff += sg.Warm.TestError - sg.ExactTestError
					exactDiffs++
				}
				pairs++
				if sg.Scratch.Reached && sg.Warm.Reached {
					// Judged only where both starts reached the gap.
					reachedPairs++
					d := sg.Warm.TestError - sg.Scratch.TestError
					sumDiff += d
					maxAbsDiff = math.Max(maxAbsDiff, math.Abs(d))
					if p0.Lambda != r0.Lambda0 {
						epochsWarm += float64(sg.Warm.Epochs)
						epochsScratch += float64(sg.Scratch.Epochs)
					}
				}
			}
			ls, lw := fig8Mean(gs, sgdFloor), fig8Mean(gw, sgdFloor)
			ml, _ := MeanStd(lmax)
			mlr, _ := MeanStd(lrs)
			ms, _ := MeanStd(scratch)
			mw, _ := MeanStd(warm)
			me, _ := MeanStd(exact)
			key := func(what string) string { return fmt.Sprintf("%s_%s_%g", proto.key, what, p0.Lambda) }
			s.Values[key("lambda_max")], s.Values[key("lr")] = ml, mlr
			s.Values[key("reached_scratch")] = float64(reachedS) / float64(len(results))
			s.Values[key("reached_warm")] = float64(reachedW) / float64(len(results))
			s.Values[key("gap_scratch")], s.Values[key("gap_warm")] = ls[len(ls)-1], lw[len(lw)-1]
			s.Values[key("test_error_scratch")], s.Values[key("test_error_warm")] = ms, mw
			epochs := func(e []float64, reached int) string {
				if reached == 0 {
					return fmt.Sprintf("not reached in %d (0/%d)", r0.MaxEpochs, len(results))
				}
				m, _ := MeanStd(e)
				return fmt.Sprintf("%.0f (%d/%d)", m, reached, len(results))
			}
			if reachedS > 0 {
				s.Values[key("epochs_scratch")], _ = MeanStd(es)
			}
			if reachedW > 0 {
				s.Values[key("epochs_warm")], _ = MeanStd(ew)
			}
			s.Rows = append(s.Rows, []string{proto.label + " test error", fmt.Sprintf("%g -> %g", r0.Lambda0, p0.Lambda), PlusMinus(warm, "%.4f"), PlusMinus(scratch, "%.4f"), PlusMinus(exact, "%.4f"),
				fmt.Sprintf("closed form in the test-error column; lambda_max %.4g, lr %.4g (%g of the limit %.4g); epochs to gap %g warm %s, scratch %s; final gap warm %.3g, scratch %.3g",
					ml, mlr, fig8StabilityFraction, fig8StabilityLimit(ml, r0.Momentum), r0.GapTarget, epochs(ew, reachedW), epochs(es, reachedS), lw[len(lw)-1], ls[len(ls)-1])})
			if !main {
				continue
			}
			s.Values[fmt.Sprintf("closed_form_test_error_%g", p0.Lambda)] = me
			for i, v := range [][]float64{exact, scratch, warm} {
				m, sd := MeanStd(v)
				series[i].X, series[i].Y, series[i].Err = append(series[i].X, p0.Lambda), append(series[i].Y, m), append(series[i].Err, sd)
			}
			p, err := figure.Lines([]figure.Series{
				{Name: "from scratch", X: fig8Index(len(ls)), Y: ls, NoPoint: true},
				{Name: fmt.Sprintf("from dw*(%g)", r0.Lambda0), X: fig8Index(len(lw)), Y: lw, NoPoint: true, Dashed: true},
			}, figure.LineOptions{Title: fmt.Sprintf("SGD + K-FAC at lambda %g", p0.Lambda), XLabel: "epochs (full batch)", YLabel: "objective gap (L - L*) / L*", LogY: true})
			if err != nil {
				return nil, err
			}
			sgdPlots = append(sgdPlots, p)
		}
		s.Values[proto.key+"_pairs"] = float64(pairs)
		s.Values[proto.key+"_pairs_reached"] = float64(reachedPairs)
		if warmRuns > 0 {
			s.Values[proto.key+"_warm_reached_fraction"] = float64(warmReached) / float64(warmRuns)
		}
		if reachedPairs > 0 {
			s.Values[proto.key+"_warm_minus_scratch_test_error"] = sumDiff / float64(reachedPairs)
			s.Values[proto.key+"_max_abs_warm_minus_scratch_test_error"] = maxAbsDiff
		}
		if exactDiffs > 0 {
			s.Values[proto.key+"_warm_minus_exact_test_error"] = sumExactDiff / float64(exactDiffs)
		}
		if epochsScratch > 0 {
			s.Values[proto.key+"_epochs_saved"] = 1 - epochsWarm/epochsScratch
		}
	}
	s.Values[keyRunsRecorded] = 1
	s.Values["sgd_gap_target"], s.Values["sgd_max_epochs"], s.Values["sgd_momentum"] = r0.GapTarget, float64(r0.MaxEpochs), r0.Momentum
	// The earlier protocol's plain SGD at lr 0.01 against the stability
	// limit of the mean-form Hessian (at lambda 0; a lower bound with
	// mini-batches).
	var gnMax, legacy []float64
	for _, r := range results {
		gnMax, legacy = append(gnMax, r.GaussNewtonMax), append(legacy, fig8LegacyLR/fig8StabilityLimit(r.GaussNewtonMax, r.Momentum))
	}
	s.Values["gauss_newton_lambda_max"], _ = MeanStd(gnMax)
	s.Values["sgd_legacy_lr_over_limit_max"] = slices.Max(legacy)
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
		if err := figure.SavePanels(sgdPlots, min(len(sgdPlots), 4), 260, 240, env.Path(name)); err != nil {
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

	v := s.Values
	s.Finding = fmt.Sprintf("conjugate gradients started at the solution for lambda0 = %g need %.0f%% fewer iterations than from zero on average over %d target lambdas. "+
		"Full-batch SGD + K-FAC (momentum %g, step %g of the heavy-ball stability limit 2(1+m)/lambda_max of the preconditioned mean-form Hessian, at most %d epochs) "+
		"brings the objective within a relative gap of %g of the closed form in %.0f of %.0f (seed, lambda) pairs from both starts, and %.0f%% of the warm starts reach it; "+
		"on the pairs that reached it, starting from dw*(lambda0) changes the test error by %+.4f on average (largest %.4f) against training from scratch and by %+.4f against the closed form, "+
		"and needs %s epochs to the gap (paper: fine-tuning matches training from scratch). "+
		"Plain SGD (variant, same rule on the unpreconditioned Hessian) reaches the gap in %.0f of %.0f pairs; the earlier protocol's lr %g was %.2g times the plain stability limit. "+
		"Of the lambda choices, %s is furthest from the test-loss optimum (test loss %+.1f%%).",
		r0.Lambda0, 100*meanSaved, len(r0.CG), r0.Momentum, fig8StabilityFraction, r0.MaxEpochs, r0.GapTarget,
		v["sgd_kfac_pairs_reached"], v["sgd_kfac_pairs"], 100*v["sgd_kfac_warm_reached_fraction"],
		fig8Value(v, "sgd_kfac_warm_minus_scratch_test_error"), fig8Value(v, "sgd_kfac_max_abs_warm_minus_scratch_test_error"), fig8Value(v, "sgd_kfac_warm_minus_exact_test_error"),
		fig8Saved(v, "sgd_kfac_epochs_saved"),
		v["sgd_plain_pairs_reached"], v["sgd_plain_pairs"], fig8LegacyLR, v["sgd_legacy_lr_over_limit_max"], worstMethod, 100*worstExcess)
	return s, nil
}

// fig8TopEigen returns the largest eigenvalue of LQF's mean-form Hessian
// H = (2/N) J^T J + lambda I (J: the n*C Jacobian rows [n*C, p]),
// preconditioned symmetrically as P^-1/2 H P^-1/2 when power (which
// applies P^pw to a vector) is set, by Lanczos (fig8LanczosSteps steps):
// heavy ball preconditioned by P^-1 is stable where the step times this
// eigenvalue is below 2 (1 + momentum).
func fig8TopEigen(J []float32, p, n int, lambda float64, power func(v []float64, pw float64) ([]float64, error), seed uint64) (float64, error) {
	rows := len(J) / p
	hess := func(v []float64) []float64 {
		u := make([]float64, rows)
		for i := range rows {
			row, s := J[i*p:(i+1)*p], 0.0
			for j, x := range row {
				s += float64(x) * v[j]
			}
			u[i] = s
		}
		out := make([]float64, p)
		for i := range rows {
			row, ui := J[i*p:(i+1)*p], 2*u[i]/float64(n)
			for j, x := range row {
				out[j] += float64(x) * ui
			}
		}
		for j := range out {
			out[j] += lambda * v[j]
		}
		return out
	}
	op := func(v []float64) ([]float64, error) {
		if power == nil {
			return hess(v), nil
		}
		a, err := power(v, -0.5)
		if err != nil {
			return nil, err
		}
		return power(hess(a), -0.5)
	}
	s, err := kfac.Lanczos(op, p, fig8LanczosSteps, seed)
	if err != nil {
		return 0, err
	}
	return s.Max, nil
}

// fig8LearningRate is the step of heavy ball with momentum m on a quadratic
// whose (preconditioned) Hessian has largest eigenvalue lambdaMax:
// fig8StabilityFraction of the stability limit 2 (1 + m) / lambdaMax
// (Lanczos slightly underestimates lambdaMax; the margin covers it).
func fig8LearningRate(lambdaMax, m float64) float64 {
	return fig8StabilityFraction * fig8StabilityLimit(lambdaMax, m)
}

// fig8StabilityLimit is heavy ball's largest stable step 2 (1 + m) / lambdaMax.
func fig8StabilityLimit(lambdaMax, m float64) float64 { return 2 * (1 + m) / lambdaMax }

// describe is a run's end state for the log.
func (r fig8Run) describe() string {
	switch {
	case r.Diverged:
		return fmt.Sprintf("diverged after %d epochs", len(r.Gaps)-1)
	case r.Reached:
		return fmt.Sprintf("gap target in %d epochs", r.Epochs)
	}
	return fmt.Sprintf("gap %.3g after %d epochs", r.Gaps[len(r.Gaps)-1], len(r.Gaps)-1)
}

// fig8Train trains LQF's displacement at lambda from start by full-batch
// heavy ball (momentum cfg.Momentum, constant learning rate lr:
// v <- m v + P^-1 g, dw <- dw - lr v, with P^-1 applied by pre if set) until
// the relative objective gap (L - opt) / opt is within cfg.GapTarget or
// cfg.MaxEpochs epochs (one step each), and returns the gaps, the epochs to
// the target and the test error of net at the end.
// Full batch makes the stability limit exact and lets a constant step reach
// any gap (mini-batch noise would leave a floor). The steps run on the host
// from k's Jacobian rows: the gradient (2/N) J^T (J dw - R) + lambda dw is
// exactly that of model.TrainGraph's full-batch step on the linearized
// network, and K-FAC's damped inverse is the one its Preconditioner
// applies, in float64 and without a network pass per step.
func fig8Train(env *Env, net *model.Network, test *data.Set, k *model.Kernel, start []float64, lambda, opt, lr float64,
	pre func(g []float64) ([]float64, error), cfg fig8Config) (fig8Run, error) {
	var run fig8Run
	dw := slices.Clone(start)
	vel := make([]float64, len(dw))
	grad := make([]float64, len(dw))
	gap := func() float64 {
		return (linalg.ObjectiveGradient(k.J, k.P, k.R, dw, lambda, k.N, grad) - opt) / opt
	}
	run.Gaps = []float64{gap()}
	run.Reached = run.Gaps[0] <= cfg.GapTarget
	for epoch := 1; !run.Reached && epoch <= cfg.MaxEpochs; epoch++ {
		d := grad
		if pre != nil {
			var err error
			if d, err = pre(grad); err != nil {
				return run, err
			}
		}
		for j := range dw {
			vel[j] = cfg.Momentum*vel[j] + d[j]
			dw[j] -= lr * vel[j]
		}
		g := gap()
		run.Gaps = append(run.Gaps, g)
		if math.IsNaN(g) || math.IsInf(g, 0) || g > fig8DivergedGap {
			run.Diverged = true
			run.TestError = 1 - 1/float64(net.NumClasses())
			return run, nil
		}
		if g <= cfg.GapTarget {
			run.Reached, run.Epochs = true, epoch
		}
	}
	m, err := net.Clone()
	if err != nil {
		return run, err
	}
	if err := m.SetTangent(dw); err != nil {
		return run, err
	}
	run.TestError, err = finetune.PredictError(env.Backend, model.LinearizedNetwork{Network: m}, test)
	return run, err
}

// fig8Value is values[key], NaN when absent (no run reached the gap).
func fig8Value(values map[string]float64, key string) float64 {
	if x, ok := values[key]; ok {
		return x
	}
	return math.NaN()
}

// fig8Saved describes the share of epochs warm starts save, for the finding.
func fig8Saved(values map[string]float64, key string) string {
	x, ok := values[key]
	if !ok {
		return "no comparable count of"
	}
	if x >= 0 {
		return fmt.Sprintf("%.0f%% fewer", 100*x)
	}
	return fmt.Sprintf("%.0f%% more", -100*x)
}
