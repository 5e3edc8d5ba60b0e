package model

import (
	"fmt"
	"runtime"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SpeedReport holds per-image times in milliseconds of the passes LQF
// depends on, measured in one run on one backend, and their ratios.
type SpeedReport struct {
	Backend        string  `json:"backend"`
	Batch          int     `json:"batch"`
	ForwardMS      float64 `json:"forward_ms_per_image"`
	LinearizedMS   float64 `json:"linearized_forward_ms_per_image"`
	NLFTStepMS     float64 `json:"nlft_step_ms_per_image"`
	LQFStepMS      float64 `json:"lqf_step_ms_per_image"`
	JVPOverForward float64 `json:"jvp_over_forward"`
	LQFOverNLFT    float64 `json:"lqf_step_over_nlft_step"`
	// JVPOverForwardMACs is the same ratio in multiply-accumulates of the
	// convolutions and the head (layers.Net.MultiplyAccumulates): what a
	// compute-bound backend approaches, whatever its speed.
	JVPOverForwardMACs float64 `json:"jvp_over_forward_macs"`
	// CPUs is runtime.NumCPU() of the measuring process: the size of the
	// pure-Go backend's worker pool (PyTorch's counterpart is its thread
	// count, scripts/torch_bench.py --threads).
	CPUs int `json:"cpus"`
}

// MeasureSpeed times, on images [batch, H, W, C] (flattened), the plain
// forward pass (frozen statistics), the linearized forward pass f0 + J dw,
// one NLFT training step (batch statistics, cross-entropy, SGD momentum) and
// one LQF training step (linearized, MSE, SGD momentum), each repeated for
// at least minTime after a warm-up (compilation) run.
func MeasureSpeed(be backends.Backend, net *Network, images []float32, batch int, minTime time.Duration) (*SpeedReport, error) {
	arch := net.Arch
	if len(images) < batch*arch.Input.Height*arch.Input.Width*arch.Input.Channels {
		return nil, fmt.Errorf("MeasureSpeed: need %d images", batch)
	}
	n, err := net.Clone()
	if err != nil {
		return nil, err
	}
	x := tensors.FromFlatDataAndDimensions(images[:batch*arch.Input.Height*arch.Input.Width*arch.Input.Channels], batch, arch.Input.Height, arch.Input.Width, arch.Input.Channels)
	y := make([]float32, batch*arch.NumClasses())
	for i := range batch {
		y[i*arch.NumClasses()+i%arch.NumClasses()] = 1
	}
	yt := tensors.FromFlatDataAndDimensions(y, batch, arch.NumClasses())
	rep := &SpeedReport{Backend: be.Name(), Batch: batch, CPUs: runtime.NumCPU()}
	timeIt := func(fn func()) float64 {
		fn() // compile and warm up
		start := time.Now()
		runs := 0
		for runs == 0 || time.Since(start) < minTime {
			fn()
			runs++
		}
		return float64(time.Since(start).Nanoseconds()) / 1e6 / float64(runs*batch)
	}
	step := func(linear bool) func() {
		o := TrainOptions{LearningRate: 1e-6, Momentum: 0.9, Lambda: 1e-4}.withDefaults()
		forward := func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, TrainBatchStats) }
		o.Loss = CrossEntropy
		if linear {
			forward, o.Loss, o.Scopes = arch.LinearizedLogits, MSE, []string{ScopeTangent}
		}
		e := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x, y, lr *Node) *Node {
			return sgdStep(ctx, forward, x, y, lr, o)
		})
		return func() { e.MustExec(x, yt, float32(1e-6)) }
	}
	err = TryCatch(func() {
		fwd := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, Eval) })
		lin := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x *Node) *Node { return arch.LinearizedLogits(ctx, x) })
		rep.ForwardMS = timeIt(func() { fwd.MustExec(x) })
		rep.LinearizedMS = timeIt(func() { lin.MustExec(x) })
		rep.NLFTStepMS = timeIt(step(false))
		rep.LQFStepMS = timeIt(step(true))
	})
	if err != nil {
		return nil, err
	}
	rep.JVPOverForward = rep.LinearizedMS / rep.ForwardMS
	rep.LQFOverNLFT = rep.LQFStepMS / rep.NLFTStepMS
	f, l, err := arch.MultiplyAccumulates()
	if err != nil {
		return nil, err
	}
	rep.JVPOverForwardMACs = float64(l) / float64(f)
	return rep, nil
}
