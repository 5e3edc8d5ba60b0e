package weightdecay

import (
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// MaxHypergradientRelError bounds CheckHypergradient's exact-versus-finite-
// difference relative error.
const MaxHypergradientRelError = 1e-4

// HypergradientCheck is the result of CheckHypergradient (the JSON document
// of `lqf check hypergradient`).
type HypergradientCheck struct {
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
	// Pass: ExactRelError <= MaxHypergradientRelError.
	Pass bool `json:"pass"`
}

// CheckHypergradient checks the hypergradient dL_val/dlambda of LQF's
// closed form (paper eq. 10-12; Path.Validation) at lambda on pretrained
// with a new head (seed) against central finite differences of the
// validation loss with a step fdRel * lambda, each side a fresh Cholesky
// solve independent of Path, and reports the K-FAC estimate
// (HypergradientKFAC) beside it.
func CheckHypergradient(be backends.Backend, pretrained *model.Network, train, val *data.Set, lambda, fdRel float64, seed uint64, progress io.Writer) (*HypergradientCheck, error) {
	c := train.NumClasses
	net, err := pretrained.ReplaceHead(be, c, seed)
	if err != nil {
		return nil, err
	}
	k, err := model.NewKernel(be, net, train, model.DefaultAlpha, progress)
	if err != nil {
		return nil, err
	}
	_, rv, err := k.Outputs(be, val)
	if err != nil {
		return nil, err
	}
	Kv, Jv, err := k.Cross(be, val, progress)
	if err != nil {
		return nil, err
	}
	n, m, p := train.Len(), val.Len(), k.P
	J, K, r := k.J, k.K, k.R

	path, err := NewPath(K, r, n)
	if err != nil {
		return nil, err
	}
	v, err := path.Validation(Kv, rv, m)
	if err != nil {
		return nil, err
	}
	res := &HypergradientCheck{Train: n, Val: m, Classes: c, Parameters: p, Lambda: lambda,
		FDStep: fdRel * lambda, Bound: MaxHypergradientRelError}
	if res.ValLoss, res.Exact, err = v.LossAndHypergradient(lambda); err != nil {
		return nil, err
	}
	hi, err := closedFormValLoss(K, r, Kv, rv, n, m, lambda+res.FDStep)
	if err != nil {
		return nil, err
	}
	lo, err := closedFormValLoss(K, r, Kv, rv, n, m, lambda-res.FDStep)
	if err != nil {
		return nil, err
	}
	res.FD = (hi - lo) / (2 * res.FDStep)
	res.ExactRelError = math.Abs(res.Exact-res.FD) / math.Abs(res.FD)

	factors, err := kfac.Compute(be, net, train, kfac.Options{Seed: seed, Progress: progress})
	if err != nil {
		return nil, err
	}
	inv, err := factors.Invert(lambda)
	if err != nil {
		return nil, err
	}
	dw, err := path.Weights(J, p, lambda)
	if err != nil {
		return nil, err
	}
	if res.KFAC, err = HypergradientKFAC(net, inv, dw, Jv, rv, m); err != nil {
		return nil, err
	}
	res.KFACRelError = math.Abs(res.KFAC-res.Exact) / math.Abs(res.Exact)
	res.Pass = res.ExactRelError <= MaxHypergradientRelError
	return res, nil
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
