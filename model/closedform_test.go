package model

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"math"
	"testing"
)

// TestExactLQFIsStationary solves LQF in kernel form (per-sample Jacobian
// rows, float64 Gram and Cholesky) and checks with GoMLX's automatic
// differentiation of the linearized network that the gradient of the LQF
// objective vanishes there, relative to its size at dw = 0.
func TestExactLQFIsStationary(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 15)
	cfg := tinyConfig(5)
	cfg.Activation = LeakyReLU
	net, err := NewNetwork(be, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	const lambda = 1e-3
	for _, m := range []Method{LQF, LQFFC} {
		o := DefaultFinetuneOptions(m)
		o.Solver, o.WeightDecays = SolverExact, []float64{lambda}
		_, pred, err := Finetune(be, net, splits, o)
		if err != nil {
			t.Fatal(err)
		}
		lin := pred.(LinearizedNetwork)
		scopes := []string{ScopeTangent}
		if m == LQFFC {
			scopes = []string{ScopeTangent + "/" + ScopeHead}
		}
		gradNorm := func() float64 {
			onehot := make([]float32, splits.Train.Len()*5)
			for i, l := range splits.Train.Labels {
				onehot[i*5+int(l)] = 1
			}
			out := context.MustNewExec(be, lin.Ctx, func(ctx *context.Context, x, y *Node) *Node {
				loss := LossGraph(MSE, lin.Arch.LinearizedLogits(ctx, x), y, DefaultAlpha)
				vars := trainedVariables(ctx, scopes)
				values := make([]*Node, len(vars))
				for i, v := range vars {
					values[i] = v.ValueGraph(x.Graph())
					loss = Add(loss, MulScalar(ReduceAllSum(Square(values[i])), lambda/2))
				}
				var sq *Node
				for _, g := range Gradient(loss, values...) {
					s := ReduceAllSum(Square(g))
					if sq == nil {
						sq = s
					} else {
						sq = Add(sq, s)
					}
				}
				return Sqrt(sq)
			}).MustExec(tensors.FromFlatDataAndDimensions(splits.Train.Images, splits.Train.Len(), 28, 28, 1),
				tensors.FromFlatDataAndDimensions(onehot, splits.Train.Len(), 5))[0]
			return float64(tensors.ToScalar[float32](out))
		}
		atOpt := gradNorm()
		if err := lin.SetTangent(make([]float64, lin.NumParameters())); err != nil {
			t.Fatal(err)
		}
		atZero := gradNorm()
		t.Logf("%s: gradient norm %.3g at the exact solution, %.3g at dw = 0", m, atOpt, atZero)
		if !(atOpt < 1e-3*atZero) {
			t.Errorf("%s: gradient norm %.3g at the exact solution vs %.3g at dw = 0: not the optimum", m, atOpt, atZero)
		}
	}
}

// TestConjugateGradientsReachClosedForm: matrix-free CG on the exact
// Gauss-Newton products (one linearized forward and one reverse pass per
// product) converges to the kernel-form optimum.
func TestConjugateGradientsReachClosedForm(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 10)
	cfg := tinyConfig(5)
	cfg.Activation = LeakyReLU
	net, err := NewNetwork(be, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CheckClosedForm(be, net, splits, DefaultAlpha, 1e-2, 1, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *c)
	if c.PredRelDistance > 1e-3 || math.IsNaN(c.PredRelDistance) {
		t.Errorf("CG test predictions are %.3g (relative) from the closed form's, want <= 1e-3", c.PredRelDistance)
	}
}
