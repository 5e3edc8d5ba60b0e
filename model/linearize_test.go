package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/layers"
)

// linTestSetup builds a tiny Leaky-ReLU network in dtype with random
// parameters and batch-norm statistics (so that every rule matters), and
// returns it with a few real images.
func linTestSetup(t *testing.T, dtype dtypes.DType) (*context.Context, *layers.Net, *tensors.Tensor) {
	t.Helper()
	be := testBackend(t)
	cfg := tinyConfig(3)
	cfg.Activation = LeakyReLU
	arch := cfg.MustNet()
	splits := loadTiny(t, "mnist-5-9", 20)
	const n = 3
	x64 := make([]float64, n*784)
	for i := range x64 {
		x64[i] = float64(splits.Train.Images[i])
	}
	x := tensors.FromFlatDataAndDimensions(x64, n, 28, 28, 1)
	if dtype == dtypes.Float32 {
		x = tensors.FromFlatDataAndDimensions(splits.Train.Images[:n*784], n, 28, 28, 1)
	}
	ctx := context.New().Checked(false)
	ctx.SetParam(context.ParamInitialSeed, int64(5))
	context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, Eval) }).MustExec(x)
	rng := rand.New(rand.NewPCG(4, 4))
	for v := range ctx.IterVariables() {
		if !isModelScope(v.Scope()) {
			continue
		}
		switch v.Name() {
		case "variance", "gamma":
			setVar(v, func(float64) float64 { return 0.5 + rng.Float64() })
		case "mean", "beta":
			setVar(v, func(float64) float64 { return 0.3 * rng.NormFloat64() })
		}
	}
	return ctx, arch, x
}

func setVar(v *context.Variable, f func(old float64) float64) {
	t, err := v.MustValue().LocalClone() // SetValue releases the old value
	if err != nil {
		panic(err)
	}
	switch t.DType() {
	case dtypes.Float64:
		tensors.MustMutableFlatData(t, func(d []float64) {
			for i := range d {
				d[i] = f(d[i])
			}
		})
	default:
		tensors.MustMutableFlatData(t, func(d []float32) {
			for i := range d {
				d[i] = float32(f(float64(d[i])))
			}
		})
	}
	v.MustSetValue(t)
}

func TestLinearizedAtZeroEqualsNetwork(t *testing.T) {
	be := testBackend(t)
	ctx, arch, x := linTestSetup(t, dtypes.Float32)
	out := context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) []*Node {
		return []*Node{arch.Logits(ctx, x, Eval), arch.LinearizedLogits(ctx, x)}
	}).MustExec(x)
	a, b := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: network %v, linearized at dw=0 %v: want exactly equal", i, a[i], b[i])
		}
	}
	if n := len(TangentVariables(ctx)); n != 3*(1+3*3)+2 {
		t.Errorf("%d tangent variables, want one per trainable parameter (%d)", n, 3*(1+3*3)+2)
	}
}

// TestCheckJVP checks J(x) dw of the hand-written pass against central
// finite differences (float64) and the double-VJP path (float32), on a tiny
// network whose batch-norm statistics are random so that every rule matters.
func TestCheckJVP(t *testing.T) {
	ctx, arch, x := linTestSetup(t, dtypes.Float32)
	net := &Network{Arch: arch, Ctx: ctx}
	c := checkJVPBounds(t, net, x, 1e-5)
	if want := net.NumParameters(); c.Parameters != want {
		t.Errorf("dw covers %d parameters, want all %d", c.Parameters, want)
	}
}

// checkJVPBounds runs CheckJVP on 3 images and asserts the bounds of `lqf
// check jvp`: finite differences 1e-6, double-VJP maxVJP.
func checkJVPBounds(t *testing.T, net *Network, x *tensors.Tensor, maxVJP float64) *JVPCheck {
	t.Helper()
	c, err := CheckJVP(testBackend(t), net, tensors.MustCopyFlatData[float32](x), 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *c)
	if c.FDMaxRelError > 1e-6 || math.IsNaN(c.FDMaxRelError) {
		t.Errorf("J dw differs from central differences by %.2e (relative), want <= 1e-6", c.FDMaxRelError)
	}
	if c.DoubleVJPMaxRelError > maxVJP || math.IsNaN(c.DoubleVJPMaxRelError) {
		t.Errorf("hand-written J dw differs from double-VJP by %.2e, want <= %g", c.DoubleVJPMaxRelError, maxVJP)
	}
	return c
}

// TestCheckJVPBilinear runs the linearization checks on a B-LQF backbone.
func TestCheckJVPBilinear(t *testing.T) {
	be := testBackend(t)
	ctx, arch, x := linTestSetup(t, dtypes.Float32)
	arch, err := arch.WithFeaturePooling(&layers.BilinearPool{})
	if err != nil {
		t.Fatal(err)
	}
	// The head takes C*C features: rebuild it for the new feature size.
	if err := ctx.InAbsPath("/" + ScopeHead).DeleteVariablesInScope(); err != nil {
		t.Fatal(err)
	}
	context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, Eval) }).MustExec(x)
	net := &Network{Arch: arch, Ctx: ctx}
	if got, want := net.NumParameters(ScopeHead), net.FeatureDim()*3+3; got != want || net.FeatureDim() != 64 {
		t.Fatalf("head has %d parameters, want %d (features %d)", got, want, net.FeatureDim())
	}
	checkJVPBounds(t, net, x, 1e-4)
}
