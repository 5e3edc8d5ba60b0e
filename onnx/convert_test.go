package onnx

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/linalg"
)

// convNet is conv+bn+relu, an overlapping padded max pool, conv+bn+
// leaky-relu, a padded average pool (count_include_pad 0) of a map
// [6, 3, 2], Identity, Flatten, Dropout, a Gemm (transB 1) and a Softmax:
// the Gemm's rows must be permuted from ONNX's CHW flattening to lqf's
// HWC. H != W so that swapped axes show. Input normalization comes from
// the metadata.
func convNet(rng *rand.Rand) mspec {
	return mspec{
		opset: 13, input: "image", inDims: []int64{1, 3, 9, 7}, output: "prob",
		meta: [][2]string{{"lqf.mean", "0.5, 0.4,0.3"}, {"lqf.std", "0.25,0.2,0.3"}, {"producer", "test"}},
		inits: []tspec{
			func() tspec { t := randTensor(rng, "conv1.weight", 0.4, 0, 4, 3, 3, 3); t.raw = true; return t }(),
			randTensor(rng, "conv1.bias", 0.2, 0, 4),
			randTensor(rng, "bn1.weight", 0.3, 1, 4), randTensor(rng, "bn1.bias", 0.3, 0, 4),
			randTensor(rng, "bn1.running_mean", 0.3, 0, 4), positive(rng, "bn1.running_var", 0.5, 4),
			randTensor(rng, "conv2.weight", 0.3, 0, 6, 4, 3, 3),
			randTensor(rng, "bn2.weight", 0.3, 1, 6), randTensor(rng, "bn2.bias", 0.3, 0, 6),
			randTensor(rng, "bn2.running_mean", 0.3, 0, 6), positive(rng, "bn2.running_var", 0.5, 6),
			func() tspec { t := randTensor(rng, "fc.weight", 0.3, 0, 5, 36); t.unpacked = true; return t }(),
			randTensor(rng, "fc.bias", 0.2, 0, 5),
		},
		nodes: []nspec{
			node("/layer1/layer1.0/conv1/Conv", "Conv", strs("image", "conv1.weight", "conv1.bias"), strs("c1"),
				aints("kernel_shape", 3, 3), aints("strides", 1, 1), aints("pads", 1, 1, 1, 1), aints("dilations", 1, 1), ai("group", 1)),
			node("/layer1/layer1.0/bn1/BatchNormalization", "BatchNormalization",
				strs("c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"), strs("b1"), af("epsilon", 1e-3), af("momentum", 0.8)),
			node("/layer1/layer1.0/relu/Relu", "Relu", strs("b1"), strs("r1")),
			node("/maxpool/MaxPool", "MaxPool", strs("r1"), strs("p1"), aints("kernel_shape", 3, 3), aints("strides", 2, 2), aints("pads", 1, 1, 1, 1), ai("ceil_mode", 0)),
			node("/conv2/Conv", "Conv", strs("p1", "conv2.weight"), strs("c2"), aints("pads", 1, 1, 1, 1)),
			node("/bn2/BatchNormalization", "BatchNormalization",
				strs("c2", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var"), strs("b2")),
			node("/act2/LeakyRelu", "LeakyRelu", strs("b2"), strs("r2"), af("alpha", 0.2)),
			node("/pool2/AveragePool", "AveragePool", strs("r2"), strs("p2"), aints("kernel_shape", 3, 3), aints("strides", 2, 2), aints("pads", 1, 1, 1, 1)),
			node("/Identity", "Identity", strs("p2"), strs("p2i")),
			node("/Flatten", "Flatten", strs("p2i"), strs("flat"), ai("axis", 1)),
			node("/drop/Dropout", "Dropout", strs("flat"), strs("dropped", "mask")),
			node("/fc/Gemm", "Gemm", strs("dropped", "fc.weight", "fc.bias"), strs("logits"), af("alpha", 1), af("beta", 1), ai("transB", 1)),
			node("/Softmax", "Softmax", strs("logits"), strs("prob"), ai("axis", 1)),
		},
	}
}

// residualNet has a residual Add, a padded count_include_pad average pool,
// GlobalAveragePool + Flatten + Gemm (transB 0, C [1, 3]) and a symbolic
// batch dimension.
func residualNet(rng *rand.Rand) mspec {
	return mspec{
		opset: 17, input: "x", inDims: []int64{0, 1, 8, 8}, output: "y",
		inits: []tspec{
			randTensor(rng, "w0", 0.5, 0, 4, 1, 3, 3), randTensor(rng, "b0", 0.2, 0, 4),
			randTensor(rng, "w1", 0.3, 0, 4, 4, 3, 3),
			randTensor(rng, "g1", 0.3, 1, 4), randTensor(rng, "be1", 0.3, 0, 4), randTensor(rng, "m1", 0.3, 0, 4), positive(rng, "v1", 0.5, 4),
			randTensor(rng, "w2", 0.3, 0, 4, 4, 3, 3),
			randTensor(rng, "g2", 0.3, 1, 4), randTensor(rng, "be2", 0.3, 0, 4), randTensor(rng, "m2", 0.3, 0, 4), positive(rng, "v2", 0.5, 4),
			randTensor(rng, "fcw", 0.5, 0, 4, 3), func() tspec { t := randTensor(rng, "fcb", 0.2, 0, 3); t.dims = []int64{1, 3}; return t }(),
		},
		nodes: []nspec{
			node("/stem/conv/Conv", "Conv", strs("x", "w0", "b0"), strs("c0"), aints("pads", 1, 1, 1, 1)),
			node("/stem/relu/Relu", "Relu", strs("c0"), strs("r0")),
			node("/block/conv1/Conv", "Conv", strs("r0", "w1"), strs("c1"), astr("auto_pad", "SAME_UPPER")),
			node("/block/bn1/BatchNormalization", "BatchNormalization", strs("c1", "g1", "be1", "m1", "v1"), strs("n1")),
			node("/block/relu/Relu", "Relu", strs("n1"), strs("r1")),
			node("/block/conv2/Conv", "Conv", strs("r1", "w2"), strs("c2"), aints("pads", 1, 1, 1, 1)),
			node("/block/bn2/BatchNormalization", "BatchNormalization", strs("c2", "g2", "be2", "m2", "v2"), strs("n2")),
			node("/block/Add", "Add", strs("n2", "r0"), strs("s")),
			node("/block/relu_1/Relu", "Relu", strs("s"), strs("r2")),
			node("/pool/AveragePool", "AveragePool", strs("r2"), strs("ap"), aints("kernel_shape", 3, 3), aints("strides", 2, 2), aints("pads", 1, 1, 1, 1), ai("count_include_pad", 1)),
			node("/gap/GlobalAveragePool", "GlobalAveragePool", strs("ap"), strs("g")),
			node("/Flatten", "Flatten", strs("g"), strs("f")),
			node("/fc/Gemm", "Gemm", strs("f", "fcw", "fcb"), strs("y")),
		},
	}
}

// matMulNet has Clip(0, +inf) as a ReLU (opset 11 form, min from a
// Constant), GlobalAveragePool, a Reshape to [0, -1] by a Constant node,
// two MatMul + Add (the second bias a Constant written after the MatMul)
// and a hidden ReLU.
func matMulNet(rng *rand.Rand) mspec {
	zero := tspec{dims: []int64{}, f: []float32{0}}
	shape := tspec{dims: []int64{2}, i: []int64{0, -1}, raw: true}
	bias2 := randTensor(rng, "", 0.2, 0, 4)
	return mspec{
		opset: 11, input: "in", inDims: []int64{1, 3, 6, 6}, output: "out",
		inits: []tspec{
			randTensor(rng, "cw", 0.4, 0, 5, 3, 3, 3), randTensor(rng, "cb", 0.2, 0.1, 5),
			randTensor(rng, "m1", 0.5, 0, 5, 7), randTensor(rng, "a1", 0.2, 0, 7),
			randTensor(rng, "m2", 0.5, 0, 7, 4),
		},
		nodes: []nspec{
			node("zero", "Constant", nil, strs("zero"), aten("value", zero)),
			node("conv", "Conv", strs("in", "cw", "cb"), strs("c"), aints("kernel_shape", 3, 3), aints("strides", 2, 2), aints("pads", 1, 1, 1, 1)),
			node("clip", "Clip", strs("c", "zero"), strs("r")),
			node("gap", "GlobalAveragePool", strs("r"), strs("g")),
			node("shape", "Constant", nil, strs("shape"), aten("value", shape)),
			node("reshape", "Reshape", strs("g", "shape"), strs("h")),
			node("fc1", "MatMul", strs("h", "m1"), strs("mm1")),
			node("fc1_bias", "Add", strs("mm1", "a1"), strs("z1")),
			node("relu", "Relu", strs("z1"), strs("h1")),
			node("fc2", "MatMul", strs("h1", "m2"), strs("mm2")),
			node("bias2", "Constant", nil, strs("bias2"), aten("value", bias2)),
			node("fc2_bias", "Add", strs("bias2", "mm2"), strs("out")),
		},
	}
}

// flatMatMulNet flattens a map [3, 2, 3] by Reshape [-1, 18] (an INT64
// initializer), normalizes the 18 features with a BatchNormalization (its
// vectors permuted like the rows) and ends with MatMul (its weights through
// an Identity) + Add.
func flatMatMulNet(rng *rand.Rand) mspec {
	return mspec{
		opset: 9, input: "in", inDims: []int64{1, 1, 5, 7}, output: "out",
		inits: []tspec{
			randTensor(rng, "cw", 0.5, 0, 3, 1, 2, 2),
			{name: "shape", dims: []int64{2}, i: []int64{-1, 18}, unpacked: true},
			randTensor(rng, "g", 0.3, 1, 18), randTensor(rng, "be", 0.3, 0, 18), randTensor(rng, "mu", 0.3, 0, 18), positive(rng, "var", 0.5, 18),
			randTensor(rng, "w", 0.4, 0, 18, 4), randTensor(rng, "b", 0.2, 0, 4),
		},
		nodes: []nspec{
			node("conv", "Conv", strs("in", "cw"), strs("c"), aints("strides", 2, 2)),
			node("", "Reshape", strs("c", "shape"), strs("h")),
			node("bn", "BatchNormalization", strs("h", "g", "be", "mu", "var"), strs("hn"), af("epsilon", 1e-4)),
			node("w_id", "Identity", strs("w"), strs("w_shared")), // as PyTorch exports a shared weight
			node("fc", "MatMul", strs("hn", "w_shared"), strs("mm")),
			node("fc_add", "Add", strs("mm", "b"), strs("out")),
		},
	}
}

type netCase struct {
	name   string
	spec   func(*rand.Rand) mspec
	target string // the classifier's output tensor
	batch  int
}

var netCases = []netCase{
	{"conv+bn+relu+maxpool+flatten+gemm", convNet, "logits", 1},
	{"residual+gap+gemm", residualNet, "y", 3},
	{"clip+gap+reshape+matmul+add", matMulNet, "out", 1},
	{"reshape-map+bn+matmul+add", flatMatMulNet, "out", 1},
}

func readSpec(t *testing.T, s mspec) *Model {
	t.Helper()
	m, err := Read(bytes.NewReader(s.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// images returns batch random images [B, H, W, C] in [0, 1].
func images(rng *rand.Rand, batch int, in layers.Input) []float32 {
	x := make([]float32, batch*in.Size())
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// nchw is the reference's input: x [B, H, W, C] normalized and
// transposed to [B, C, H, W].
func nchw(x []float32, batch int, in layers.Input) *rt {
	H, W, C := in.Height, in.Width, in.Channels
	r := &rt{dims: []int{batch, C, H, W}, d: make([]float64, len(x))}
	for b := range batch {
		for h := range H {
			for w := range W {
				for c := range C {
					v := float64(x[((b*H+h)*W+w)*C+c])
					if in.Mean != nil {
						v -= in.Mean[c]
					}
					if in.Std != nil {
						v /= in.Std[c]
					}
					r.d[((b*C+c)*H+h)*W+w] = v
				}
			}
		}
	}
	return r
}

// run computes fn (Logits or Features) of the imported net in GoMLX
// (float32) with every variable set from imp.Params, and checks that the
// variables the graph creates are exactly the keys of imp.Params.
func run(t *testing.T, imp *Import, x []float32, batch int, features bool) []float64 {
	t.Helper()
	be := backendtest.Shared(t)
	net := imp.Net
	ctx := context.New().Checked(false)
	exec := context.MustNewExec(be, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		if features {
			return net.Features(ctx, x, layers.Eval)
		}
		return net.Logits(ctx, x, layers.Eval)
	})
	in := tensors.FromFlatDataAndDimensions(slices.Clone(x), batch, net.Input.Height, net.Input.Width, net.Input.Channels)
	exec.MustExec(in) // creates the variables
	seen := 0
	for v := range ctx.IterVariables() {
		if v.Shape().DType != dtypes.Float32 {
			continue // the random number generator's state
		}
		p, ok := imp.Params[v.ScopeAndName()]
		if !ok {
			if features && strings.HasPrefix(v.ScopeAndName(), "/head/") {
				continue
			}
			t.Fatalf("variable %s has no value in Params", v.ScopeAndName())
		}
		if len(p) != v.Shape().Size() {
			t.Fatalf("Params[%s] has %d values, the variable is %s", v.ScopeAndName(), len(p), v.Shape())
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(slices.Clone(p), v.Shape().Dimensions...)); err != nil {
			t.Fatal(err)
		}
		seen++
	}
	if !features && seen != len(imp.Params) {
		t.Fatalf("the graph has %d variables, Params %d", seen, len(imp.Params))
	}
	out := tensors.MustCopyFlatData[float32](exec.MustExec(in)[0])
	got := make([]float64, len(out))
	for i, v := range out {
		got[i] = float64(v)
	}
	return got
}

// TestConvert compares the converted networks' logits (GoMLX, float32)
// with the float64 reference evaluation of the ONNX graphs from their
// NCHW weights.
func TestConvert(t *testing.T) {
	for k, c := range netCases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 1))
			spec := c.spec(rng)
			imp, err := Convert(readSpec(t, spec), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := imp.Net.Validate(); err != nil {
				t.Fatal(err)
			}
			x := images(rng, c.batch, imp.Net.Input)
			got := run(t, imp, x, c.batch, false)
			want := reference(spec, nchw(x, c.batch, imp.Net.Input))[c.target].d
			e := linalg.MaxRelError(got, want)
			t.Logf("%d logits, max relative error %.2g; layers %v; skipped %v", len(got), e, layerNames(imp.Net), imp.Skipped)
			if !(e < 1e-5) {
				t.Errorf("max relative error %g against the reference\n got %v\nwant %v", e, got, want)
			}
		})
	}
}

func layerNames(n *layers.Net) []string {
	var s []string
	for _, l := range n.Layers {
		s = append(s, l.Name+":"+l.Op.Kind())
	}
	return s
}

// TestConvertStructure checks names, attributes, the skipped nodes and the
// input normalization of convNet.
func TestConvertStructure(t *testing.T) {
	imp, err := Convert(readSpec(t, convNet(rand.New(rand.NewPCG(0, 1)))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := imp.Net
	want := []string{"layer1.0.conv1:conv2d", "layer1.0.bn1:batchnorm", "layer1.0.relu:activation", "maxpool:maxpool",
		"conv2:conv2d", "bn2:batchnorm", "act2:activation", "pool2:avgpool", "flatten9:flatten", "fc:dense"}
	if got := layerNames(n); !slices.Equal(got, want) {
		t.Errorf("layers %v, want %v", got, want)
	}
	if !slices.Equal(imp.Skipped, []string{"/Identity (Identity)", "/drop/Dropout (Dropout)", "/Softmax (Softmax)"}) {
		t.Errorf("skipped %v", imp.Skipped)
	}
	if !slices.Equal(n.Input.Mean, []float64{0.5, 0.4, 0.3}) || !slices.Equal(n.Input.Std, []float64{0.25, 0.2, 0.3}) ||
		n.Input.Height != 9 || n.Input.Width != 7 || n.Input.Channels != 3 {
		t.Errorf("input %+v", n.Input)
	}
	bn := n.Layers[1].Op.(*layers.BatchNorm)
	if bn.Epsilon != 0.001 || bn.Momentum != 0.8 {
		t.Errorf("batch norm %+v, want epsilon 0.001, momentum 0.8", bn)
	}
	if a := n.Layers[6].Op.(*layers.Activation); a.Fn != layers.LeakyReLU || a.Slope != 0.2 {
		t.Errorf("activation %+v", a)
	}
	if p := n.Layers[7].Op.(*layers.AvgPool2D); p.CountPad || p.Window != 3 || p.Padding != 1 || p.Stride != 2 {
		t.Errorf("avgpool %+v", p)
	}
	if _, ok := imp.Params["/head/weights"]; !ok {
		t.Errorf("no /head/weights in %v", keys(imp.Params))
	}
	// Options override the metadata.
	imp2, err := Convert(readSpec(t, convNet(rand.New(rand.NewPCG(0, 1)))), Options{Mean: []float64{0, 0, 0}, Std: []float64{1, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(imp2.Net.Input.Mean, []float64{0, 0, 0}) {
		t.Errorf("mean %v, want the options'", imp2.Net.Input.Mean)
	}
	if _, err := Convert(readSpec(t, convNet(rand.New(rand.NewPCG(0, 1)))), Options{Mean: []float64{0}}); err == nil || !strings.Contains(err.Error(), "1 values for 3 channels") {
		t.Errorf("one mean for three channels: %v", err)
	}
	if got := layerNames(mustConvert(t, residualNet)); !slices.Contains(got, "block:add") || !slices.Contains(got, "block.relu_1:activation") {
		t.Errorf("residual layers %v", got)
	}
}

func mustConvert(t *testing.T, spec func(*rand.Rand) mspec) *layers.Net {
	t.Helper()
	imp, err := Convert(readSpec(t, spec(rand.New(rand.NewPCG(0, 1)))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return imp.Net
}

func keys(m map[string][]float32) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// TestConvertCut cuts residualNet at the pooled features (and at a map,
// which is flattened): a new zero head with the Gemm's 3 classes, the
// features equal to the reference's.
func TestConvertCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	spec := residualNet(rng)
	m := readSpec(t, spec)
	imp, err := Convert(m, Options{Cut: "g"})
	if err != nil {
		t.Fatal(err)
	}
	n := imp.Net
	if n.NumClasses() != 3 || n.FeatureDim() != 4 || n.Classifier().Name != "head" {
		t.Errorf("classes %d, features %d, head %q", n.NumClasses(), n.FeatureDim(), n.Classifier().Name)
	}
	for _, k := range []string{"/head/weights", "/head/biases"} {
		for _, v := range imp.Params[k] {
			if v != 0 {
				t.Errorf("%s is not zero", k)
				break
			}
		}
	}
	if len(imp.Params["/head/weights"]) != 12 {
		t.Errorf("head weights %d values", len(imp.Params["/head/weights"]))
	}
	if !slices.Equal(imp.Skipped, []string{"/Flatten (Flatten)", "/fc/Gemm (Gemm)"}) {
		t.Errorf("skipped %v", imp.Skipped)
	}
	x := images(rng, 2, n.Input)
	got := run(t, imp, x, 2, true)
	want := reference(spec, nchw(x, 2, n.Input))["g"].d
	e := linalg.MaxRelError(got, want)
	t.Logf("cut features: max relative error %.2g", e)
	if !(e < 1e-5) {
		t.Errorf("features: max relative error %g", e)
	}
	if _, err := imp.MapTensors(map[string][]float32{"fcw": make([]float32, 12)}); err == nil || !strings.Contains(err.Error(), `"fcw" (not a parameter`) {
		t.Errorf("mapping the cut classifier: %v", err)
	}

	imp, err = Convert(m, Options{Cut: "r2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := layerNames(imp.Net); got[len(got)-2] != "features:flatten" || imp.Net.FeatureDim() != 4*8*8 {
		t.Errorf("cut at a map: layers %v, features %d", got, imp.Net.FeatureDim())
	}
	if _, err := Convert(m, Options{Cut: "w0"}); err == nil || !strings.Contains(err.Error(), "not the output of a node (it is an initializer)") {
		t.Errorf("cut at an initializer: %v", err)
	}
}

// TestMapTensors maps each model's trainable initializers (all but the
// batch-norm statistics) and gets Params' trainable entries back, exactly.
func TestMapTensors(t *testing.T) {
	for k, c := range netCases {
		spec := c.spec(rand.New(rand.NewPCG(uint64(k), 1)))
		imp, err := Convert(readSpec(t, spec), Options{})
		if err != nil {
			t.Fatal(err)
		}
		frozen := map[string]bool{}
		for _, n := range spec.nodes {
			if n.op == "BatchNormalization" {
				frozen[n.in[3]], frozen[n.in[4]] = true, true
			}
		}
		byInit := map[string][]float32{}
		for _, ts := range spec.inits {
			if ts.f != nil && !frozen[ts.name] {
				byInit[ts.name] = ts.f
			}
		}
		for _, n := range spec.nodes { // a Constant bias (matMulNet)
			if n.op == "Constant" && n.attrs[0].t.f != nil && len(n.attrs[0].t.f) > 1 {
				byInit[n.out[0]] = n.attrs[0].t.f
			}
		}
		got, err := imp.MapTensors(byInit)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		trainable := 0
		for key, want := range imp.Params {
			if strings.HasSuffix(key, "/mean") || strings.HasSuffix(key, "/variance") {
				if _, ok := got[key]; ok {
					t.Errorf("%s: MapTensors returned the frozen %s", c.name, key)
				}
				continue
			}
			trainable++
			if !slices.Equal(got[key], want) {
				t.Errorf("%s: MapTensors(%s) differs from Params", c.name, key)
			}
		}
		if len(got) != trainable {
			t.Errorf("%s: MapTensors returned %d tensors, want %d: %v", c.name, len(got), trainable, keys(got))
		}
	}
	imp, err := Convert(readSpec(t, convNet(rand.New(rand.NewPCG(0, 1)))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = imp.MapTensors(map[string][]float32{"bn1.running_mean": make([]float32, 4), "nope": {1}, "fc.bias": {1}})
	for _, want := range []string{`"bn1.running_mean" (the frozen batch-norm statistic /backbone/layer1.0.bn1/mean)`, `"nope" (not a parameter`, `"fc.bias" (1 values, want 5)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("MapTensors error %v, want %q", err, want)
		}
	}
}

// TestPermutation checks the Gemm rows of convNet directly:
// W_lqf[(h W + w) C + c][u] = B[u][c H W + h W + w] for the map [6, 3, 2].
func TestPermutation(t *testing.T) {
	spec := convNet(rand.New(rand.NewPCG(0, 1)))
	imp, err := Convert(readSpec(t, spec), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fc []float32
	for _, ts := range spec.inits {
		if ts.name == "fc.weight" {
			fc = ts.f
		}
	}
	w := imp.Params["/head/weights"]
	C, H, W, U := 6, 3, 2, 5
	for c := range C {
		for h := range H {
			for x := range W {
				for u := range U {
					if got, want := w[((h*W+x)*C+c)*U+u], fc[u*C*H*W+(c*H+h)*W+x]; got != want {
						t.Fatalf("weights[(%d,%d,%d), %d] = %g, want %g", h, x, c, u, got, want)
					}
				}
			}
		}
	}
	k := imp.Params["/backbone/layer1.0.conv1/kernel"]
	var cw []float32
	for _, ts := range spec.inits {
		if ts.name == "conv1.weight" {
			cw = ts.f
		}
	}
	for o := range 4 {
		for i := range 3 {
			for r := range 3 {
				for q := range 3 {
					if k[((r*3+q)*3+i)*4+o] != cw[((o*3+i)*3+r)*3+q] {
						t.Fatalf("kernel[%d,%d,%d,%d] is not W[%d,%d,%d,%d]", r, q, i, o, o, i, r, q)
					}
				}
			}
		}
	}
	if math.IsNaN(float64(w[0])) {
		t.Fatal("NaN")
	}
}
