package model

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/linalg"
)

// TestOptimizersMatchHostUpdates trains a linear classifier on fixed
// features (full batch, constant learning rate) with SGD+momentum and with
// Adam, both with L2 in the loss, and replays the same updates on the host
// with gradients written out by hand.
func TestOptimizersMatchHostUpdates(t *testing.T) {
	be := testBackend(t)
	const n, f, c, steps, lr, wd, alpha = 8, 3, 2, 4, 0.05, 0.1, 15.0
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, n*f)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(i % c)
	}
	cfg := tinyConfig(c)
	arch := cfg.MustNet()
	for _, opt := range []Optimizer{SGD, Adam} {
		ctx := context.New().Checked(false)
		ctx.SetParam(context.ParamInitialSeed, int64(3))
		head := func(ctx *context.Context, h *Node) *Node { return arch.Head(ctx, h) }
		// Initial weights, read back for the host replay.
		context.MustNewExec(be, ctx, head).MustExec(tensors.FromFlatDataAndDimensions(x, n, f))
		wVar := ctx.GetVariableByScopeAndName("/"+ScopeHead, "weights")
		bVar := ctx.GetVariableByScopeAndName("/"+ScopeHead, "biases")
		w := float64s(tensors.MustCopyFlatData[float32](wVar.MustValue()))
		b := float64s(tensors.MustCopyFlatData[float32](bVar.MustValue()))

		_, err := TrainGraph(be, ctx, head, newFeatureSource(x, labels, f, n, 1), c, TrainOptions{
			Loss: MSE, LearningRate: lr, ConstantLR: true, Momentum: 0.9, Lambda: wd,
			Epochs: steps, Optimizer: opt, Scopes: []string{ScopeHead},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Host replay: loss = mean_i ||x_i W + b - alpha y_i||^2 + wd/2 (||W||^2 + ||b||^2).
		params := append(append([]float64(nil), w...), b...)
		m1, m2 := make([]float64, len(params)), make([]float64, len(params))
		for step := 1; step <= steps; step++ {
			grad := make([]float64, len(params))
			for i := range n {
				for k := range c {
					z := params[f*c+k]
					for j := range f {
						z += float64(x[i*f+j]) * params[j*c+k]
					}
					if int(labels[i]) == k {
						z -= alpha
					}
					for j := range f {
						grad[j*c+k] += 2 * z * float64(x[i*f+j]) / n
					}
					grad[f*c+k] += 2 * z / n
				}
			}
			for j := range params {
				g := grad[j] + wd*params[j]
				if opt == Adam {
					m1[j] = 0.9*m1[j] + 0.1*g
					m2[j] = 0.999*m2[j] + 0.001*g*g
					mh := m1[j] / (1 - math.Pow(0.9, float64(step)))
					vh := m2[j] / (1 - math.Pow(0.999, float64(step)))
					params[j] -= lr * mh / (math.Sqrt(vh) + 1e-8)
				} else {
					m1[j] = 0.9*m1[j] + g
					params[j] -= lr * m1[j]
				}
			}
		}
		got := append(float64s(tensors.MustCopyFlatData[float32](wVar.MustValue())), float64s(tensors.MustCopyFlatData[float32](bVar.MustValue()))...)
		if e := linalg.MaxRelError(got, params); e > 1e-5 || math.IsNaN(e) {
			t.Errorf("%s: parameters after %d steps differ from the host replay by %.2e", opt, steps, e)
		}
	}
}
