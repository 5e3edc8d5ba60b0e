package model

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Activation is the backbone's non-linearity.
type Activation string

const (
	ReLU      Activation = "relu"
	LeakyReLU Activation = "leaky-relu"
)

// Config describes the ResNet-style backbone: a 3x3 stem, one residual block
// per stage with stride-2 downsampling (3x3 conv, BN, act, 3x3 conv, BN, plus
// a 1x1 strided projection shortcut with BN), global average pooling and a
// dense classifier. Input images are [B, H, W, C] float32.
type Config struct {
	Height, Width, Channels int
	StemWidth               int
	StageWidths             []int
	NumClasses              int
	Activation              Activation
	LeakySlope              float64 // slope of Leaky-ReLU for negative inputs
	BNMomentum              float64 // running statistics: r <- m*r + (1-m)*batch
	BNEpsilon               float64
	// Pooling is AvgPooling (default, also when empty) or BilinearPooling.
	Pooling Pooling `json:",omitempty"`
	// Probe, if set, is called for every convolution + batch-norm unit and
	// for the head while an Eval-mode graph is built, so that curvature
	// code (package kfac) can reach layer inputs and outputs.
	Probe func(Unit) `json:"-"`
}

// Unit describes one layer of an Eval-mode forward pass for Config.Probe:
// a convolution with frozen batch norm, Output = conv(Input, Kernel * Scale)
// + Beta - Mean * Scale with Scale = Gamma * InvSigma, or the head,
// Output = Input W + b (Geometry zero, BN fields nil).
type Unit struct {
	Scope          string // the unit's variable scope, e.g. "/backbone/stage1/conv1" or "/head"
	Input, Output  *Node
	Geometry       ConvGeometry
	Kernel, Scale  *Node
	Mean, InvSigma *Node
	IsHead         bool
}

// DefaultConfig is lqf's backbone for 28x28 grayscale images: about 78k
// parameters, small enough to train on two CPU cores.
func DefaultConfig(numClasses int) Config {
	return Config{
		Height: 28, Width: 28, Channels: 1,
		StemWidth:   16,
		StageWidths: []int{16, 32, 64},
		NumClasses:  numClasses,
		Activation:  ReLU,
		LeakySlope:  0.1,
		BNMomentum:  0.9,
		BNEpsilon:   1e-5,
	}
}

// Validate reports a configuration that cannot build a network.
func (c Config) Validate() error {
	switch {
	case c.Height < 1 || c.Width < 1 || c.Channels < 1:
		return fmt.Errorf("backbone input %dx%dx%d must be positive", c.Height, c.Width, c.Channels)
	case c.StemWidth < 1 || len(c.StageWidths) == 0:
		return fmt.Errorf("backbone needs a stem width and at least one stage, got %d and %v", c.StemWidth, c.StageWidths)
	case c.NumClasses < 1:
		return fmt.Errorf("backbone needs at least one class, got %d", c.NumClasses)
	case c.Activation != ReLU && c.Activation != LeakyReLU:
		return fmt.Errorf("unknown activation %q (want %q or %q)", c.Activation, ReLU, LeakyReLU)
	case c.Pooling != "" && c.Pooling != AvgPooling && c.Pooling != BilinearPooling:
		return fmt.Errorf("unknown pooling %q (want %q or %q)", c.Pooling, AvgPooling, BilinearPooling)
	case c.BNMomentum < 0 || c.BNMomentum >= 1:
		return fmt.Errorf("batch-norm momentum %g must be in [0, 1)", c.BNMomentum)
	}
	for _, w := range c.StageWidths {
		if w < 1 {
			return fmt.Errorf("stage widths must be positive, got %v", c.StageWidths)
		}
	}
	return nil
}

// FeatureDim is the width of the penultimate (pooled) features.
func (c Config) FeatureDim() int {
	w := c.StageWidths[len(c.StageWidths)-1]
	if c.Pooling == BilinearPooling {
		return w * w
	}
	return w
}

// Scope names. Every trainable variable lives under ScopeBackbone or
// ScopeHead; fine-tuning methods select parameters by these prefixes.
const (
	ScopeBackbone = "backbone"
	ScopeHead     = "head"
)

// Mode selects how batch normalization behaves.
type Mode int

const (
	// Eval uses the frozen running statistics: the network is a fixed
	// function of its parameters (what linearization needs).
	Eval Mode = iota
	// TrainBatchStats normalizes with batch statistics and updates the
	// running statistics.
	TrainBatchStats
)

// Features maps images x [B, H, W, C] to pooled features [B, FeatureDim].
func (c Config) Features(ctx *context.Context, x *Node, mode Mode) *Node {
	ctx = ctx.In(ScopeBackbone)
	h := c.convBN(ctx.In("stem"), x, c.StemWidth, ConvGeometry{3, 1, 1}, mode)
	h = c.activate(h)
	for i, width := range c.StageWidths {
		h = c.residualBlock(ctx.Inf("stage%d", i+1), h, width, mode)
	}
	return c.pool(dual{p: h}).p
}

// Logits is the full network: x [B, H, W, C] -> logits [B, NumClasses].
func (c Config) Logits(ctx *context.Context, x *Node, mode Mode) *Node {
	return c.Head(ctx, c.Features(ctx, x, mode))
}

// Head is the dense classifier: features [B, F] -> logits [B, NumClasses].
func (c Config) Head(ctx *context.Context, features *Node) *Node {
	w, b := c.headVariables(ctx, features.Shape().Dimensions[1], features.DType())
	g := features.Graph()
	y := Add(MatMul2D(features, w.ValueGraph(g)), Reshape(b.ValueGraph(g), 1, c.NumClasses))
	if c.Probe != nil {
		c.Probe(Unit{Scope: ctx.In(ScopeHead).Scope(), Input: features, Output: y, IsHead: true})
	}
	return y
}

// headVariables are the classifier's weights [F, NumClasses] (random normal
// with std 1/sqrt(F)) and biases [NumClasses] (zero).
func (c Config) headVariables(ctx *context.Context, f int, dtype dtypes.DType) (w, b *context.Variable) {
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

func convBNVariables(ctx *context.Context, cin, width int, geo ConvGeometry, dtype dtypes.DType) convBNParams {
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

func (c Config) residualBlock(ctx *context.Context, x *Node, width int, mode Mode) *Node {
	h := c.convBN(ctx.In("conv1"), x, width, ConvGeometry{3, 2, 1}, mode)
	h = c.activate(h)
	h = c.convBN(ctx.In("conv2"), h, width, ConvGeometry{3, 1, 1}, mode)
	shortcut := c.convBN(ctx.In("shortcut"), x, width, ConvGeometry{1, 2, 0}, mode)
	return c.activate(Add(h, shortcut))
}

// activate applies ReLU or Leaky-ReLU as Where(x > 0, x, slope*x), so that
// its derivative at x = 0 is the slope, the same as in the linearized pass
// (with Max, reverse mode would split the gradient at ties, and zero
// pre-activations are common: black image borders with zero-shift batch
// norm).
func (c Config) activate(x *Node) *Node {
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
func (c Config) convBN(ctx *context.Context, x *Node, width int, geo ConvGeometry, mode Mode) *Node {
	g := x.Graph()
	dtype := x.DType()
	p := convBNVariables(ctx, x.Shape().Dimensions[3], width, geo, dtype)
	kernel, gamma, beta := p.kernel.ValueGraph(g), p.gamma.ValueGraph(g), p.beta.ValueGraph(g)
	runMean, runVar := p.mean, p.variance

	if mode == Eval {
		invSigma := Reciprocal(Sqrt(AddScalar(runVar.ValueGraph(g), c.BNEpsilon)))
		scale := Mul(gamma, invSigma)
		shift := Sub(beta, Mul(runMean.ValueGraph(g), scale))
		y := Conv2D(x, Mul(kernel, Reshape(scale, 1, 1, 1, width)), shift, geo)
		if c.Probe != nil {
			c.Probe(Unit{Scope: ctx.Scope(), Input: x, Output: y, Geometry: geo, Kernel: kernel, Scale: scale,
				Mean: runMean.ValueGraph(g), InvSigma: invSigma})
		}
		return y
	}

	y := Conv2D(x, kernel, nil, geo)
	dims := y.Shape().Dimensions
	n := dims[0] * dims[1] * dims[2]
	y2 := Reshape(y, n, width)
	onesRow := Ones(g, shapes.Make(dtype, 1, n))
	mean := MulScalar(Reshape(MatMul2D(onesRow, y2), width), 1/float64(n))
	meanSq := MulScalar(Reshape(MatMul2D(onesRow, Square(y2)), width), 1/float64(n))
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
	return Reshape(MatMul2D(withOnes, affine), dims...)
}
