package layers

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Conv2D is a 2-D convolution over NHWC images with a square window:
// [H, W, Cin] -> [Ho, Wo, Filters], Ho = floor((H + 2 Padding - Kernel) /
// Stride) + 1, kernel [Kernel, Kernel, Cin, Filters] (He-normal
// initialized), biases [Filters] when Bias. Groups are 1. It runs as im2col
// and one matrix product (Conv) with a hand-written reverse-mode rule.
//
// Linearized: dy = conv(dx, K) + conv(x, dK) + db. Followed by a batch norm
// that is its only consumer, the pair is one unit in Eval mode and in the
// linearized pass, the batch norm folded into the kernel (fusedConvBN).
type Conv2D struct {
	Filters int  `json:"filters"`
	Kernel  int  `json:"kernel"`
	Stride  int  `json:"stride"`
	Padding int  `json:"padding"`
	Bias    bool `json:"bias,omitempty"`
}

func init() { register(func() Op { return &Conv2D{} }) }

// Kind is "conv2d".
func (*Conv2D) Kind() string { return "conv2d" }

func (c *Conv2D) geometry() ConvGeometry { return ConvGeometry{c.Kernel, c.Stride, c.Padding} }

func (c *Conv2D) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	if c.Filters < 1 {
		return nil, fmt.Errorf("filters %d must be positive", c.Filters)
	}
	return windowShape(c.geometry(), in[0], c.Filters)
}

// oneImage checks that a layer takes one [H, W, C] input.
func oneImage(in [][]int) error {
	if len(in) != 1 || len(in[0]) != 3 {
		return fmt.Errorf("takes one image input [H, W, C], got %v", in)
	}
	return nil
}

// windowShape is the output shape of a window of geometry g over x.
func windowShape(g ConvGeometry, x []int, channels int) ([]int, error) {
	if g.Kernel < 1 || g.Stride < 1 || g.Padding < 0 || g.Padding >= g.Kernel {
		return nil, fmt.Errorf("window %dx%d, stride %d, padding %d: need window >= 1, stride >= 1, 0 <= padding < window", g.Kernel, g.Kernel, g.Stride, g.Padding)
	}
	ho, wo := g.OutputSize(x[0]), g.OutputSize(x[1])
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("window %s does not fit a %dx%d input", g, x[0], x[1])
	}
	return []int{ho, wo, channels}, nil
}

func (c *Conv2D) macs(in [][]int, out []int) int64 {
	return int64(out[0]) * int64(out[1]) * int64(c.Kernel*c.Kernel) * int64(in[0][2]) * int64(c.Filters)
}

// variables returns the kernel and (if Bias) the biases.
func (c *Conv2D) variables(s *site) (kernel, bias *Node, kv, bv *context.Variable) {
	cin := s.in[0][2]
	fanIn := c.Kernel * c.Kernel * cin
	kv = s.variable("kernel", []int{c.Kernel, c.Kernel, cin, c.Filters},
		initializers.RandomNormalFn(s.ctx, math.Sqrt(2/float64(fanIn))), true)
	kernel = s.value(kv)
	if c.Bias {
		bv = s.variable("biases", []int{c.Filters}, initializers.Zero, true)
		bias = s.value(bv)
	}
	return kernel, bias, kv, bv
}

func (c *Conv2D) forward(s *site, in []*Node) *Node {
	kernel, bias, _, _ := c.variables(s)
	y := Conv(in[0], kernel, bias, c.geometry())
	if s.probe != nil && s.mode == Eval {
		s.probe(Unit{Scope: s.ctx.Scope(), Input: in[0], Output: y, Geometry: c.geometry(), Conv: true, Kernel: kernel, HasBias: c.Bias})
	}
	return y
}

func (c *Conv2D) tangent(s *site, in []dual) dual {
	kernel, bias, kv, bv := c.variables(s)
	geo := c.geometry()
	var db *Node
	if bv != nil {
		db = s.tangentOf(bv)
	}
	out := dual{p: Conv(in[0].p, kernel, bias, geo), t: Conv(in[0].p, s.tangentOf(kv), db, geo)}
	if in[0].t != nil {
		out.t = Add(out.t, Conv(in[0].t, kernel, nil, geo))
	}
	return out
}

// fusedConvBN is a convolution (site cs) and the batch norm (site bs) that
// is its only consumer, in Eval mode: with s = gamma / sigma,
//
//	y  = conv(x, K s) + beta + (b - mu) s,
//	dy = conv(dx, K s) + conv(x, dK s + K dgamma / sigma) + dbeta + db s + (b - mu) dgamma / sigma,
//
// every per-channel operation folded into the kernel and the bias (the
// pure-Go backend broadcasts slowly). With linearized false only y is built.
func fusedConvBN(cs, bs *site, x dual, linearized bool) dual {
	conv := cs.node.Op.(*Conv2D)
	bn := bs.node.Op.(*BatchNorm)
	geo := conv.geometry()
	width := conv.Filters
	kernel, bias, kv, bv := conv.variables(cs)
	p := bn.variables(bs, width)
	gamma, beta, mean := bs.value(p.gamma), bs.value(p.beta), bs.value(p.mean)
	invSigma := Reciprocal(Sqrt(AddScalar(bs.value(p.variance), bn.epsilon())))
	scale := Mul(gamma, invSigma)
	k4 := func(v *Node) *Node { return Reshape(v, 1, 1, 1, width) }
	center := mean
	if bias != nil {
		center = Sub(mean, bias) // (b - mu) s = -(mu - b) s
	}
	kScaled := Mul(kernel, k4(scale))
	y := Conv(x.p, kScaled, Sub(beta, Mul(center, scale)), geo)
	if !linearized {
		if bs.probe != nil {
			bs.probe(Unit{Scope: cs.ctx.Scope(), BNScope: bs.ctx.Scope(), Input: x.p, Output: y, Geometry: geo, Conv: true,
				Kernel: kernel, HasBias: bias != nil, Scale: scale, Mean: center, InvSigma: invSigma})
		}
		return dual{p: y}
	}
	dGamma, dBeta := bs.tangentOf(p.gamma), bs.tangentOf(p.beta)
	dGammaOverSigma := Mul(dGamma, invSigma)
	kEff := Add(Mul(cs.tangentOf(kv), k4(scale)), Mul(kernel, k4(dGammaOverSigma)))
	shift := Sub(dBeta, Mul(center, dGammaOverSigma))
	if bv != nil {
		shift = Add(shift, Mul(cs.tangentOf(bv), scale))
	}
	dy := Conv(x.p, kEff, shift, geo)
	if x.t != nil {
		dy = Add(dy, Conv(x.t, kScaled, nil, geo))
	}
	return dual{y, dy}
}
