package model

import (
	"errors"
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/linalg"
)

// GaussNewton is the exact curvature of LQF's loss as a matrix-free
// operator over a training set: for lqf's loss
// (1/N) sum_i ||f0_i + J_i dw - alpha y_i||^2 + lambda/2 ||dw||^2 the
// Hessian is H = (2/N) J^T J + lambda I, and H v is one linearized forward
// pass (J v) and one reverse pass (J^T u) per image, accumulated in float64.
// Vectors are flat, in the order of Network.TrainableVariables.
type GaussNewton struct {
	be     backends.Backend
	net    *Network
	set    *data.Set
	jtjv   *context.Exec
	jtu    *context.Exec
	batch  int
	params int
	Calls  int // products computed
}

// NewGaussNewton prepares H v products for net (its w0 and head) on set.
func NewGaussNewton(be backends.Backend, net *Network, set *data.Set) (*GaussNewton, error) {
	if set.Len() == 0 {
		return nil, errors.New("GaussNewton: empty set")
	}
	if err := net.CheckSet(set); err != nil {
		return nil, err
	}
	m, err := net.Clone()
	if err != nil {
		return nil, err
	}
	gn := &GaussNewton{be: be, net: m, set: set, batch: min(EvalBatchSize, set.Len()), params: m.NumParameters()}
	arch := m.Arch
	// jtu returns J^T u as one flat vector, given the linearized outputs.
	jtu := func(ctx *context.Context, jdw, u *Node) *Node {
		tangents := TangentVariables(ctx)
		values := make([]*Node, len(tangents))
		for i, t := range tangents {
			values[i] = t.ValueGraph(jdw.Graph())
		}
		var flat []*Node
		for _, g := range Gradient(ReduceAllSum(Mul(jdw, u)), values...) {
			flat = append(flat, Reshape(g, -1))
		}
		return Concatenate(flat, 0)
	}
	err = TryCatch(func() {
		// J^T J v, with the tangent variables holding v.
		gn.jtjv = context.MustNewExec(be, m.Ctx, func(ctx *context.Context, x *Node) *Node {
			_, jdw := arch.Linearized(ctx, x)
			return jtu(ctx, jdw, StopGradient(jdw))
		})
		// J^T u for an input cotangent u.
		gn.jtu = context.MustNewExec(be, m.Ctx, func(ctx *context.Context, x, u *Node) *Node {
			_, jdw := arch.Linearized(ctx, x)
			return jtu(ctx, jdw, u)
		})
	})
	return gn, err
}

// sum accumulates, over the set in batches, the flat float32 output of run
// (given the batch's images, its start and size) in float64.
func (gn *GaussNewton) sum(run func(x *tensors.Tensor, start, n int) *tensors.Tensor) (out []float64, err error) {
	out = make([]float64, gn.params)
	err = TryCatch(func() {
		for start := 0; start < gn.set.Len(); start += gn.batch {
			n := min(gn.batch, gn.set.Len()-start)
			x := ImageBatch(gn.set, start, n)
			for i, g := range tensors.MustCopyFlatData[float32](run(x, start, n)) {
				out[i] += float64(g)
			}
		}
	})
	return out, err
}

// Apply returns H v = (2/N) J^T J v + lambda v.
func (gn *GaussNewton) Apply(v []float64, lambda float64) ([]float64, error) {
	gn.Calls++
	if err := gn.net.SetTangent(v); err != nil {
		return nil, err
	}
	jtjv, err := gn.sum(func(x *tensors.Tensor, _, _ int) *tensors.Tensor { return gn.jtjv.MustExec(x)[0] })
	if err != nil {
		return nil, err
	}
	n := float64(gn.set.Len())
	out := make([]float64, len(v))
	for i := range v {
		out[i] = 2/n*jtjv[i] + lambda*v[i]
	}
	return out, nil
}

// JT returns J^T r for residuals r [N, C] (row-major).
func (gn *GaussNewton) JT(r []float64) ([]float64, error) {
	c := gn.net.NumClasses()
	return gn.sum(func(x *tensors.Tensor, start, n int) *tensors.Tensor {
		u := make([]float32, n*c)
		for i := range u {
			u[i] = float32(r[start*c+i])
		}
		return gn.jtu.MustExec(x, tensors.FromFlatDataAndDimensions(u, n, c))[0]
	})
}

// SolveCG minimizes LQF's objective for weight decay lambda by conjugate
// gradients (linalg.CG) on H dw = (2/N) J^T R, R = alpha Y - f0,
// matrix-free and full batch, until ||H dw - b|| <= tol ||b|| or maxIter
// products. It returns dw and the relative residual reached.
func (gn *GaussNewton) SolveCG(residual []float64, lambda, tol float64, maxIter int, w io.Writer) ([]float64, float64, error) {
	jtr, err := gn.JT(residual)
	if err != nil {
		return nil, 0, err
	}
	n := float64(gn.set.Len())
	b := make([]float64, len(jtr))
	for i := range b {
		b[i] = 2 / n * jtr[i]
	}
	apply := func(v, out []float64) error {
		hv, err := gn.Apply(v, lambda)
		copy(out, hv)
		return err
	}
	bar := progress.New(w, "cg", maxIter, "iter")
	res, err := linalg.CG(apply, b, tol, maxIter, linalg.CGOptions{Progress: func(k int, _ []float64, rel float64) bool {
		if k > 0 {
			bar.SetStatus("relative residual %.2e", rel)
			bar.Add(1)
		}
		return false
	}})
	bar.Finish()
	if err != nil {
		return nil, 0, fmt.Errorf("conjugate gradients broke down: %w", err)
	}
	return res.X, res.RelResidual, nil
}

// ClosedFormCheck compares LQF solved iteratively (matrix-free conjugate
// gradients, GaussNewton.SolveCG) with the closed form (kernel form,
// Kernel.Solve) on the same task and lambda.
type ClosedFormCheck struct {
	// PredRelDistance is ||P_cg - P_exact|| / ||P_exact|| over the test
	// outputs f0 + J dw.
	PredRelDistance float64 `json:"pred_rel_distance"`
	// WeightRelDistance is ||dw_cg - dw_exact|| / ||dw_exact||.
	WeightRelDistance  float64 `json:"weight_rel_distance"`
	CGIterations       int     `json:"cg_iterations"`
	CGRelResidual      float64 `json:"cg_rel_residual"`
	ExactTestError     float64 `json:"exact_test_error"`
	IterativeTestError float64 `json:"iterative_test_error"`
	Lambda             float64 `json:"lambda"`
	TrainSize          int     `json:"train_size"`
	TestSize           int     `json:"test_size"`
	// Pass: PredRelDistance <= MaxPredRelDistance.
	Pass bool `json:"pass"`
}

// MaxPredRelDistance bounds CheckClosedForm's PredRelDistance (lqf's
// backbone at lambda 1e-2: 4.4e-5, results/checks/closed-form.json).
const MaxPredRelDistance = 1e-3

// CheckClosedForm solves LQF (MSE, alpha) on splits.Train for lambda both
// ways from the network with a new head for the task (seeded), and compares
// the test predictions.
func CheckClosedForm(be backends.Backend, pretrained *Network, splits *data.Splits, alpha, lambda float64, seed uint64, maxIter int, w io.Writer) (*ClosedFormCheck, error) {
	classes := splits.Train.NumClasses
	base, err := pretrained.ReplaceHead(be, classes, seed)
	if err != nil {
		return nil, err
	}
	k, err := NewKernel(be, base, splits.Train, alpha, w)
	if err != nil {
		return nil, err
	}
	exact, err := k.Solve(lambda)
	if err != nil {
		return nil, err
	}
	gn, err := NewGaussNewton(be, base, splits.Train)
	if err != nil {
		return nil, err
	}
	cg, rel, err := gn.SolveCG(k.R, lambda, 1e-7, maxIter, w)
	if err != nil {
		return nil, err
	}
	res := &ClosedFormCheck{CGIterations: gn.Calls, CGRelResidual: rel, Lambda: lambda, TrainSize: k.N, TestSize: splits.Test.Len()}
	var preds [2][]float32
	for i, dw := range [][]float64{exact, cg} {
		m, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if err := m.SetTangent(dw); err != nil {
			return nil, err
		}
		if preds[i], err = (LinearizedNetwork{m}).Predict(be, splits.Test); err != nil {
			return nil, err
		}
	}
	res.ExactTestError = ErrorRate(preds[0], splits.Test.Labels)
	res.IterativeTestError = ErrorRate(preds[1], splits.Test.Labels)
	res.PredRelDistance = linalg.RelDistance(float64s(preds[1]), float64s(preds[0]))
	res.WeightRelDistance = linalg.RelDistance(cg, exact)
	res.Pass = res.PredRelDistance <= MaxPredRelDistance
	return res, nil
}
