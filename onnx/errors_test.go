package onnx

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one containing %q", what, parts)
		return
	}
	t.Logf("%s: %v", what, err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not contain %q", what, err, p)
		}
	}
}

// convertErr reads and converts spec and returns Convert's error.
func convertErr(t *testing.T, spec mspec) error {
	t.Helper()
	m := readSpec(t, spec)
	_, err := Convert(m, Options{})
	return err
}

// TestTruncated cuts valid models at every byte: every prefix is an error
// (the models have no metadata, so their last field is the opset, without
// which a model is incomplete), never a panic.
func TestTruncated(t *testing.T) {
	for k, c := range netCases {
		spec := c.spec(rand.New(rand.NewPCG(uint64(k), 1)))
		spec.meta = nil
		b := spec.bytes()
		if _, err := Read(bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			m, err := Read(bytes.NewReader(b[:n]))
			if err == nil {
				t.Fatalf("%s: the prefix of %d of %d bytes reads as a model with %d nodes", c.name, n, len(b), len(m.Nodes))
			}
			if !strings.HasPrefix(err.Error(), "onnx: not an ONNX model: ") {
				t.Fatalf("%s: prefix %d: %v", c.name, n, err)
			}
		}
		_, err := Read(bytes.NewReader(b[:len(b)/2]))
		t.Logf("%s: %d prefixes rejected, e.g. %v", c.name, len(b), err)
	}
}

// TestNotONNX reads bytes that are not ONNX models.
func TestNotONNX(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for name, b := range map[string][]byte{
		"empty":  {},
		"text":   []byte("hello, this is not a model\n"),
		"json":   []byte(`{"input": {"height": 8, "width": 8, "channels": 1}, "layers": []}`),
		"png":    {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'},
		"zeros":  make([]byte, 100),
		"random": random,
		"graph without model": func() []byte { // a GraphProto alone
			var g []byte
			return putBytes(g, fGraphNode, node("n", "Relu", strs("a"), strs("b")).bytes())
		}(),
	} {
		_, err := Read(bytes.NewReader(b))
		wantErr(t, name, err, "onnx: not an ONNX model: ")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.onnx")
	if err := os.WriteFile(path, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	wantErr(t, "ReadFile of text", err, "onnx: "+path+" is not an ONNX model: ")
	_, err = ReadFile(filepath.Join(dir, "missing.onnx"))
	wantErr(t, "ReadFile of a missing file", err, "missing.onnx")
	good := filepath.Join(dir, "good.onnx")
	if err := os.WriteFile(good, convNet(rand.New(rand.NewPCG(0, 1))).bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadFile(good); err != nil || len(m.Nodes) != 13 || m.Opset != 13 || m.Metadata["producer"] != "test" || m.Input != "image" || m.Output != "prob" {
		t.Errorf("ReadFile: %v %+v", err, m)
	}
}

// withInit returns convNet with initializer name replaced by t.
func withInit(name string, t tspec) mspec {
	s := convNet(rand.New(rand.NewPCG(0, 1)))
	for k := range s.inits {
		if s.inits[k].name == name {
			t.name = name
			s.inits[k] = t
		}
	}
	return s
}

// TestHostileTensors: sizes claimed without the data, external data,
// unsupported data types.
func TestHostileTensors(t *testing.T) {
	huge := []int64{1 << 20, 1 << 20} // 2^40 values
	for _, c := range []struct {
		name string
		t    tspec
		want []string
	}{
		{"2^40 values, no data", tspec{dims: huge, dtype: typeFloat}, []string{`initializer "fc.weight" claims 1099511627776 values but holds 0 float_data values`}},
		{"2^40 values, 16 raw bytes", tspec{dims: huge, dtype: typeFloat, rawBytes: make([]byte, 16)}, []string{`initializer "fc.weight" claims 1099511627776 values but holds 16 bytes`}},
		{"overflowing dims", tspec{dims: []int64{1 << 40, 1 << 40, 1 << 40}, dtype: typeFloat, rawBytes: make([]byte, 8)}, []string{`initializer "fc.weight" claims dims [1099511627776 1099511627776 1099511627776], more values than fit in memory, but holds 8 bytes`}},
		{"negative dim", tspec{dims: []int64{-1, 4}, dtype: typeFloat}, []string{"negative dimension -1"}},
		{"short float_data", tspec{dims: []int64{5, 36}, f: make([]float32, 179)}, []string{"claims 180 values but holds 179 float_data values"}},
		{"raw not a multiple", tspec{dims: []int64{5, 36}, dtype: typeFloat, rawBytes: make([]byte, 719)}, []string{"claims 180 values but holds 719 bytes"}},
		{"external data", tspec{dims: []int64{5, 36}, dtype: typeFloat, external: true}, []string{`initializer "fc.weight" stores its data outside the file (data_location EXTERNAL)`}},
		{"double", tspec{dims: []int64{5, 36}, dtype: 11, rawBytes: make([]byte, 8*180)}, []string{`initializer "fc.weight" has data type DOUBLE; lqf reads FLOAT weights and INT64 shapes`}},
		{"float16", tspec{dims: []int64{5, 36}, dtype: 10, rawBytes: make([]byte, 2*180)}, []string{"FLOAT16"}},
	} {
		_, err := Read(bytes.NewReader(withInit("fc.weight", c.t).bytes()))
		wantErr(t, c.name, err, c.want...)
		if err != nil && strings.Contains(err.Error(), "not an ONNX model") {
			t.Errorf("%s: %v: a bad tensor is not a format error", c.name, err)
		}
	}
}

// edit returns convNet with node name's attributes (or op) changed.
func edit(name string, f func(n *nspec)) mspec {
	s := convNet(rand.New(rand.NewPCG(0, 1)))
	for k := range s.nodes {
		if s.nodes[k].name == name {
			f(&s.nodes[k])
		}
	}
	return s
}

func setAttr(n *nspec, a aspec) {
	for k := range n.attrs {
		if n.attrs[k].name == a.name {
			n.attrs[k] = a
			return
		}
	}
	n.attrs = append(n.attrs, a)
}

// TestConvertErrors: unsupported ops and attributes give one error naming
// the node, the op and what is unsupported.
func TestConvertErrors(t *testing.T) {
	const conv1, pool = "/layer1/layer1.0/conv1/Conv", "/maxpool/MaxPool"
	relu := "/layer1/layer1.0/relu/Relu"
	cases := []struct {
		name string
		spec mspec
		want []string
	}{
		{"unsupported op", edit(relu, func(n *nspec) { n.op = "Sigmoid" }),
			[]string{"onnx: node /layer1/layer1.0/relu/Relu (Sigmoid): unsupported op; supported: Conv, BatchNormalization, Relu, LeakyRelu, Clip, MaxPool, AveragePool, GlobalAveragePool, Add, Gemm, MatMul, Flatten, Reshape, Identity, Dropout, Constant"}},
		{"other domain", edit(relu, func(n *nspec) { n.domain = "com.microsoft" }), []string{`op of domain "com.microsoft" is unsupported`}},
		{"asymmetric pads", edit(conv1, func(n *nspec) { setAttr(n, aints("pads", 0, 0, 1, 1)) }),
			[]string{"node /layer1/layer1.0/conv1/Conv (Conv): pads [0 0 1 1] [top, left, bottom, right]: lqf supports the same padding on every side"}},
		{"group conv", func() mspec {
			s := edit("/conv2/Conv", func(n *nspec) { setAttr(n, ai("group", 2)) })
			s.inits[6] = randTensor(rand.New(rand.NewPCG(1, 1)), "conv2.weight", 1, 0, 6, 2, 3, 3)
			return s
		}(), []string{"node /conv2/Conv (Conv): group 2: grouped and depthwise convolutions are unsupported"}},
		{"unequal strides", edit(conv1, func(n *nspec) { setAttr(n, aints("strides", 1, 2)) }), []string{"strides [1 2]"}},
		{"dilation", edit(conv1, func(n *nspec) { setAttr(n, aints("dilations", 2, 2)) }), []string{"dilations [2 2]: lqf supports dilation 1 only"}},
		{"rectangular kernel", edit(pool, func(n *nspec) { setAttr(n, aints("kernel_shape", 3, 2)) }), []string{"kernel_shape [3 2]: lqf supports square 2-D windows"}},
		{"ceil mode", edit(pool, func(n *nspec) {
			setAttr(n, ai("ceil_mode", 1))
			setAttr(n, aints("kernel_shape", 2, 2))
			setAttr(n, aints("pads", 0, 0, 0, 0))
		}), []string{"node /maxpool/MaxPool (MaxPool): ceil_mode 1 gives a 5x4 output where lqf's floor gives 4x3; lqf supports ceil_mode 0"}},
		{"unknown attribute", edit(pool, func(n *nspec) { setAttr(n, ai("frobnicate", 1)) }), []string{`attributes ["frobnicate"] are not supported`}},
		{"relu6", edit(relu, func(n *nspec) { n.op = "Clip"; n.attrs = []aspec{af("min", 0), af("max", 6)} }),
			[]string{"(Clip): Clip(0, 6) is ReLU6, which lqf does not support"}},
		{"clip -1 1", edit(relu, func(n *nspec) { n.op = "Clip"; n.attrs = []aspec{af("min", -1), af("max", 1)} }), []string{"Clip(-1, 1) is unsupported"}},
		{"gemm alpha", edit("/fc/Gemm", func(n *nspec) { setAttr(n, af("alpha", 2)) }), []string{"alpha 2, beta 1, transA 0: lqf supports alpha = beta = 1"}},
		{"training bn", edit("/bn2/BatchNormalization", func(n *nspec) { setAttr(n, ai("training_mode", 1)) }), []string{"training_mode 1"}},
		{"flatten axis", edit("/Flatten", func(n *nspec) { setAttr(n, ai("axis", 2)) }), []string{"axis 2 of a [N, 6, 3, 2] tensor"}},
		{"dropout mask", func() mspec {
			s := edit("/fc/Gemm", func(n *nspec) { n.in[0] = "mask" })
			return s
		}(), []string{`input "mask" is an extra output of node /drop/Dropout (Dropout)`}},
		{"symbolic height", func() mspec { s := convNet(rand.New(rand.NewPCG(0, 1))); s.inDims[2] = 0; return s }(),
			[]string{`input "image" has a symbolic "d2" height; lqf needs a fixed input size`}},
		{"NHWC input", func() mspec { s := convNet(rand.New(rand.NewPCG(0, 1))); s.inDims = []int64{1, 9, 7, 3}; return s }(),
			[]string{"lqf takes NCHW images with 1 or 3 channels"}},
		{"old opset", func() mspec { s := convNet(rand.New(rand.NewPCG(0, 1))); s.opset = 7; return s }(), []string{"opset 7"}},
		{"no classifier", func() mspec { s := convNet(rand.New(rand.NewPCG(0, 1))); s.nodes = s.nodes[:3]; return s }(), []string{"no Gemm or MatMul"}},
		{"Add of a constant", func() mspec {
			s := convNet(rand.New(rand.NewPCG(0, 1)))
			s.nodes[2] = node("shift", "Add", strs("b1", "conv1.bias"), strs("r1"))
			return s
		}(), []string{`node shift (Add): adds the constant "conv1.bias"`}},
		{"not topological", func() mspec {
			s := convNet(rand.New(rand.NewPCG(0, 1)))
			s.nodes[1], s.nodes[2] = s.nodes[2], s.nodes[1]
			return s
		}(), []string{`(Relu): input "b1" is neither the graph input, an initializer nor an output of an earlier node`}},
		{"shared weights", func() mspec {
			s := edit("/conv2/Conv", func(n *nspec) { n.in = strs("p1", "conv2.weight", "conv1.bias") })
			s.inits[6] = randTensor(rand.New(rand.NewPCG(1, 1)), "conv2.weight", 1, 0, 4, 4, 3, 3)
			return s
		}(), []string{`initializer "conv1.bias" is also a parameter of "layer1.0.conv1"`}},
	}
	for _, c := range cases {
		wantErr(t, c.name, convertErr(t, c.spec), c.want...)
	}
	// ceil_mode 1 that rounds to the same size (9x7, window 3, stride 2,
	// padding 1: 5x4 either way) is fine.
	s := edit(pool, func(n *nspec) { setAttr(n, ai("ceil_mode", 1)) })
	if err := convertErr(t, s); err != nil {
		t.Errorf("ceil_mode 1 of the same size: %v", err)
	}
}

// TestUnsupported lists the op types Convert cannot build.
func TestUnsupported(t *testing.T) {
	s := edit("/layer1/layer1.0/relu/Relu", func(n *nspec) { n.op = "Sigmoid" })
	s.nodes = append(s.nodes, node("", "Softmax", strs("prob"), strs("p2")), nspec{name: "fused", op: "FusedConv", in: strs("image"), out: strs("q"), domain: "com.microsoft"})
	got := Unsupported(readSpec(t, s))
	want := []string{"Sigmoid: /layer1/layer1.0/relu/Relu", "Softmax: /Softmax, #13", "com.microsoft:FusedConv: fused"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Unsupported = %q, want %q", got, want)
	}
	if got := Unsupported(readSpec(t, residualNet(rand.New(rand.NewPCG(0, 1))))); got != nil {
		t.Errorf("Unsupported(residualNet) = %q", got)
	}
}
