package model

// The hand-written ResNet backbone that lqf used before networks became
// layer graphs, kept in the tests as an independent reference: the layer
// graph of DefaultConfig must give the same logits and tangents
// (TestLayerGraphMatchesHandwritten) and must not be slower
// (BenchmarkBackboneForward).

import (
	"math/rand/v2"
	"testing"

	"math"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/linalg"
)

type legacyConfig Config

type dual struct{ p, t *Node }

func addTangents(a, b *Node) *Node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return Add(a, b)
}

func tangentVariable(ctx *context.Context, g *Graph, v *context.Variable) *Node {
	return layers.TangentVariable(ctx, g, v)
}

func (c legacyConfig) pool(h dual) dual {
	out := dual{p: ReduceMean(h.p, 1, 2)}
	if h.t != nil {
		out.t = ReduceMean(h.t, 1, 2)
	}
	return out
}

// Features maps images x [B, H, W, C] to pooled features [B, FeatureDim].
func (c legacyConfig) Features(ctx *context.Context, x *Node, mode Mode) *Node {
	ctx = ctx.In(ScopeBackbone)
	h := c.convBN(ctx.In("stem"), x, c.StemWidth, layers.ConvGeometry{Kernel: 3, Stride: 1, Padding: 1}, mode)
	h = c.activate(h)
	for i, width := range c.StageWidths {
		h = c.residualBlock(ctx.Inf("stage%d", i+1), h, width, mode)
	}
	return c.pool(dual{p: h}).p
}

// Logits is the full network: x [B, H, W, C] -> logits [B, NumClasses].
func (c legacyConfig) Logits(ctx *context.Context, x *Node, mode Mode) *Node {
	return c.Head(ctx, c.Features(ctx, x, mode))
}

// Head is the dense classifier: features [B, F] -> logits [B, NumClasses].
func (c legacyConfig) Head(ctx *context.Context, features *Node) *Node {
	w, b := c.headVariables(ctx, features.Shape().Dimensions[1], features.DType())
	g := features.Graph()
	y := Add(layers.MatMul2D(features, w.ValueGraph(g)), Reshape(b.ValueGraph(g), 1, c.NumClasses))
	return y
}

// headVariables are the classifier's weights [F, NumClasses] (random normal
// with std 1/sqrt(F)) and biases [NumClasses] (zero).
func (c legacyConfig) headVariables(ctx *context.Context, f int, dtype dtypes.DType) (w, b *context.Variable) {
	ctx = ctx.In(ScopeHead)
	std := 1 / math.Sqrt(float64(f))
	w = ctx.WithInitializer(initializers.RandomNormalFn(ctx, std)).
		VariableWithShape("weights", shapes.Make(dtype, f, c.NumClasses))
	b = ctx.WithInitializer(initializers.Zero).VariableWithShape("biases", shapes.Make(dtype, c.NumClasses))
	return w, b
}

// convBNParams are the variables of one convolution + batch-norm unit.
type convBNParams struct {
	kernel, gamma, beta *context.Variable // trainable
	mean, variance      *context.Variable // running statistics
}

func convBNVariables(ctx *context.Context, cin, width int, geo layers.ConvGeometry, dtype dtypes.DType) convBNParams {
	fanIn := geo.Kernel * geo.Kernel * cin
	bn := ctx.In("bn")
	shape := shapes.Make(dtype, width)
	return convBNParams{
		kernel: ctx.WithInitializer(initializers.RandomNormalFn(ctx, math.Sqrt(2/float64(fanIn)))).
			VariableWithShape("kernel", shapes.Make(dtype, geo.Kernel, geo.Kernel, cin, width)),
		gamma:    bn.WithInitializer(initializers.One).VariableWithShape("gamma", shape),
		beta:     bn.WithInitializer(initializers.Zero).VariableWithShape("beta", shape),
		mean:     bn.WithInitializer(initializers.Zero).VariableWithShape("mean", shape).SetTrainable(false),
		variance: bn.WithInitializer(initializers.One).VariableWithShape("variance", shape).SetTrainable(false),
	}
}

func (c legacyConfig) residualBlock(ctx *context.Context, x *Node, width int, mode Mode) *Node {
	h := c.convBN(ctx.In("conv1"), x, width, layers.ConvGeometry{Kernel: 3, Stride: 2, Padding: 1}, mode)
	h = c.activate(h)
	h = c.convBN(ctx.In("conv2"), h, width, layers.ConvGeometry{Kernel: 3, Stride: 1, Padding: 1}, mode)
	shortcut := c.convBN(ctx.In("shortcut"), x, width, layers.ConvGeometry{Kernel: 1, Stride: 2, Padding: 0}, mode)
	return c.activate(Add(h, shortcut))
}

// activate applies ReLU or Leaky-ReLU as Where(x > 0, x, slope*x), so that
// its derivative at x = 0 is the slope, the same as in the linearized pass
// (with Max, reverse mode would split the gradient at ties, and zero
// pre-activations are common: black image borders with zero-shift batch
// norm).
func (c legacyConfig) activate(x *Node) *Node {
	neg := ZerosLike(x)
	if c.Activation == LeakyReLU {
		neg = MulScalar(x, c.LeakySlope)
	}
	return Where(GreaterThan(x, ZerosLike(x)), x, neg)
}

// convBN is a bias-free convolution followed by batch normalization
// y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta, per channel.
//
// Every per-channel operation is written as a matrix product, because the
// pure-Go backend broadcasts slowly: in Eval mode batch norm is folded into
// the convolution (kernel * scale, bias shift); with batch statistics, the
// moments are 1^T Y / N and 1^T Y^2 / N and the affine map is
// [Y, 1] [diag(scale); shift].
func (c legacyConfig) convBN(ctx *context.Context, x *Node, width int, geo layers.ConvGeometry, mode Mode) *Node {
	g := x.Graph()
	dtype := x.DType()
	p := convBNVariables(ctx, x.Shape().Dimensions[3], width, geo, dtype)
	kernel, gamma, beta := p.kernel.ValueGraph(g), p.gamma.ValueGraph(g), p.beta.ValueGraph(g)
	runMean, runVar := p.mean, p.variance

	if mode == Eval {
		invSigma := Reciprocal(Sqrt(AddScalar(runVar.ValueGraph(g), c.BNEpsilon)))
		scale := Mul(gamma, invSigma)
		shift := Sub(beta, Mul(runMean.ValueGraph(g), scale))
		y := layers.Conv(x, Mul(kernel, Reshape(scale, 1, 1, 1, width)), shift, geo)
		return y
	}

	y := layers.Conv(x, kernel, nil, geo)
	dims := y.Shape().Dimensions
	n := dims[0] * dims[1] * dims[2]
	y2 := Reshape(y, n, width)
	onesRow := Ones(g, shapes.Make(dtype, 1, n))
	mean := MulScalar(Reshape(layers.MatMul2D(onesRow, y2), width), 1/float64(n))
	meanSq := MulScalar(Reshape(layers.MatMul2D(onesRow, Square(y2)), width), 1/float64(n))
	variance := Max(Sub(meanSq, Square(mean)), ZerosLike(mean))
	m := c.BNMomentum
	runMean.SetValueGraph(Add(MulScalar(runMean.ValueGraph(g), m), MulScalar(StopGradient(mean), 1-m)))
	// Running variance uses the unbiased batch estimate, as is customary.
	unbiased := MulScalar(StopGradient(variance), float64(n)/float64(max(n-1, 1)))
	runVar.SetValueGraph(Add(MulScalar(runVar.ValueGraph(g), m), MulScalar(unbiased, 1-m)))

	scale := Mul(gamma, Reciprocal(Sqrt(AddScalar(variance, c.BNEpsilon))))
	shift := Sub(beta, Mul(mean, scale))
	affine := Concatenate([]*Node{
		Mul(DiagonalWithValue(ScalarOne(g, dtype), width), Reshape(scale, 1, width)),
		Reshape(shift, 1, width),
	}, 0) // [width+1, width]
	withOnes := Concatenate([]*Node{y2, Ones(g, shapes.Make(dtype, n, 1))}, 1)
	return Reshape(layers.MatMul2D(withOnes, affine), dims...)
}

// Linearized is the first-order Taylor expansion of Logits around the
// parameters w0 in ctx, with frozen batch-norm statistics:
//
//	f_lin(x) = f0(x) + J(x) dw,
//
// returned as f0 [B, NumClasses] and J(x) dw [B, NumClasses], with dw the
// variables under ScopeTangent (every trainable parameter: convolution
// kernels, batch-norm gamma and beta, classifier weights and biases).
// It is one modified forward pass that carries the tangent through every
// layer ("gradients as features"):
//
//	conv + BN: y = conv(x, K s) + beta - mu s,  s = gamma / sigma,
//	           dy = conv(dx, K s) + conv(x, dK s + K dgamma / sigma) + dbeta - mu dgamma / sigma
//	activation: dy = phi'(z0) dz  (1 for z0 > 0, the slope otherwise)
//	pooling, residual sums: linear;  head: dy = df W + f dW + db.
//
// Only dw receives gradients when f_lin is trained: f0 and the activation
// pattern depend on w0 alone.
func (c legacyConfig) Linearized(ctx *context.Context, x *Node) (f0, jdw *Node) {
	h := c.linearizedFeatures(ctx, x)
	w, b := c.headVariables(ctx, h.p.Shape().Dimensions[1], x.DType())
	g := x.Graph()
	W, B := w.ValueGraph(g), b.ValueGraph(g)
	dW, dB := tangentVariable(ctx, g, w), tangentVariable(ctx, g, b)
	f0 = Add(layers.MatMul2D(h.p, W), Reshape(B, 1, c.NumClasses))
	jdw = Add(layers.MatMul2D(h.p, dW), Reshape(dB, 1, c.NumClasses))
	if h.t != nil {
		jdw = Add(jdw, layers.MatMul2D(h.t, W))
	}
	return f0, jdw
}

// LinearizedLogits is f0(x) + J(x) dw: the model function LQF trains.
func (c legacyConfig) LinearizedLogits(ctx *context.Context, x *Node) *Node {
	f0, jdw := c.Linearized(ctx, x)
	return Add(StopGradient(f0), jdw)
}

// LinearizedHead is the linearization of the classifier alone, on fixed
// features h [B, F]: f0 + h dW + db with f0 = h W + b (LQF-FC).
func (c legacyConfig) LinearizedHead(ctx *context.Context, h *Node) *Node {
	w, b := c.headVariables(ctx, h.Shape().Dimensions[1], h.DType())
	g := h.Graph()
	W, B := w.ValueGraph(g), b.ValueGraph(g)
	dW, dB := tangentVariable(ctx, g, w), tangentVariable(ctx, g, b)
	f0 := StopGradient(Add(layers.MatMul2D(h, W), Reshape(B, 1, c.NumClasses)))
	return Add(f0, Add(layers.MatMul2D(h, dW), Reshape(dB, 1, c.NumClasses)))
}

func (c legacyConfig) linearizedFeatures(ctx *context.Context, x *Node) dual {
	ctx = ctx.In(ScopeBackbone)
	h := c.linearizedConvBN(ctx.In("stem"), dual{p: x}, c.StemWidth, layers.ConvGeometry{Kernel: 3, Stride: 1, Padding: 1})
	h = c.linearizedActivate(h)
	for i, width := range c.StageWidths {
		bctx := ctx.Inf("stage%d", i+1)
		r := c.linearizedConvBN(bctx.In("conv1"), h, width, layers.ConvGeometry{Kernel: 3, Stride: 2, Padding: 1})
		r = c.linearizedActivate(r)
		r = c.linearizedConvBN(bctx.In("conv2"), r, width, layers.ConvGeometry{Kernel: 3, Stride: 1, Padding: 1})
		s := c.linearizedConvBN(bctx.In("shortcut"), h, width, layers.ConvGeometry{Kernel: 1, Stride: 2, Padding: 0})
		h = c.linearizedActivate(dual{Add(r.p, s.p), addTangents(r.t, s.t)})
	}
	return c.pool(h)
}

func (c legacyConfig) linearizedActivate(z dual) dual {
	y := c.activate(z.p)
	if z.t == nil {
		return dual{p: y}
	}
	slope := 0.0
	if c.Activation == LeakyReLU {
		slope = c.LeakySlope
	}
	ones := OnesLike(z.p)
	deriv := StopGradient(Where(GreaterThan(z.p, ZerosLike(z.p)), ones, MulScalar(ones, slope)))
	return dual{y, Mul(z.t, deriv)}
}

func (c legacyConfig) linearizedConvBN(ctx *context.Context, x dual, width int, geo layers.ConvGeometry) dual {
	g := x.p.Graph()
	p := convBNVariables(ctx, x.p.Shape().Dimensions[3], width, geo, x.p.DType())
	kernel, gamma, beta := p.kernel.ValueGraph(g), p.gamma.ValueGraph(g), p.beta.ValueGraph(g)
	mean := p.mean.ValueGraph(g)
	invSigma := Reciprocal(Sqrt(AddScalar(p.variance.ValueGraph(g), c.BNEpsilon)))
	scale := Mul(gamma, invSigma)
	k4 := func(v *Node) *Node { return Reshape(v, 1, 1, 1, width) }
	kScaled := Mul(kernel, k4(scale))
	y := layers.Conv(x.p, kScaled, Sub(beta, Mul(mean, scale)), geo)

	dK, dGamma, dBeta := tangentVariable(ctx, g, p.kernel), tangentVariable(ctx, g, p.gamma), tangentVariable(ctx, g, p.beta)
	dGammaOverSigma := Mul(dGamma, invSigma)
	kEff := Add(Mul(dK, k4(scale)), Mul(kernel, k4(dGammaOverSigma)))
	dy := layers.Conv(x.p, kEff, Sub(dBeta, Mul(mean, dGammaOverSigma)), geo)
	if x.t != nil {
		dy = Add(dy, layers.Conv(x.t, kScaled, nil, geo))
	}
	return dual{y, dy}
}

// TestLayerGraphMatchesHandwritten builds the default backbone (and a
// Leaky-ReLU variant) from its layer graph and compares, on the same
// parameters with non-trivial batch-norm statistics, the logits in both
// batch-norm modes and the linearized pass f0, J dw with the hand-written
// backbone the graph replaced.
func TestLayerGraphMatchesHandwritten(t *testing.T) {
	be := testBackend(t)
	for _, act := range []Activation{ReLU, LeakyReLU} {
		cfg := DefaultConfig(7)
		cfg.Activation = act
		net, err := NewNetwork(be, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(8, 1))
		for _, v := range net.Variables() {
			if v.Name() == "mean" || v.Name() == "variance" || v.Name() == "beta" || v.Name() == "gamma" {
				vals := make([]float32, v.Shape().Size())
				for i := range vals {
					vals[i] = float32(0.2 * rng.NormFloat64())
					if v.Name() != "mean" && v.Name() != "beta" {
						vals[i] = float32(0.5 + rng.Float64())
					}
				}
				v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...))
			}
		}
		for _, v := range net.TrainableVariables() {
			d := make([]float32, v.Shape().Size())
			for i := range d {
				d[i] = float32(rng.NormFloat64() * 0.01)
			}
			net.Ctx.InAbsPath("/"+ScopeTangent+v.Scope()).VariableWithValue(v.Name(), tensors.FromFlatDataAndDimensions(d, v.Shape().Dimensions...))
		}
		x := benchImages(cfg, 6)
		legacy := legacyConfig(cfg)
		run := func(f func(ctx *context.Context, x *Node) []*Node) [][]float32 {
			// Batch statistics update the running ones: work on a copy.
			c, err := net.Clone()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range TangentVariables(net.Ctx) {
				val, _ := v.Value()
				c.Ctx.InAbsPath(v.Scope()).VariableWithValue(v.Name(), val)
			}
			outs := context.MustNewExec(be, c.Ctx, f).MustExec(x)
			res := make([][]float32, len(outs))
			for i, o := range outs {
				res[i] = tensors.MustCopyFlatData[float32](o)
			}
			return res
		}
		graph := run(func(ctx *context.Context, x *Node) []*Node {
			f0, jdw := net.Arch.Linearized(ctx, x)
			return []*Node{net.Arch.Logits(ctx, x, Eval), f0, jdw, net.Arch.Features(ctx, x, Eval)}
		})
		hand := run(func(ctx *context.Context, x *Node) []*Node {
			f0, jdw := legacy.Linearized(ctx, x)
			return []*Node{legacy.Logits(ctx, x, Eval), f0, jdw, legacy.Features(ctx, x, Eval)}
		})
		graphTrain := run(func(ctx *context.Context, x *Node) []*Node { return []*Node{net.Arch.Logits(ctx, x, TrainBatchStats)} })
		handTrain := run(func(ctx *context.Context, x *Node) []*Node { return []*Node{legacy.Logits(ctx, x, TrainBatchStats)} })
		for i, name := range []string{"logits (eval)", "f0", "J dw", "features", "logits (batch statistics)"} {
			g, h := append(graph, graphTrain...)[i], append(hand, handTrain...)[i]
			if e := linalg.MaxRelError(float64s(g), float64s(h)); !(e <= 1e-6) {
				t.Errorf("%s %s: layer graph vs hand-written max relative error %.3g > 1e-6", act, name, e)
			}
		}
	}
}
