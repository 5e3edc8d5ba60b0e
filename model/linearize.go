package model

import (
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// ScopeTangent holds the displacement dw = w - w0 of the linearized network:
// one variable per trainable parameter, at the parameter's scope below
// ScopeTangent and with its name, initialized to zero. The parameters w0
// themselves stay fixed.
const ScopeTangent = "tangent"

// dual is a value and its tangent (directional derivative along dw); a nil
// tangent is zero.
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

// tangentVariable returns dw for parameter v: same shape, zero initialized.
func tangentVariable(ctx *context.Context, g *Graph, v *context.Variable) *Node {
	t := ctx.InAbsPath(context.ScopeSeparator+ScopeTangent+v.Scope()).Checked(false).
		WithInitializer(initializers.Zero).VariableWithShape(v.Name(), v.Shape())
	return t.ValueGraph(g)
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
func (c Config) Linearized(ctx *context.Context, x *Node) (f0, jdw *Node) {
	h := c.linearizedFeatures(ctx, x)
	w, b := c.headVariables(ctx, h.p.Shape().Dimensions[1], x.DType())
	g := x.Graph()
	W, B := w.ValueGraph(g), b.ValueGraph(g)
	dW, dB := tangentVariable(ctx, g, w), tangentVariable(ctx, g, b)
	f0 = Add(MatMul2D(h.p, W), Reshape(B, 1, c.NumClasses))
	jdw = Add(MatMul2D(h.p, dW), Reshape(dB, 1, c.NumClasses))
	if h.t != nil {
		jdw = Add(jdw, MatMul2D(h.t, W))
	}
	return f0, jdw
}

// LinearizedLogits is f0(x) + J(x) dw: the model function LQF trains.
func (c Config) LinearizedLogits(ctx *context.Context, x *Node) *Node {
	f0, jdw := c.Linearized(ctx, x)
	return Add(StopGradient(f0), jdw)
}

// LinearizedHead is the linearization of the classifier alone, on fixed
// features h [B, F]: f0 + h dW + db with f0 = h W + b (LQF-FC).
func (c Config) LinearizedHead(ctx *context.Context, h *Node) *Node {
	w, b := c.headVariables(ctx, h.Shape().Dimensions[1], h.DType())
	g := h.Graph()
	W, B := w.ValueGraph(g), b.ValueGraph(g)
	dW, dB := tangentVariable(ctx, g, w), tangentVariable(ctx, g, b)
	f0 := StopGradient(Add(MatMul2D(h, W), Reshape(B, 1, c.NumClasses)))
	return Add(f0, Add(MatMul2D(h, dW), Reshape(dB, 1, c.NumClasses)))
}

func (c Config) linearizedFeatures(ctx *context.Context, x *Node) dual {
	ctx = ctx.In(ScopeBackbone)
	h := c.linearizedConvBN(ctx.In("stem"), dual{p: x}, c.StemWidth, ConvGeometry{3, 1, 1})
	h = c.linearizedActivate(h)
	for i, width := range c.StageWidths {
		bctx := ctx.Inf("stage%d", i+1)
		r := c.linearizedConvBN(bctx.In("conv1"), h, width, ConvGeometry{3, 2, 1})
		r = c.linearizedActivate(r)
		r = c.linearizedConvBN(bctx.In("conv2"), r, width, ConvGeometry{3, 1, 1})
		s := c.linearizedConvBN(bctx.In("shortcut"), h, width, ConvGeometry{1, 2, 0})
		h = c.linearizedActivate(dual{Add(r.p, s.p), addTangents(r.t, s.t)})
	}
	return c.pool(h)
}

func (c Config) linearizedActivate(z dual) dual {
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

func (c Config) linearizedConvBN(ctx *context.Context, x dual, width int, geo ConvGeometry) dual {
	g := x.p.Graph()
	p := convBNVariables(ctx, x.p.Shape().Dimensions[3], width, geo, x.p.DType())
	kernel, gamma, beta := p.kernel.ValueGraph(g), p.gamma.ValueGraph(g), p.beta.ValueGraph(g)
	mean := p.mean.ValueGraph(g)
	invSigma := Reciprocal(Sqrt(AddScalar(p.variance.ValueGraph(g), c.BNEpsilon)))
	scale := Mul(gamma, invSigma)
	k4 := func(v *Node) *Node { return Reshape(v, 1, 1, 1, width) }
	kScaled := Mul(kernel, k4(scale))
	y := Conv2D(x.p, kScaled, Sub(beta, Mul(mean, scale)), geo)

	dK, dGamma, dBeta := tangentVariable(ctx, g, p.kernel), tangentVariable(ctx, g, p.gamma), tangentVariable(ctx, g, p.beta)
	dGammaOverSigma := Mul(dGamma, invSigma)
	kEff := Add(Mul(dK, k4(scale)), Mul(kernel, k4(dGammaOverSigma)))
	dy := Conv2D(x.p, kEff, Sub(dBeta, Mul(mean, dGammaOverSigma)), geo)
	if x.t != nil {
		dy = Add(dy, Conv2D(x.t, kScaled, nil, geo))
	}
	return dual{y, dy}
}

// TangentVariables lists dw (the variables under ScopeTangent) in ctx.
func TangentVariables(ctx *context.Context) []*context.Variable {
	var vars []*context.Variable
	prefix := context.ScopeSeparator + ScopeTangent
	for v := range ctx.IterVariables() {
		if v.Scope() == prefix || strings.HasPrefix(v.Scope(), prefix+context.ScopeSeparator) {
			vars = append(vars, v)
		}
	}
	sortVariables(vars)
	return vars
}

// JVPByDoubleVJP computes J v for any differentiable output f of params,
// given tangents v (aligned with params), by differentiating twice in reverse
// mode: J v = d/du <J^T u, v>, since J^T u = grad_params <f, u> is linear in
// u. It needs no hand-written rules, so it linearizes any GoMLX model; it
// costs about two backward passes.
func JVPByDoubleVJP(f *Node, params, tangents []*Node) *Node {
	u := ZerosLike(f)
	vjp := Gradient(ReduceAllSum(Mul(f, u)), params...)
	var s *Node
	for i, g := range vjp {
		term := ReduceAllSum(Mul(g, tangents[i]))
		s = addTangents(s, term)
	}
	return Gradient(s, u)[0]
}
