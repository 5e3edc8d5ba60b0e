package layers_test

// The tests of this file run on the layer graphs of package layerstest,
// which imports layers: they are an external test package.

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/layers/layerstest"
	"github.com/lqf-go/lqf/linalg"
)

// testBackend returns the process's shared backend (backend.Shared).
func testBackend(t testing.TB) backends.Backend { return backendtest.Shared(t) }

// netFixture is a net with parameters w0 (random batch-norm statistics,
// so that every rule matters), a direction dw, images x and output weights r.
type netFixture struct {
	net    *layers.Net
	params map[string][]float64 // scope/name -> w0
	dims   map[string][]int
	train  map[string]bool
	dw     map[string][]float64
	x      []float64
	r      []float64
	batch  int
}

func newFixture(t *testing.T, net *layers.Net, seed uint64) *netFixture {
	t.Helper()
	if err := net.Validate(); err != nil {
		t.Fatal(err)
	}
	be := testBackend(t)
	const batch = 3
	rng := rand.New(rand.NewPCG(seed, 7))
	f := &netFixture{net: net, params: map[string][]float64{}, dims: map[string][]int{}, train: map[string]bool{},
		dw: map[string][]float64{}, batch: batch}
	f.x = make([]float64, batch*net.Input.Size())
	for i := range f.x {
		f.x[i] = rng.Float64()
	}
	ctx := context.New().Checked(false)
	ctx.SetParam(context.ParamInitialSeed, int64(seed))
	out := context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
		return net.Logits(ctx, x, layers.Eval)
	}).MustExec(f.input(dtypes.Float64))[0]
	f.r = make([]float64, out.Shape().Size())
	for i := range f.r {
		f.r[i] = rng.NormFloat64()
	}
	for v := range ctx.IterVariables() {
		if v.Shape().DType != dtypes.Float64 {
			continue // the context's random number generator state
		}
		key := v.ScopeAndName()
		w := tensors.MustCopyFlatData[float64](v.MustValue())
		switch v.Name() {
		case "mean", "beta", "biases":
			for i := range w {
				w[i] = 0.3 * rng.NormFloat64()
			}
		case "variance", "gamma":
			for i := range w {
				w[i] = 0.5 + rng.Float64()
			}
		}
		f.params[key], f.dims[key], f.train[key] = w, v.Shape().Dimensions, v.Trainable
		if v.Trainable {
			d := make([]float64, len(w))
			for i := range d {
				d[i] = rng.NormFloat64()
			}
			f.dw[key] = d
		}
	}
	return f
}

func (f *netFixture) input(dt dtypes.DType) *tensors.Tensor {
	in := f.net.Input
	return asTensor(f.x, []int{f.batch, in.Height, in.Width, in.Channels}, dt)
}

func asTensor(v []float64, dims []int, dt dtypes.DType) *tensors.Tensor {
	if dt == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), dims...)
	}
	v32 := make([]float32, len(v))
	for i, x := range v {
		v32[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(v32, dims...)
}

// context returns a context holding w0 + eps*dw (and dw as the tangent
// variables when tangent) in dtype dt.
func (f *netFixture) context(dt dtypes.DType, eps float64, tangent bool) *context.Context {
	ctx := context.New().Checked(false)
	for key, w := range f.params {
		v := append([]float64(nil), w...)
		for i, d := range f.dw[key] {
			v[i] += eps * d
		}
		scope, name := splitKey(key)
		ctx.InAbsPath(scope).VariableWithValue(name, asTensor(v, f.dims[key], dt)).SetTrainable(f.train[key])
		if tangent && f.dw[key] != nil {
			ctx.InAbsPath("/"+layers.ScopeTangent+scope).VariableWithValue(name, asTensor(f.dw[key], f.dims[key], dt))
		}
	}
	return ctx
}

func splitKey(key string) (scope, name string) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

func float64sOf(t *tensors.Tensor) []float64 {
	if t.DType() == dtypes.Float64 {
		return tensors.MustCopyFlatData[float64](t)
	}
	v := tensors.MustCopyFlatData[float32](t)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestLayerGraphs checks, on three layer graphs that are not lqf's default
// backbone, every rule against an independent computation: the linearized
// pass J(x) dw against central finite differences of the plain pass in
// float64 and against the double-VJP path (reverse-mode rules, float32);
// the reverse-mode gradient of <r, f(x)> with respect to the parameters and
// the input, in both batch-norm modes, against central finite differences
// along random directions (float64).
func TestLayerGraphs(t *testing.T) {
	be := testBackend(t)
	for name, net := range layerstest.Nets() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, net, 11)
			x64 := f.input(dtypes.Float64)
			logits := func(ctx *context.Context, x *Node) *Node { return net.Logits(ctx, x, layers.Eval) }
			eval := func(ctx *context.Context, mode layers.Mode, x *tensors.Tensor) []float64 {
				return float64sOf(context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
					return net.Logits(ctx, x, mode)
				}).MustExec(x)[0])
			}
			// Linearized pass vs central finite differences (float64).
			const eps = 1e-6
			lin := context.MustNewExec(be, f.context(dtypes.Float64, 0, true), func(ctx *context.Context, x *Node) []*Node {
				f0, j := net.Linearized(ctx, x)
				return []*Node{f0, j}
			}).MustExec(x64)
			f0, jdw := float64sOf(lin[0]), float64sOf(lin[1])
			plus, minus := eval(f.context(dtypes.Float64, eps, false), layers.Eval, x64), eval(f.context(dtypes.Float64, -eps, false), layers.Eval, x64)
			fd := make([]float64, len(plus))
			for i := range fd {
				fd[i] = (plus[i] - minus[i]) / (2 * eps)
			}
			e := linalg.MaxRelError(jdw, fd)
			t.Logf("linearized J dw vs central differences (float64): max relative error %.3g", e)
			if !(e <= 1e-6) {
				t.Errorf("linearized J dw vs central differences: max relative error %.3g > 1e-6", e)
			}
			if e := linalg.MaxRelError(f0, eval(f.context(dtypes.Float64, 0, false), layers.Eval, x64)); !(e <= 1e-12) {
				t.Errorf("linearized f0 differs from the network by %.3g", e)
			}

			// Linearized pass vs double-VJP (float32).
			ctx32 := f.context(dtypes.Float32, 0, true)
			var params []*context.Variable
			for v := range ctx32.IterVariables() {
				if v.Trainable && v.Scope() != "" && !isTangentScope(v.Scope()) {
					params = append(params, v)
				}
			}
			out := context.MustNewExec(be, ctx32, func(ctx *context.Context, x *Node) []*Node {
				_, j := net.Linearized(ctx, x)
				g := x.Graph()
				values, tangents := make([]*Node, len(params)), make([]*Node, len(params))
				for i, p := range params {
					values[i], tangents[i] = p.ValueGraph(g), layers.TangentVariable(ctx, g, p)
				}
				return []*Node{j, layers.JVPByDoubleVJP(logits(ctx, x), values, tangents)}
			}).MustExec(f.input(dtypes.Float32))
			e = linalg.MaxRelError(float64sOf(out[0]), float64sOf(out[1]))
			t.Logf("linearized J dw vs double-VJP (float32): max relative error %.3g", e)
			if !(e <= 1e-5) {
				t.Errorf("linearized J dw vs double-VJP (float32): max relative error %.3g > 1e-5", e)
			}

			// Reverse-mode rules vs central finite differences (float64),
			// with frozen and with batch statistics.
			rng := rand.New(rand.NewPCG(3, 3))
			dx := make([]float64, len(f.x))
			for i := range dx {
				dx[i] = rng.NormFloat64()
			}
			in := net.Input
			xdims := []int{f.batch, in.Height, in.Width, in.Channels}
			for _, mode := range []layers.Mode{layers.Eval, layers.TrainBatchStats} {
				ctx := f.context(dtypes.Float64, 0, true)
				var ps []*context.Variable
				for v := range ctx.IterVariables() {
					if v.Trainable && !isTangentScope(v.Scope()) {
						ps = append(ps, v)
					}
				}
				rT := tensors.FromFlatDataAndDimensions(append([]float64(nil), f.r...), f.batch, net.NumClasses())
				grads := context.MustNewExec(be, ctx, func(ctx *context.Context, x, r *Node) []*Node {
					l := ReduceAllSum(Mul(net.Logits(ctx, x, mode), r))
					values := []*Node{x}
					for _, p := range ps {
						values = append(values, p.ValueGraph(x.Graph()))
					}
					return Gradient(l, values...)
				}).MustExec(x64, rT)
				// <grad, (dx, dw)> against the central difference of <r, f>.
				got := 0.0
				for i, v := range float64sOf(grads[0]) {
					got += v * dx[i]
				}
				for k, p := range ps {
					d := f.dw[p.ScopeAndName()]
					for i, v := range float64sOf(grads[k+1]) {
						got += v * d[i]
					}
				}
				dot := func(s float64) float64 {
					xs := append([]float64(nil), f.x...)
					for i := range xs {
						xs[i] += s * dx[i]
					}
					y := eval(f.context(dtypes.Float64, s, false), mode, tensors.FromFlatDataAndDimensions(xs, xdims...))
					sum := 0.0
					for i := range y {
						sum += y[i] * f.r[i]
					}
					return sum
				}
				want := (dot(eps) - dot(-eps)) / (2 * eps)
				if e := math.Abs(got-want) / math.Max(math.Abs(want), 1e-12); !(e <= 1e-6) {
					t.Errorf("mode %d: reverse-mode directional derivative %.12g, central differences %.12g (relative error %.3g > 1e-6)", mode, got, want, e)
				}
			}
		})
	}
}

func isTangentScope(scope string) bool {
	p := "/" + layers.ScopeTangent
	return scope == p || len(scope) > len(p) && scope[:len(p)+1] == p+"/"
}

// TestNetJSONRoundTrip writes each test net as JSON and reads it back: the
// same layers, and the reader rejects unknown ops and attributes.
func TestNetJSONRoundTrip(t *testing.T) {
	for name, net := range layerstest.Nets() {
		b, err := json.Marshal(net)
		if err != nil {
			t.Fatal(err)
		}
		var back layers.Net
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b2, _ := json.Marshal(&back)
		if string(b) != string(b2) {
			t.Errorf("%s: JSON round trip changed the net:\n%s\n%s", name, b, b2)
		}
		if err := back.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []string{
		`{"input":{"height":4,"width":4,"channels":1},"layers":[{"name":"a","op":"conv3d","inputs":["input"]}]}`,
		`{"input":{"height":4,"width":4,"channels":1},"layers":[{"name":"a","op":"dense","inputs":["input"],"attrs":{"units":2,"bais":true}}]}`,
	} {
		var n layers.Net
		if err := json.Unmarshal([]byte(bad), &n); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// TestValidateErrors: nets that cannot be built are rejected by Validate
// with an error that names the layer.
func TestValidateErrors(t *testing.T) {
	in := layers.Input{Height: 8, Width: 8, Channels: 1}
	head := layers.Layer{Name: "head", Inputs: []string{"gap"}, Op: &layers.Dense{Units: 2, Bias: true}}
	gap := layers.Layer{Name: "gap", Inputs: []string{"c"}, Op: &layers.GlobalAvgPool{}}
	for name, tc := range map[string]struct {
		net  layers.Net
		want string
	}{
		"unknown input":  {layers.Net{Input: in, Layers: []layers.Layer{{Name: "c", Inputs: []string{"x"}, Op: &layers.Conv2D{Filters: 2, Kernel: 3, Stride: 1}}, gap, head}}, `"x"`},
		"window too big": {layers.Net{Input: in, Layers: []layers.Layer{{Name: "c", Inputs: []string{layers.InputName}, Op: &layers.Conv2D{Filters: 2, Kernel: 9, Stride: 1}}, gap, head}}, `"c"`},
		"no classifier":  {layers.Net{Input: in, Layers: []layers.Layer{{Name: "c", Inputs: []string{layers.InputName}, Op: &layers.Conv2D{Filters: 2, Kernel: 3, Stride: 1}}, gap}}, `"gap"`},
		"add shapes": {layers.Net{Input: in, Layers: []layers.Layer{{Name: "c", Inputs: []string{layers.InputName}, Op: &layers.Conv2D{Filters: 2, Kernel: 3, Stride: 1}},
			{Name: "s", Inputs: []string{"c", layers.InputName}, Op: &layers.Sum{}}, {Name: "gap", Inputs: []string{"s"}, Op: &layers.GlobalAvgPool{}}, head}}, `"s"`},
		"duplicate": {layers.Net{Input: in, Layers: []layers.Layer{{Name: "c", Inputs: []string{layers.InputName}, Op: &layers.Conv2D{Filters: 2, Kernel: 3, Stride: 1}}, {Name: "c", Inputs: []string{"c"}, Op: &layers.BatchNorm{}}, gap, head}}, `"c"`},
	} {
		err := tc.net.Validate()
		if err == nil || !containsStr(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", name, err, tc.want)
		}
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }
