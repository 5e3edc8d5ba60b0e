package model

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/linalg"
)

// JVPCheck reports how well the hand-written linearized pass agrees with two
// independent computations of J(x) dw for a random dw.
type JVPCheck struct {
	// FDMaxRelError: against central finite differences of the plain
	// network, (f(w0 + e dw) - f(w0 - e dw)) / 2e, in float64; max |diff|
	// over max |J dw|.
	FDMaxRelError float64 `json:"fd_max_rel_error"`
	// DoubleVJPMaxRelError: against the generic double-VJP path
	// (JVPByDoubleVJP), in float32.
	DoubleVJPMaxRelError float64 `json:"double_vjp_max_rel_error"`
	FDStep               float64 `json:"fd_step"`
	Images               int     `json:"images"`
	Parameters           int     `json:"parameters"`
	// Pass: FDMaxRelError <= MaxFDRelError and DoubleVJPMaxRelError <=
	// MaxDoubleVJPRelError.
	Pass bool `json:"pass"`
}

// Bounds of CheckJVP, far above what a correct pass gives on lqf's backbone
// (results/checks/jvp.json: 3.7e-11 in float64, 3.6e-7 in float32) and far
// below what a wrong rule gives.
const (
	MaxFDRelError        = 1e-6
	MaxDoubleVJPRelError = 1e-5
)

// CheckJVP compares Linearized's J(x) dw on the first n images (flattened
// [n, H, W, C]) with finite differences and with the double-VJP path, for a
// random dw drawn with seed. The network's parameters are copied to float64
// for the finite differences.
func CheckJVP(be backends.Backend, net *Network, images []float32, n int, seed uint64) (*JVPCheck, error) {
	arch := net.Arch
	size := arch.Input.Height * arch.Input.Width * arch.Input.Channels
	if len(images) < n*size || n < 1 {
		return nil, fmt.Errorf("CheckJVP: need %d images of %d values", n, size)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6a7670))
	// dw with the shapes of the trainable parameters, as float64.
	dw := map[string][]float64{}
	res := &JVPCheck{FDStep: 1e-6, Images: n}
	for _, v := range net.Variables() {
		if v.Trainable {
			d := make([]float64, v.Shape().Size())
			for i := range d {
				d[i] = rng.NormFloat64()
			}
			dw[v.ScopeAndName()] = d
			res.Parameters += len(d)
		}
	}
	// copyNet builds a context of the given dtype with w0 + eps*dw, and dw
	// as the tangent variables when withTangent.
	copyNet := func(dtype dtypes.DType, eps float64, withTangent bool) (*context.Context, error) {
		ctx := context.New().Checked(false)
		for _, v := range net.Variables() {
			t, err := v.Value()
			if err != nil {
				return nil, err
			}
			w := tensors.MustCopyFlatData[float32](t)
			w64 := make([]float64, len(w))
			d := dw[v.ScopeAndName()]
			for i := range w {
				w64[i] = float64(w[i])
				if d != nil {
					w64[i] += eps * d[i]
				}
			}
			dims := v.Shape().Dimensions
			ctx.InAbsPath(v.Scope()).VariableWithValue(v.Name(), asDType(w64, dims, dtype)).SetTrainable(v.Trainable)
			if withTangent && d != nil {
				ctx.InAbsPath(context.ScopeSeparator+ScopeTangent+v.Scope()).VariableWithValue(v.Name(), asDType(d, dims, dtype))
			}
		}
		return ctx, nil
	}
	x64 := make([]float64, n*size)
	for i := range x64 {
		x64[i] = float64(images[i])
	}
	dims := []int{n, arch.Input.Height, arch.Input.Width, arch.Input.Channels}
	err := TryCatch(func() {
		// Hand-written pass and finite differences in float64.
		ctx, err := copyNet(dtypes.Float64, 0, true)
		if err != nil {
			panic(err)
		}
		x := tensors.FromFlatDataAndDimensions(x64, dims...)
		jdw := tensors.MustCopyFlatData[float64](context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
			_, j := arch.Linearized(ctx, x)
			return j
		}).MustExec(x)[0])
		eval := func(eps float64) []float64 {
			c, err := copyNet(dtypes.Float64, eps, false)
			if err != nil {
				panic(err)
			}
			out := context.MustNewExec(be, c, func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, Eval) }).MustExec(x)[0]
			return tensors.MustCopyFlatData[float64](out)
		}
		plus, minus := eval(res.FDStep), eval(-res.FDStep)
		fd := make([]float64, len(plus))
		for i := range fd {
			fd[i] = (plus[i] - minus[i]) / (2 * res.FDStep)
		}
		res.FDMaxRelError = linalg.MaxRelError(jdw, fd)

		// Hand-written vs double-VJP in float32.
		ctx32, err := copyNet(dtypes.Float32, 0, true)
		if err != nil {
			panic(err)
		}
		var params []*context.Variable
		for v := range ctx32.IterVariables() {
			if v.Trainable && isModelScope(v.Scope()) {
				params = append(params, v)
			}
		}
		sortVariables(params)
		x32 := tensors.FromFlatDataAndDimensions(images[:n*size], dims...)
		out := context.MustNewExec(be, ctx32, func(ctx *context.Context, x *Node) []*Node {
			_, j := arch.Linearized(ctx, x)
			g := x.Graph()
			values, tangents := make([]*Node, len(params)), make([]*Node, len(params))
			for i, p := range params {
				values[i], tangents[i] = p.ValueGraph(g), layers.TangentVariable(ctx, g, p)
			}
			return []*Node{j, layers.JVPByDoubleVJP(arch.Logits(ctx, x, Eval), values, tangents)}
		}).MustExec(x32)
		a, b := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
		res.DoubleVJPMaxRelError = linalg.MaxRelError(float64s(a), float64s(b))
	})
	res.Pass = res.FDMaxRelError <= MaxFDRelError && res.DoubleVJPMaxRelError <= MaxDoubleVJPRelError
	return res, err
}

func asDType(v []float64, dims []int, dtype dtypes.DType) *tensors.Tensor {
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
