package layers

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// BatchNorm normalizes each channel (the last axis) of [H, W, C] or [F]:
//
//	y = gamma (x - mu) / sqrt(var + eps) + beta,
//
// with the batch's statistics in TrainBatchStats mode (which also updates
// the running statistics, r <- m r + (1 - m) batch, the variance unbiased)
// and the frozen running ones in Eval mode. gamma and beta are trainable;
// the running mean and variance are not.
//
// Linearized (frozen statistics): dy = (gamma/sigma) dx + dgamma xhat +
// dbeta with xhat = (x - mu)/sigma. After a convolution whose only consumer
// it is, it is folded into that convolution (fusedConvBN).
type BatchNorm struct {
	// Epsilon is added to the variance; 0 means 1e-5.
	Epsilon float64 `json:"epsilon,omitempty"`
	// Momentum of the running statistics; 0 means 0.9.
	Momentum float64 `json:"momentum,omitempty"`
}

func init() { register(func() Op { return &BatchNorm{} }) }

// Kind is "batchnorm".
func (*BatchNorm) Kind() string { return "batchnorm" }

func (b *BatchNorm) epsilon() float64 {
	if b.Epsilon == 0 {
		return 1e-5
	}
	return b.Epsilon
}

func (b *BatchNorm) momentum() float64 {
	if b.Momentum == 0 {
		return 0.9
	}
	return b.Momentum
}

func (b *BatchNorm) outShape(in [][]int) ([]int, error) {
	if len(in) != 1 || (len(in[0]) != 3 && len(in[0]) != 1) {
		return nil, fmt.Errorf("takes one input [H, W, C] or [F], got %v", in)
	}
	if b.Epsilon < 0 || b.Momentum < 0 || b.Momentum >= 1 {
		return nil, fmt.Errorf("epsilon %g must be >= 0 and momentum %g in [0, 1)", b.Epsilon, b.Momentum)
	}
	return in[0], nil
}

func (*BatchNorm) macs([][]int, []int) int64 { return 0 }

type bnVariables struct {
	gamma, beta, mean, variance *context.Variable
}

func (b *BatchNorm) variables(s *site, width int) bnVariables {
	dims := []int{width}
	return bnVariables{
		gamma:    s.variable("gamma", dims, initializers.One, true),
		beta:     s.variable("beta", dims, initializers.Zero, true),
		mean:     s.variable("mean", dims, initializers.Zero, false),
		variance: s.variable("variance", dims, initializers.One, false),
	}
}

func (b *BatchNorm) forward(s *site, in []*Node) *Node {
	x := in[0]
	dims := x.Shape().Dimensions
	width := dims[len(dims)-1]
	p := b.variables(s, width)
	if s.mode == Eval {
		y, scale, invSigma := b.frozen(s, p, x)
		if s.probe != nil {
			s.probe(Unit{BNScope: s.ctx.Scope(), Input: x, Output: y, Scale: scale, Mean: s.value(p.mean), InvSigma: invSigma})
		}
		return y
	}
	// Batch statistics as matrix products (the pure-Go backend broadcasts
	// slowly): the moments are 1^T Y / N and 1^T Y^2 / N and the affine map
	// is [Y, 1] [diag(scale); shift].
	g, dtype := s.g, x.DType()
	n := x.Shape().Size() / width
	y2 := Reshape(x, n, width)
	onesRow := Ones(g, shapes.Make(dtype, 1, n))
	mean := MulScalar(Reshape(MatMul2D(onesRow, y2), width), 1/float64(n))
	meanSq := MulScalar(Reshape(MatMul2D(onesRow, Square(y2)), width), 1/float64(n))
	variance := Max(Sub(meanSq, Square(mean)), ZerosLike(mean))
	m := b.momentum()
	p.mean.SetValueGraph(Add(MulScalar(s.value(p.mean), m), MulScalar(StopGradient(mean), 1-m)))
	unbiased := MulScalar(StopGradient(variance), float64(n)/float64(max(n-1, 1)))
	p.variance.SetValueGraph(Add(MulScalar(s.value(p.variance), m), MulScalar(unbiased, 1-m)))

	scale := Mul(s.value(p.gamma), Reciprocal(Sqrt(AddScalar(variance, b.epsilon()))))
	shift := Sub(s.value(p.beta), Mul(mean, scale))
	affine := Concatenate([]*Node{
		Mul(DiagonalWithValue(ScalarOne(g, dtype), width), Reshape(scale, 1, width)),
		Reshape(shift, 1, width),
	}, 0) // [width+1, width]
	withOnes := Concatenate([]*Node{y2, Ones(g, shapes.Make(dtype, n, 1))}, 1)
	return Reshape(MatMul2D(withOnes, affine), dims...)
}

// frozen is y = x scale + (beta - mu scale) with the running statistics.
func (b *BatchNorm) frozen(s *site, p bnVariables, x *Node) (y, scale, invSigma *Node) {
	invSigma = Reciprocal(Sqrt(AddScalar(s.value(p.variance), b.epsilon())))
	scale = Mul(s.value(p.gamma), invSigma)
	shift := Sub(s.value(p.beta), Mul(s.value(p.mean), scale))
	return Add(Mul(x, channelwise(scale, x)), channelwise(shift, x)), scale, invSigma
}

// channelwise reshapes a per-channel vector [C] to broadcast against x.
func channelwise(v, x *Node) *Node {
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[len(dims)-1] = v.Shape().Dimensions[0]
	return BroadcastToDims(Reshape(v, dims...), x.Shape().Dimensions...)
}

func (b *BatchNorm) tangent(s *site, in []dual) dual {
	x := in[0]
	dims := x.p.Shape().Dimensions
	p := b.variables(s, dims[len(dims)-1])
	y, scale, invSigma := b.frozen(s, p, x.p)
	xhat := Mul(Sub(x.p, channelwise(s.value(p.mean), x.p)), channelwise(invSigma, x.p))
	dy := Add(Mul(xhat, channelwise(s.tangentOf(p.gamma), x.p)), channelwise(s.tangentOf(p.beta), x.p))
	if x.t != nil {
		dy = Add(dy, Mul(x.t, channelwise(scale, x.p)))
	}
	return dual{y, dy}
}
