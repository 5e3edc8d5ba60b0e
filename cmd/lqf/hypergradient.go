package main

import (
	"fmt"
	"io"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/weightdecay"
)

// Until `lqf check` dispatches "hypergradient" to runCheckHypergradient,
// the check runs as its own command.
// maxHypergradientRelError bounds `lqf check hypergradient`.
const maxHypergradientRelError = 1e-4

// hypergradientCheck is the JSON document of `lqf check hypergradient`.
type hypergradientCheck struct {
	Task       string  `json:"task"`
	Train      int     `json:"train"`
	Val        int     `json:"val"`
	Classes    int     `json:"classes"`
	Parameters int     `json:"parameters"`
	Lambda     float64 `json:"lambda"`
	ValLoss    float64 `json:"val_loss"`
	// Exact is dL_val/dlambda from the eigendecomposition of K; FD its
	// central finite difference (L(lambda + h) - L(lambda - h)) / 2h of
	// fresh Cholesky solves, with h = FDStep; KFAC the K-FAC estimate.
	Exact         float64 `json:"exact_hypergradient"`
	FD            float64 `json:"fd_hypergradient"`
	FDStep        float64 `json:"fd_step"`
	KFAC          float64 `json:"kfac_hypergradient"`
	ExactRelError float64 `json:"exact_rel_error"` // |exact - fd| / |fd|
	KFACRelError  float64 `json:"kfac_rel_error"`  // |kfac - exact| / |exact|
	Bound         float64 `json:"exact_rel_error_bound"`
	Pass          bool    `json:"pass"`
}

func runCheckHypergradient(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check hypergradient", "check hypergradient [--max-train N] [--val-per-class M] [--wd LAMBDA] [--json FILE]", stderr)
	bb := addBackboneFlags(fs, "leaky", "")
	taskName := fs.String("task", DefaultTask, "task")
	maxTrain := fs.Int("max-train", 50, "training samples (the kernel form needs N*C Jacobian rows)")
	valPerClass := fs.Int("val-per-class", 10, "validation samples per class")
	lambda := fs.Float64("wd", 1e-2, "weight decay lambda at which the hypergradient is taken")
	fdRel := fs.Float64("fd-step", 1e-4, "finite-difference step relative to lambda")
	seed := fs.Uint64("seed", 1, "seed of the split and the new head")
	jsonPath := fs.String("json", "", "write the result as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *maxTrain < 2 || *valPerClass < 1 || !(*lambda > 0) || math.IsInf(*lambda, 0) || !(*fdRel > 0 && *fdRel < 1) {
		return usagef("--max-train must be >= 2, --val-per-class >= 1, --wd > 0 and --fd-step in (0, 1)")
	}
	s, err := openSession(*taskName, bb, data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: *valPerClass, MaxTest: 1}, *quiet, stderr)
	if err != nil {
		return err
	}
	train, val := s.splits.Train, s.splits.Val
	c := train.NumClasses
	net, err := s.net.ReplaceHead(s.be, c, *seed)
	if err != nil {
		return err
	}
	k, err := model.NewKernel(s.be, net, train, model.DefaultAlpha, s.progress)
	if err != nil {
		return err
	}
	_, rv, err := k.Outputs(s.be, val)
	if err != nil {
		return err
	}
	Kv, Jv, err := k.Cross(s.be, val, s.progress)
	if err != nil {
		return err
	}
	n, m, p := train.Len(), val.Len(), k.P
	J, K, r := k.J, k.K, k.R

	path, err := weightdecay.NewPath(K, r, n)
	if err != nil {
		return err
	}
	v, err := path.Validation(Kv, rv, m)
	if err != nil {
		return err
	}
	res := &hypergradientCheck{Task: *taskName, Train: n, Val: m, Classes: c, Parameters: p, Lambda: *lambda,
		FDStep: *fdRel * *lambda, Bound: maxHypergradientRelError}
	if res.ValLoss, res.Exact, err = v.LossAndHypergradient(*lambda); err != nil {
		return err
	}
	hi, err := closedFormValLoss(K, r, Kv, rv, n, m, *lambda+res.FDStep)
	if err != nil {
		return err
	}
	lo, err := closedFormValLoss(K, r, Kv, rv, n, m, *lambda-res.FDStep)
	if err != nil {
		return err
	}
	res.FD = (hi - lo) / (2 * res.FDStep)
	res.ExactRelError = math.Abs(res.Exact-res.FD) / math.Abs(res.FD)

	factors, err := kfac.Compute(s.be, net, train, kfac.Options{Seed: *seed, Progress: s.progress})
	if err != nil {
		return err
	}
	inv, err := factors.Invert(*lambda)
	if err != nil {
		return err
	}
	dw, err := path.Weights(J, p, *lambda)
	if err != nil {
		return err
	}
	if res.KFAC, err = weightdecay.HypergradientKFAC(net, inv, dw, Jv, rv, m); err != nil {
		return err
	}
	res.KFACRelError = math.Abs(res.KFAC-res.Exact) / math.Abs(res.Exact)
	res.Pass = res.ExactRelError <= maxHypergradientRelError

	table(stdout, []string{"quantity", "value"}, [][]string{
		{"validation loss L_val", fmt.Sprintf("%.6g", res.ValLoss)},
		{"dL_val/dlambda, exact (eigendecomposition)", fmt.Sprintf("%.10g", res.Exact)},
		{fmt.Sprintf("central finite differences (step %.3g)", res.FDStep), fmt.Sprintf("%.10g", res.FD)},
		{fmt.Sprintf("exact vs finite differences, relative (bound %.0e)", maxHypergradientRelError), fmt.Sprintf("%.3g", res.ExactRelError)},
		{"dL_val/dlambda, K-FAC", fmt.Sprintf("%.6g", res.KFAC)},
		{"K-FAC vs exact, relative", fmt.Sprintf("%.3g", res.KFACRelError)},
	})
	fmt.Fprintf(stdout, "%d training and %d validation images of %s, %d classes, %d parameters, lambda %g\n", n, m, *taskName, c, p, *lambda)
	if err := writeJSON(*jsonPath, res); err != nil {
		return err
	}
	if !res.Pass {
		return fmt.Errorf("hypergradient check failed: exact_rel_error %.3g > %g", res.ExactRelError, maxHypergradientRelError)
	}
	return nil
}

// closedFormValLoss returns (1/M) ||Kv a - R_v||^2 with a from a fresh
// Cholesky factorization of K + rho I, independent of weightdecay.Path.
func closedFormValLoss(k *mat.SymDense, r []float64, kv *mat.Dense, rv []float64, n, m int, lambda float64) (float64, error) {
	chol, err := linalg.ShiftedCholesky(k, linalg.RidgeTerm(lambda, n))
	if err != nil {
		return 0, err
	}
	var a, f mat.VecDense
	if err := chol.SolveVecTo(&a, mat.NewVecDense(len(r), append([]float64(nil), r...))); err != nil {
		return 0, err
	}
	f.MulVec(kv, &a)
	loss := 0.0
	for i, x := range f.RawVector().Data {
		loss += (x - rv[i]) * (x - rv[i])
	}
	return loss / float64(m), nil
}
