package onnx

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/layers"
)

// Options control Convert.
type Options struct {
	// Cut names the tensor (a node output) whose value is the features fed
	// to a new classifier: a Dense layer with biases, as many classes as
	// the last Gemm or MatMul, zero-initialized (a map [C, H, W] is
	// flattened first). "" keeps the network's own classifier, the last
	// Gemm or MatMul, whose input is then the features (as the paper does).
	Cut string
	// Mean and Std are the per-channel input normalization of
	// layers.Input. nil: from the model's metadata_props "lqf.mean" and
	// "lqf.std" (comma-separated), else none.
	Mean, Std []float64
}

// Import is a converted network: its layer graph, the values of every
// variable and the ONNX nodes it left out.
type Import struct {
	Net *layers.Net
	// Params holds every variable of Net, trainable or frozen, keyed as
	// context.Variable.ScopeAndName gives it ("/backbone/conv1/kernel",
	// "/backbone/bn1/mean", "/head/weights"), in lqf's layout: kernels
	// [k, k, Cin, Cout] (HWIO), Dense weights [F, Units] with F in lqf's
	// feature order, per-channel vectors [C].
	Params map[string][]float32
	// Skipped lists the nodes dropped ("NAME (OpType)"): Identity and
	// Dropout, and the nodes after the cut (or the classifier).
	Skipped []string

	maps []paramMap
}

// paramMap says how one lqf variable is made from an ONNX initializer:
// value[i] = init[gather[i]] (gather nil: the identity), or zeros when
// init is "" (a variable lqf adds: a classifier's missing biases, a new
// head).
type paramMap struct {
	key, init string
	size      int
	gather    []int
	frozen    bool
}

// supportedOps are the op types Convert builds, in the order its errors
// list them.
var supportedOps = []string{"Conv", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "MaxPool", "AveragePool",
	"GlobalAveragePool", "Add", "Gemm", "MatMul", "Flatten", "Reshape", "Identity", "Dropout", "Constant"}

// Limits on geometry a file claims (input sides, windows, strides, pads).
const (
	maxSide = 1 << 16
	// maxNewHead bounds the values of a new classifier (Options.Cut), the
	// one variable whose size does not come from data present in the file
	// but from the input geometry it claims: 2^26 values (256 MiB), e.g.
	// 25088 features (a 512x7x7 map) times 1000 classes fit.
	maxNewHead = 1 << 26
)

func isDefaultDomain(d string) bool { return d == "" || d == "ai.onnx" }

// Unsupported lists the op types in m that Convert cannot build, one
// entry "OpType: name, name" per type (ops of another domain as
// "domain:OpType"), sorted; nil if there are none. Convert fails on such
// a node only if the classifier's features depend on it.
func Unsupported(m *Model) []string {
	if m == nil {
		return nil
	}
	byOp := map[string][]string{}
	for i, nd := range m.Nodes {
		op := nd.OpType
		if !isDefaultDomain(nd.Domain) {
			op = nd.Domain + ":" + op
		} else if slices.Contains(supportedOps, op) {
			continue
		}
		byOp[op] = append(byOp[op], nodeLabel(nd.Name, i))
	}
	var out []string
	for op, names := range byOp {
		out = append(out, op+": "+strings.Join(names, ", "))
	}
	slices.Sort(out)
	return out
}

// valueKind is the form of a computed tensor.
type valueKind int

const (
	image  valueKind = iota // ONNX [N, C, H, W], lqf [B, H, W, C]
	pooled                  // ONNX [N, C, 1, 1] after GlobalAveragePool, lqf [B, C]
	vector                  // ONNX [N, F], lqf [B, F]
)

// value is a computed ONNX tensor: the lqf node that holds it and its
// per-sample ONNX shape. A vector flattened from a map [C, H, W] (flat
// set) has its features in lqf's HWC order: ONNX feature c H W + h W + w is
// lqf feature (h W + w) C + c.
type value struct {
	layer   string
	kind    valueKind
	c, h, w int // image [C, H, W]; pooled [C]; vector [F] in c
	flat    *[3]int
}

func (v *value) features() int {
	if v.kind == image {
		return v.c * v.h * v.w
	}
	return v.c
}

// lqfIndex maps an ONNX feature index of a vector to lqf's.
func (v *value) lqfIndex(f int) int {
	if v.flat == nil {
		return f
	}
	c, h, w := v.flat[0], v.flat[1], v.flat[2]
	ch, hw := f/(h*w), f%(h*w)
	return hw*c + ch
}

func (v *value) String() string {
	switch v.kind {
	case image:
		return fmt.Sprintf("[N, %d, %d, %d]", v.c, v.h, v.w)
	case pooled:
		return fmt.Sprintf("[N, %d, 1, 1]", v.c)
	}
	return fmt.Sprintf("[N, %d]", v.c)
}

func sameShape(a, b *value) bool {
	return a.kind == b.kind && a.c == b.c && a.h == b.h && a.w == b.w && (a.flat == nil) == (b.flat == nil) &&
		(a.flat == nil || *a.flat == *b.flat)
}

// pending is a variable being built, keyed once the net is complete.
type pending struct {
	layer, name string
	src         *Tensor // nil: zeros
	size        int
	gather      []int
	frozen      bool
}

type builder struct {
	m        *Model
	layers   []layers.Layer
	params   []pending
	vals     map[string]*value
	consts   map[string]*Tensor
	missing  map[string]string // tensors without a value, and why
	names    map[string]bool
	initUse  map[string]string // initializer -> layer whose parameter it is
	producer map[string]int
	users    map[string][]int
	head     int // the classifier node (-1: a new head)
	folded   map[int]bool
	skipped  []string
}

// Convert converts m into a layer graph and its parameter values (see the
// package documentation for the ops, their limits and the layouts). The
// network maps images [B, H, W, C] in [0, 1] to the logits of the
// classifier; the input is normalized by Options.Mean and Std first. The
// result passes layers.Net.Validate.
func Convert(m *Model, opts Options) (*Import, error) {
	if m == nil {
		return nil, fmt.Errorf("onnx: no model")
	}
	if m.Opset < 9 {
		return nil, fmt.Errorf("onnx: the model uses opset %d; lqf converts opsets 9 and later (convert it with onnx.version_converter)", m.Opset)
	}
	b := &builder{m: m, vals: map[string]*value{}, consts: map[string]*Tensor{}, missing: map[string]string{},
		names: map[string]bool{layers.InputName: true}, initUse: map[string]string{}, producer: map[string]int{},
		users: map[string][]int{}, folded: map[int]bool{}, head: -1}
	in, err := b.input(opts)
	if err != nil {
		return nil, err
	}
	b.vals[m.Input] = &value{layer: layers.InputName, kind: image, c: in.Channels, h: in.Height, w: in.Width}
	for name, t := range m.Initializers {
		b.consts[name] = t
	}
	for i, nd := range m.Nodes {
		for _, out := range nd.Outputs {
			if out == "" {
				continue
			}
			if _, ok := b.producer[out]; ok || out == m.Input || m.Initializers[out] != nil {
				return nil, fmt.Errorf("onnx: node %s (%s): output %q is also %s", nodeLabel(nd.Name, i), nd.OpType, out, b.origin(out))
			}
			b.producer[out] = i
		}
		for _, x := range nd.Inputs {
			if x != "" {
				b.users[x] = append(b.users[x], i)
			}
		}
	}

	// The classifier: the last Gemm or MatMul.
	last := -1
	for i, nd := range m.Nodes {
		if isDefaultDomain(nd.Domain) && (nd.OpType == "Gemm" || nd.OpType == "MatMul") {
			last = i
		}
	}
	var target string
	if opts.Cut == "" {
		if last < 0 {
			return nil, fmt.Errorf("onnx: the model has no Gemm or MatMul to be the classifier; set Options.Cut to the features' tensor to add one")
		}
		nd := &m.Nodes[last]
		if len(nd.Outputs) == 0 || nd.Outputs[0] == "" {
			return nil, fmt.Errorf("onnx: node %s (%s) has no output", nodeLabel(nd.Name, last), nd.OpType)
		}
		b.head, target = last, nd.Outputs[0]
		if add, ok := b.biasAdd(last); ok && isDefaultDomain(nd.Domain) {
			target = m.Nodes[add].Outputs[0]
		}
	} else {
		if _, ok := b.producer[opts.Cut]; !ok {
			return nil, fmt.Errorf("onnx: Options.Cut %q is not the output of a node (it is %s)", opts.Cut, b.origin(opts.Cut))
		}
		target = opts.Cut
	}

	need := b.ancestors(target)
	// Constant nodes first (they take no input), so that a MatMul sees the
	// bias its Add takes from a later Constant; a MatMul whose bias Add is
	// needed takes that Add along.
	isConstant := func(nd *Node) bool { return isDefaultDomain(nd.Domain) && nd.OpType == "Constant" }
	for i := range m.Nodes {
		nd := &m.Nodes[i]
		if !need[i] {
			continue
		}
		if isConstant(nd) {
			if err := b.node(i); err != nil {
				return nil, err
			}
		}
		if add, ok := b.biasAdd(i); ok && need[add] && isDefaultDomain(nd.Domain) {
			b.folded[add] = true
		}
	}
	for i := range m.Nodes {
		nd := &m.Nodes[i]
		switch {
		case !need[i]:
			if !isConstant(nd) {
				b.skipped = append(b.skipped, fmt.Sprintf("%s (%s)", nodeLabel(nd.Name, i), nd.OpType))
			}
		case isConstant(nd), b.folded[i]: // done, or a bias Add built with its MatMul
		default:
			if err := b.node(i); err != nil {
				return nil, err
			}
		}
	}

	if opts.Cut != "" {
		if err := b.newHead(opts.Cut, last); err != nil {
			return nil, err
		}
	}
	net := &layers.Net{Input: in, Layers: b.layers}
	if err := net.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: the converted network is invalid: %w", err)
	}
	imp := &Import{Net: net, Params: make(map[string][]float32, len(b.params)), Skipped: b.skipped}
	for _, p := range b.params {
		key := net.Scope(p.layer) + context.ScopeSeparator + p.name
		pm := paramMap{key: key, size: p.size, gather: p.gather, frozen: p.frozen}
		out := make([]float32, p.size)
		if p.src != nil {
			pm.init = p.src.Name
			gatherInto(out, p.src.Data, p.gather)
		}
		imp.Params[key] = out
		imp.maps = append(imp.maps, pm)
	}
	return imp, nil
}

func gatherInto(dst, src []float32, gather []int) {
	if gather == nil {
		copy(dst, src)
		return
	}
	for i, j := range gather {
		dst[i] = src[j]
	}
}

// origin describes what a tensor name refers to, for errors.
func (b *builder) origin(name string) string {
	switch {
	case name == b.m.Input:
		return "the graph input"
	case b.m.Initializers[name] != nil:
		return "an initializer"
	}
	if i, ok := b.producer[name]; ok {
		nd := &b.m.Nodes[i]
		return fmt.Sprintf("an output of node %s (%s)", nodeLabel(nd.Name, i), nd.OpType)
	}
	return "not a tensor of the graph"
}

// input checks the graph input and returns lqf's description of it.
func (b *builder) input(opts Options) (layers.Input, error) {
	m := b.m
	d := m.InputDims
	if len(d) != 4 {
		return layers.Input{}, fmt.Errorf("onnx: input %q has dims %v; lqf takes images [N, C, H, W]", m.Input, d)
	}
	if m.InputType != typeFloat {
		return layers.Input{}, fmt.Errorf("onnx: input %q has element type %s; lqf takes FLOAT images", m.Input, dataTypeName(int64(m.InputType)))
	}
	dimName := func(i int) string {
		if i < len(m.InputDimParams) && m.InputDimParams[i] != "" {
			return fmt.Sprintf("symbolic %q", m.InputDimParams[i])
		}
		return "unknown"
	}
	for i, what := range []string{"channels", "height", "width"} {
		if d[i+1] == 0 {
			return layers.Input{}, fmt.Errorf("onnx: input %q has a %s %s; lqf needs a fixed input size: export the model with a fixed [N, C, H, W] input", m.Input, dimName(i+1), what)
		}
	}
	if d[1] != 1 && d[1] != 3 {
		return layers.Input{}, fmt.Errorf("onnx: input %q has dims %v: lqf takes NCHW images with 1 or 3 channels", m.Input, d)
	}
	if d[2] > maxSide || d[3] > maxSide {
		return layers.Input{}, fmt.Errorf("onnx: input %q has dims %v, larger than %d pixels a side", m.Input, d, maxSide)
	}
	in := layers.Input{Height: d[2], Width: d[3], Channels: d[1], Mean: slices.Clone(opts.Mean), Std: slices.Clone(opts.Std)}
	for _, f := range []struct {
		dst *[]float64
		key string
	}{{&in.Mean, "lqf.mean"}, {&in.Std, "lqf.std"}} {
		if *f.dst != nil {
			continue
		}
		s, ok := m.Metadata[f.key]
		if !ok {
			continue
		}
		for _, part := range strings.Split(s, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
			if err != nil {
				return layers.Input{}, fmt.Errorf("onnx: metadata %s %q: %w", f.key, s, err)
			}
			*f.dst = append(*f.dst, x)
		}
	}
	for what, v := range map[string][]float64{"mean": in.Mean, "std": in.Std} {
		if v != nil && len(v) != in.Channels {
			return layers.Input{}, fmt.Errorf("onnx: input normalization %s %v has %d values for %d channels", what, v, len(v), in.Channels)
		}
	}
	return in, nil
}

// ancestors marks the nodes whose outputs the tensor target depends on.
func (b *builder) ancestors(target string) map[int]bool {
	need := map[int]bool{}
	stack := []string{target}
	seen := map[string]bool{target: true}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := b.producer[t]
		if !ok || need[i] {
			continue
		}
		need[i] = true
		for _, x := range b.m.Nodes[i].Inputs {
			if x != "" && !seen[x] {
				seen[x] = true
				stack = append(stack, x)
			}
		}
	}
	return need
}

// isConst reports whether tensor name is an initializer or a Constant
// node's output, possibly through Identity and Dropout nodes.
func (b *builder) isConst(name string) bool {
	for range len(b.m.Nodes) + 1 {
		if b.m.Initializers[name] != nil {
			return true
		}
		i, ok := b.producer[name]
		if !ok || !isDefaultDomain(b.m.Nodes[i].Domain) {
			return false
		}
		nd := &b.m.Nodes[i]
		switch nd.OpType {
		case "Constant":
			return true
		case "Identity", "Dropout":
			if len(nd.Inputs) == 0 {
				return false
			}
			name = nd.Inputs[0]
		default:
			return false
		}
	}
	return false
}

// biasAdd returns the Add that adds a constant to MatMul node i's output,
// its only use, to be folded into the Dense layer as its biases.
func (b *builder) biasAdd(i int) (int, bool) {
	nd := &b.m.Nodes[i]
	if nd.OpType != "MatMul" || len(nd.Outputs) == 0 || nd.Outputs[0] == "" || nd.Outputs[0] == b.m.Output {
		return 0, false
	}
	out := nd.Outputs[0]
	users := b.users[out]
	if len(users) != 1 {
		return 0, false
	}
	j := users[0]
	add := &b.m.Nodes[j]
	if !isDefaultDomain(add.Domain) || add.OpType != "Add" || len(add.Inputs) != 2 || len(add.Outputs) == 0 || add.Outputs[0] == "" {
		return 0, false
	}
	other := add.Inputs[0]
	if other == out {
		other = add.Inputs[1]
	}
	if other == out || !b.isConst(other) {
		return 0, false
	}
	return j, true
}

// layerName derives a readable, unique lqf node name from an ONNX node
// name: path components ('/' or ':' separated) without the trailing op
// type and without a component that the next one extends
// ("/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1"), joined by '.',
// other characters than letters, digits, '.', '-' and '_' replaced by
// '_'. An empty result is the op type and the node's index.
func (b *builder) layerName(i int) string {
	nd := &b.m.Nodes[i]
	parts := strings.FieldsFunc(nd.Name, func(r rune) bool { return r == '/' || r == ':' })
	if n := len(parts); n > 0 && (parts[n-1] == nd.OpType || isOpIndexed(parts[n-1], nd.OpType)) && n > 1 {
		parts = parts[:n-1]
	} else if n == 1 && parts[0] == nd.OpType {
		parts = nil
	}
	var kept []string
	for j, p := range parts {
		if j+1 < len(parts) && strings.HasPrefix(parts[j+1], p+".") {
			continue
		}
		kept = append(kept, p)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, strings.Join(kept, "."))
	if name == "" {
		name = strings.ToLower(nd.OpType) + strconv.Itoa(i)
	}
	return b.unique(name)
}

// isOpIndexed reports whether s is op followed by "_" and digits
// ("Conv_3").
func isOpIndexed(s, op string) bool {
	rest, ok := strings.CutPrefix(s, op+"_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (b *builder) unique(name string) string {
	u := name
	for k := 2; b.names[u]; k++ {
		u = name + "_" + strconv.Itoa(k)
	}
	b.names[u] = true
	return u
}

// add appends a layer for node i (or named name when i < 0).
func (b *builder) add(i int, name string, op layers.Op, inputs ...string) string {
	if i >= 0 {
		name = b.layerName(i)
	} else {
		name = b.unique(name)
	}
	b.layers = append(b.layers, layers.Layer{Name: name, Inputs: inputs, Op: op})
	return name
}

// param records variable name of layer from initializer src (nil: zeros
// of size) through gather; an initializer feeds one variable only.
func (b *builder) param(i int, layer, name string, src *Tensor, size int, gather []int, frozen bool) error {
	if src != nil {
		if other, ok := b.initUse[src.Name]; ok && src.Name != "" {
			return b.errf(i, "initializer %q is also a parameter of %q; lqf's layers do not share parameters", src.Name, other)
		}
		if len(src.Data) != size {
			return b.errf(i, "initializer %q has %d values, want %d", src.Name, len(src.Data), size)
		}
		b.initUse[src.Name] = layer
	}
	b.params = append(b.params, pending{layer: layer, name: name, src: src, size: size, gather: gather, frozen: frozen})
	return nil
}

func (b *builder) errf(i int, format string, args ...any) error {
	nd := &b.m.Nodes[i]
	return fmt.Errorf("onnx: node %s (%s): %s", nodeLabel(nd.Name, i), nd.OpType, fmt.Sprintf(format, args...))
}

// val returns computed input j of node i.
func (b *builder) val(i, j int) (*value, error) {
	nd := &b.m.Nodes[i]
	if j >= len(nd.Inputs) || nd.Inputs[j] == "" {
		return nil, b.errf(i, "input %d is missing", j)
	}
	name := nd.Inputs[j]
	if v, ok := b.vals[name]; ok {
		return v, nil
	}
	if why, ok := b.missing[name]; ok {
		return nil, b.errf(i, "input %q is %s, which lqf does not compute", name, why)
	}
	if b.consts[name] != nil {
		return nil, b.errf(i, "input %d (%q) is a constant; lqf supports only computed tensors here", j, name)
	}
	return nil, b.errf(i, "input %q is neither the graph input, an initializer nor an output of an earlier node", name)
}

// constant returns constant input j of node i (nil if the optional input
// is absent and !required).
func (b *builder) constant(i, j int, what string, required bool) (*Tensor, error) {
	nd := &b.m.Nodes[i]
	if j >= len(nd.Inputs) || nd.Inputs[j] == "" {
		if required {
			return nil, b.errf(i, "the %s (input %d) is missing", what, j)
		}
		return nil, nil
	}
	name := nd.Inputs[j]
	if t := b.consts[name]; t != nil {
		return t, nil
	}
	if _, ok := b.vals[name]; ok {
		return nil, b.errf(i, "the %s %q is computed; lqf needs it to be an initializer or a Constant", what, name)
	}
	return nil, b.errf(i, "the %s %q is neither an initializer nor the output of an earlier Constant node", what, name)
}

func (b *builder) floats(i int, t *Tensor, what string, n int) error {
	if t.Data == nil {
		return b.errf(i, "the %s %q is not FLOAT", what, t.Name)
	}
	if len(t.Data) != n {
		return b.errf(i, "the %s %q has dims %v, want %d values", what, t.Name, t.Dims, n)
	}
	return nil
}

// checkAttrs rejects attributes of node i not in known.
func (b *builder) checkAttrs(i int, known ...string) error {
	nd := &b.m.Nodes[i]
	var bad []string
	for name := range nd.Attrs {
		if !slices.Contains(known, name) {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return b.errf(i, "attributes %q are not supported (lqf reads %q)", bad, known)
	}
	return nil
}

func (b *builder) attr(i int, name string, typ int) (Attr, bool, error) {
	a, ok := b.m.Nodes[i].Attrs[name]
	if !ok {
		return a, false, nil
	}
	if a.Type != typ {
		return a, false, b.errf(i, "attribute %s has type %d, want %d", name, a.Type, typ)
	}
	return a, true, nil
}

func (b *builder) intAttr(i int, name string, def int64) (int64, error) {
	a, ok, err := b.attr(i, name, AttrInt)
	if err != nil || !ok {
		return def, err
	}
	return a.Int, nil
}

func (b *builder) floatAttr(i int, name string, def float32) (float32, error) {
	a, ok, err := b.attr(i, name, AttrFloat)
	if err != nil || !ok {
		return def, err
	}
	return a.Float, nil
}

func (b *builder) intsAttr(i int, name string) ([]int64, bool, error) {
	a, ok, err := b.attr(i, name, AttrInts)
	return a.Ints, ok, err
}

// decimal is the float64 with the shortest decimal form of x (0.9, not
// 0.8999999761581421).
func decimal(x float32) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	return f
}

// node converts node i.
func (b *builder) node(i int) error {
	nd := &b.m.Nodes[i]
	if !isDefaultDomain(nd.Domain) {
		return b.errf(i, "op of domain %q is unsupported; supported: the ai.onnx ops %s", nd.Domain, strings.Join(supportedOps, ", "))
	}
	if len(nd.Outputs) == 0 || nd.Outputs[0] == "" {
		return b.errf(i, "the node has no output")
	}
	var err error
	switch nd.OpType {
	case "Conv":
		err = b.conv(i)
	case "BatchNormalization":
		err = b.batchNorm(i)
	case "Relu", "LeakyRelu", "Clip":
		err = b.activation(i)
	case "MaxPool", "AveragePool":
		err = b.pool(i)
	case "GlobalAveragePool":
		err = b.globalPool(i)
	case "Add":
		err = b.add2(i)
	case "Gemm", "MatMul":
		err = b.dense(i)
	case "Flatten", "Reshape":
		err = b.flatten(i)
	case "Identity", "Dropout":
		err = b.identity(i)
	case "Constant":
		err = b.constantNode(i)
	default:
		return b.errf(i, "unsupported op; supported: %s", strings.Join(supportedOps, ", "))
	}
	if err != nil {
		return err
	}
	for _, o := range nd.Outputs[1:] {
		if o != "" {
			b.missing[o] = fmt.Sprintf("an extra output of node %s (%s)", nodeLabel(nd.Name, i), nd.OpType)
		}
	}
	return nil
}

// geometry reads the window attributes of node i (Conv, MaxPool,
// AveragePool) for window k over x: stride and symmetric padding, and the
// output size.
func (b *builder) geometry(i int, x *value, k int) (stride, pad, ho, wo int, err error) {
	if k < 1 || k > maxSide {
		return 0, 0, 0, 0, b.errf(i, "window %d is out of range", k)
	}
	if ks, ok, err := b.intsAttr(i, "kernel_shape"); err != nil {
		return 0, 0, 0, 0, err
	} else if ok && (len(ks) != 2 || ks[0] != int64(k) || ks[1] != int64(k)) {
		return 0, 0, 0, 0, b.errf(i, "kernel_shape %v: lqf supports square 2-D windows (%dx%d here)", ks, k, k)
	}
	stride = 1
	if s, ok, err := b.intsAttr(i, "strides"); err != nil {
		return 0, 0, 0, 0, err
	} else if ok {
		if len(s) != 2 || s[0] != s[1] || s[0] < 1 || s[0] > maxSide {
			return 0, 0, 0, 0, b.errf(i, "strides %v: lqf supports equal strides of a 2-D window", s)
		}
		stride = int(s[0])
	}
	if d, ok, err := b.intsAttr(i, "dilations"); err != nil {
		return 0, 0, 0, 0, err
	} else if ok && (len(d) != 2 || d[0] != 1 || d[1] != 1) {
		return 0, 0, 0, 0, b.errf(i, "dilations %v: lqf supports dilation 1 only", d)
	}
	autoPad := "NOTSET"
	if a, ok, err := b.attr(i, "auto_pad", AttrString); err != nil {
		return 0, 0, 0, 0, err
	} else if ok && a.String != "" {
		autoPad = a.String
	}
	pads, hasPads, err := b.intsAttr(i, "pads")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	switch autoPad {
	case "NOTSET":
		if hasPads {
			if len(pads) != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0 || pads[0] > maxSide {
				return 0, 0, 0, 0, b.errf(i, "pads %v [top, left, bottom, right]: lqf supports the same padding on every side", pads)
			}
			pad = int(pads[0])
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		total := func(n int) int { return max(((n+stride-1)/stride-1)*stride+k-n, 0) }
		th, tw := total(x.h), total(x.w)
		if th != tw || th%2 != 0 {
			return 0, 0, 0, 0, b.errf(i, "auto_pad %s pads %d rows and %d columns of a %dx%d input: lqf supports the same padding on every side", autoPad, th, tw, x.h, x.w)
		}
		pad = th / 2
	default:
		return 0, 0, 0, 0, b.errf(i, "auto_pad %q is unknown", autoPad)
	}
	if pad >= k {
		return 0, 0, 0, 0, b.errf(i, "padding %d is not smaller than the %dx%d window, which lqf requires", pad, k, k)
	}
	ho, wo = (x.h+2*pad-k)/stride+1, (x.w+2*pad-k)/stride+1
	if x.h+2*pad < k || x.w+2*pad < k {
		return 0, 0, 0, 0, b.errf(i, "the %dx%d window (padding %d) does not fit the %dx%d input", k, k, pad, x.h, x.w)
	}
	return stride, pad, ho, wo, nil
}

func (b *builder) image(i, j int) (*value, error) {
	x, err := b.val(i, j)
	if err != nil {
		return nil, err
	}
	if x.kind != image {
		return nil, b.errf(i, "takes a %s tensor; lqf applies it to maps [N, C, H, W] only", x)
	}
	return x, nil
}

func (b *builder) conv(i int) error {
	nd := &b.m.Nodes[i]
	if err := b.checkAttrs(i, "kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"); err != nil {
		return err
	}
	x, err := b.image(i, 0)
	if err != nil {
		return err
	}
	if g, err := b.intAttr(i, "group", 1); err != nil {
		return err
	} else if g != 1 {
		return b.errf(i, "group %d: grouped and depthwise convolutions are unsupported (lqf's Conv2D has group 1)", g)
	}
	w, err := b.constant(i, 1, "weights", true)
	if err != nil {
		return err
	}
	if w.Data == nil || len(w.Dims) != 4 {
		return b.errf(i, "the weights %q must be FLOAT [O, I, kh, kw], got dims %v", w.Name, w.Dims)
	}
	o, cin, kh, kw := w.Dims[0], w.Dims[1], w.Dims[2], w.Dims[3]
	if kh != kw {
		return b.errf(i, "kernel %dx%d: lqf supports square kernels", kh, kw)
	}
	if o < 1 || cin != x.c {
		return b.errf(i, "weights %q [%d, %d, %d, %d] do not fit an input of %d channels", w.Name, o, cin, kh, kw, x.c)
	}
	k := kh
	stride, pad, ho, wo, err := b.geometry(i, x, k)
	if err != nil {
		return err
	}
	bias, err := b.constant(i, 2, "bias", false)
	if err != nil {
		return err
	}
	if bias != nil {
		if err := b.floats(i, bias, "bias", o); err != nil {
			return err
		}
	}
	layer := b.add(i, "", &layers.Conv2D{Filters: o, Kernel: k, Stride: stride, Padding: pad, Bias: bias != nil}, x.layer)
	// OIHW -> HWIO: kernel[kh][kw][ci][co] = W[co][ci][kh][kw].
	gather := make([]int, len(w.Data))
	for r := range k {
		for c := range k {
			for ci := range cin {
				for co := range o {
					gather[((r*k+c)*cin+ci)*o+co] = ((co*cin+ci)*k+r)*k + c
				}
			}
		}
	}
	if err := b.param(i, layer, "kernel", w, len(w.Data), gather, false); err != nil {
		return err
	}
	if bias != nil {
		if err := b.param(i, layer, "biases", bias, o, nil, false); err != nil {
			return err
		}
	}
	b.vals[nd.Outputs[0]] = &value{layer: layer, kind: image, c: o, h: ho, w: wo}
	return nil
}

func (b *builder) batchNorm(i int) error {
	nd := &b.m.Nodes[i]
	if err := b.checkAttrs(i, "epsilon", "momentum", "training_mode"); err != nil {
		return err
	}
	x, err := b.val(i, 0)
	if err != nil {
		return err
	}
	if t, err := b.intAttr(i, "training_mode", 0); err != nil {
		return err
	} else if t != 0 {
		return b.errf(i, "training_mode %d: lqf reads the inference form (running statistics)", t)
	}
	eps, err := b.floatAttr(i, "epsilon", 1e-5)
	if err != nil {
		return err
	}
	mom, err := b.floatAttr(i, "momentum", 0.9)
	if err != nil {
		return err
	}
	if !(eps >= 0) || math.IsInf(float64(eps), 0) || !(mom >= 0 && mom < 1) {
		return b.errf(i, "epsilon %g and momentum %g: lqf needs epsilon >= 0 and momentum in [0, 1)", eps, mom)
	}
	// lqf reads 0 as its default (1e-5, 0.9): the smallest positive
	// float64 stands for 0, which it equals in float32 arithmetic.
	bn := &layers.BatchNorm{Epsilon: decimal(eps), Momentum: decimal(mom)}
	if bn.Epsilon == 0 {
		bn.Epsilon = math.SmallestNonzeroFloat64
	}
	if bn.Momentum == 0 {
		bn.Momentum = math.SmallestNonzeroFloat64
	}
	c := x.c // channels of a map or a pooled map, features of a vector
	names := []string{"scale", "B", "input_mean", "input_var"}
	vars := []string{"gamma", "beta", "mean", "variance"}
	ts := make([]*Tensor, 4)
	for j := range ts {
		if ts[j], err = b.constant(i, j+1, names[j], true); err != nil {
			return err
		}
		if err := b.floats(i, ts[j], names[j], c); err != nil {
			return err
		}
	}
	var gather []int
	if x.kind == vector && x.flat != nil {
		gather = make([]int, c)
		for f := range c {
			gather[x.lqfIndex(f)] = f
		}
	}
	layer := b.add(i, "", bn, x.layer)
	for j, t := range ts {
		if err := b.param(i, layer, vars[j], t, c, gather, j >= 2); err != nil {
			return err
		}
	}
	v := *x
	v.layer = layer
	b.vals[nd.Outputs[0]] = &v
	return nil
}

func (b *builder) activation(i int) error {
	nd := &b.m.Nodes[i]
	act := &layers.Activation{Fn: layers.ReLU}
	switch nd.OpType {
	case "Relu":
		if err := b.checkAttrs(i); err != nil {
			return err
		}
	case "LeakyRelu":
		if err := b.checkAttrs(i, "alpha"); err != nil {
			return err
		}
		alpha, err := b.floatAttr(i, "alpha", 0.01)
		if err != nil {
			return err
		}
		if math.IsNaN(float64(alpha)) || math.IsInf(float64(alpha), 0) {
			return b.errf(i, "alpha %g must be finite", alpha)
		}
		act = &layers.Activation{Fn: layers.LeakyReLU, Slope: decimal(alpha)}
	case "Clip":
		if err := b.checkAttrs(i, "min", "max"); err != nil {
			return err
		}
		lo, hi := math.Inf(-1), math.Inf(1)
		for j, bound := range []*float64{&lo, &hi} {
			name := []string{"min", "max"}[j]
			if f, ok, err := b.attr(i, name, AttrFloat); err != nil {
				return err
			} else if ok {
				*bound = float64(f.Float)
			}
			t, err := b.constant(i, j+1, name, false)
			if err != nil {
				return err
			}
			if t != nil {
				if len(t.Data) != 1 {
					return b.errf(i, "the %s %q must be one FLOAT value", name, t.Name)
				}
				*bound = float64(t.Data[0])
			}
		}
		if hi >= math.MaxFloat32 {
			hi = math.Inf(1)
		}
		switch {
		case lo == 0 && math.IsInf(hi, 1):
		case lo == 0:
			return b.errf(i, "Clip(0, %g) is ReLU%g, which lqf does not support (only Clip(0, +inf), a ReLU)", hi, hi)
		default:
			return b.errf(i, "Clip(%g, %g) is unsupported (only Clip(0, +inf), a ReLU)", lo, hi)
		}
	}
	x, err := b.val(i, 0)
	if err != nil {
		return err
	}
	v := *x
	v.layer = b.add(i, "", act, x.layer)
	b.vals[nd.Outputs[0]] = &v
	return nil
}

func (b *builder) pool(i int) error {
	nd := &b.m.Nodes[i]
	known := []string{"kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode"}
	if nd.OpType == "MaxPool" {
		known = append(known, "storage_order")
	} else {
		known = append(known, "count_include_pad")
	}
	if err := b.checkAttrs(i, known...); err != nil {
		return err
	}
	x, err := b.image(i, 0)
	if err != nil {
		return err
	}
	ks, ok, err := b.intsAttr(i, "kernel_shape")
	if err != nil {
		return err
	}
	if !ok || len(ks) != 2 || ks[0] != ks[1] {
		return b.errf(i, "kernel_shape %v: lqf supports square 2-D windows", ks)
	}
	if ks[0] < 1 || ks[0] > maxSide {
		return b.errf(i, "kernel_shape %v is out of range", ks)
	}
	k := int(ks[0])
	stride, pad, ho, wo, err := b.geometry(i, x, k)
	if err != nil {
		return err
	}
	if c, err := b.intAttr(i, "ceil_mode", 0); err != nil {
		return err
	} else if c != 0 {
		// ceil_mode 1 is fine where it rounds to the same size.
		ceil := func(n int) int { return (n+2*pad-k+stride-1)/stride + 1 }
		if ceil(x.h) != ho || ceil(x.w) != wo {
			return b.errf(i, "ceil_mode 1 gives a %dx%d output where lqf's floor gives %dx%d; lqf supports ceil_mode 0", ceil(x.h), ceil(x.w), ho, wo)
		}
	}
	var op layers.Op = &layers.MaxPool2D{Window: k, Stride: stride, Padding: pad}
	if nd.OpType == "AveragePool" {
		cip, err := b.intAttr(i, "count_include_pad", 0)
		if err != nil {
			return err
		}
		op = &layers.AvgPool2D{Window: k, Stride: stride, Padding: pad, CountPad: cip != 0}
	}
	layer := b.add(i, "", op, x.layer)
	b.vals[nd.Outputs[0]] = &value{layer: layer, kind: image, c: x.c, h: ho, w: wo}
	return nil
}

func (b *builder) globalPool(i int) error {
	if err := b.checkAttrs(i); err != nil {
		return err
	}
	x, err := b.image(i, 0)
	if err != nil {
		return err
	}
	layer := b.add(i, "", &layers.GlobalAvgPool{}, x.layer)
	b.vals[b.m.Nodes[i].Outputs[0]] = &value{layer: layer, kind: pooled, c: x.c}
	return nil
}

func (b *builder) add2(i int) error {
	nd := &b.m.Nodes[i]
	if err := b.checkAttrs(i); err != nil {
		return err
	}
	if len(nd.Inputs) != 2 {
		return b.errf(i, "takes %d inputs, want 2", len(nd.Inputs))
	}
	for _, in := range nd.Inputs {
		if b.consts[in] != nil {
			return b.errf(i, "adds the constant %q: lqf supports Add of two computed tensors (a residual connection), or a constant bias right after a MatMul", in)
		}
	}
	x, err := b.val(i, 0)
	if err != nil {
		return err
	}
	y, err := b.val(i, 1)
	if err != nil {
		return err
	}
	if !sameShape(x, y) {
		return b.errf(i, "adds tensors of shapes %s and %s: lqf supports Add of equal shapes (no broadcasting)", x, y)
	}
	v := *x
	v.layer = b.add(i, "", &layers.Sum{}, x.layer, y.layer)
	b.vals[nd.Outputs[0]] = &v
	return nil
}

// dense converts Gemm or MatMul node i (with its folded bias Add) into a
// Dense layer.
func (b *builder) dense(i int) error {
	nd := &b.m.Nodes[i]
	transB := false
	var c *Tensor
	var err error
	out := nd.Outputs[0]
	if nd.OpType == "Gemm" {
		if err := b.checkAttrs(i, "alpha", "beta", "transA", "transB"); err != nil {
			return err
		}
		alpha, err := b.floatAttr(i, "alpha", 1)
		if err != nil {
			return err
		}
		beta, err := b.floatAttr(i, "beta", 1)
		if err != nil {
			return err
		}
		ta, err := b.intAttr(i, "transA", 0)
		if err != nil {
			return err
		}
		tb, err := b.intAttr(i, "transB", 0)
		if err != nil {
			return err
		}
		if c, err = b.constant(i, 2, "C", false); err != nil {
			return err
		}
		if alpha != 1 || (c != nil && beta != 1) || ta != 0 {
			return b.errf(i, "alpha %g, beta %g, transA %d: lqf supports alpha = beta = 1 and transA = 0", alpha, beta, ta)
		}
		transB = tb != 0
	} else if err := b.checkAttrs(i); err != nil {
		return err
	} else if add, ok := b.biasAdd(i); ok && b.folded[add] {
		addNode := &b.m.Nodes[add]
		if err := b.checkAttrs(add); err != nil {
			return err
		}
		name := addNode.Inputs[0]
		if name == out {
			name = addNode.Inputs[1]
		}
		if c = b.consts[name]; c == nil {
			return b.errf(add, "the bias %q is not an initializer or the output of an earlier Constant node", name)
		}
		out = addNode.Outputs[0]
	}
	x, err := b.val(i, 0)
	if err != nil {
		return err
	}
	if x.kind != vector {
		return b.errf(i, "takes a %s tensor; lqf supports %s on features [N, F] (after Flatten)", x, nd.OpType)
	}
	w, err := b.constant(i, 1, "weights B", true)
	if err != nil {
		return err
	}
	if w.Data == nil || len(w.Dims) != 2 {
		return b.errf(i, "the weights %q must be a FLOAT matrix, got dims %v", w.Name, w.Dims)
	}
	f, units := w.Dims[0], w.Dims[1]
	if transB {
		f, units = units, f
	}
	if f != x.features() || units < 1 {
		return b.errf(i, "weights %q %v do not fit %d input features", w.Name, w.Dims, x.features())
	}
	if c != nil && (len(c.Data) != units || (len(c.Dims) != 1 && !(len(c.Dims) == 2 && c.Dims[0] == 1))) {
		return b.errf(i, "the bias %q has dims %v; lqf supports a bias [%d] or [1, %d]", c.Name, c.Dims, units, units)
	}
	head := i == b.head
	layer := b.add(i, "", &layers.Dense{Units: units, Bias: c != nil || head}, x.layer)
	gather := make([]int, f*units)
	for r := range f {
		lr := x.lqfIndex(r)
		for u := range units {
			if transB {
				gather[lr*units+u] = u*f + r
			} else {
				gather[lr*units+u] = r*units + u
			}
		}
	}
	if err := b.param(i, layer, "weights", w, f*units, gather, false); err != nil {
		return err
	}
	if c != nil || head {
		if err := b.param(i, layer, "biases", c, units, nil, false); err != nil {
			return err
		}
	}
	b.vals[out] = &value{layer: layer, kind: vector, c: units}
	return nil
}

// flatten converts Flatten (axis 1) and Reshape to [N, F].
func (b *builder) flatten(i int) error {
	nd := &b.m.Nodes[i]
	x, err := b.val(i, 0)
	if err != nil {
		return err
	}
	rank := 4
	if x.kind == vector {
		rank = 2
	}
	f := x.features()
	if nd.OpType == "Flatten" {
		if err := b.checkAttrs(i, "axis"); err != nil {
			return err
		}
		axis, err := b.intAttr(i, "axis", 1)
		if err != nil {
			return err
		}
		if axis < 0 {
			axis += int64(rank)
		}
		if axis != 1 {
			return b.errf(i, "axis %d of a %s tensor: lqf supports Flatten to [N, F] (axis 1)", axis, x)
		}
	} else {
		if err := b.checkAttrs(i, "allowzero"); err != nil {
			return err
		}
		zero, err := b.intAttr(i, "allowzero", 0)
		if err != nil {
			return err
		}
		s, err := b.constant(i, 1, "shape", true)
		if err != nil {
			return err
		}
		if s.Ints == nil || len(s.Ints) != 2 {
			return b.errf(i, "the shape %q must be 2 INT64 values; lqf supports Reshape to [N, F] only", s.Name)
		}
		s0, s1 := s.Ints[0], s.Ints[1]
		batch := int64(0)
		if len(b.m.InputDims) > 0 {
			batch = int64(b.m.InputDims[0])
		}
		ok1 := s1 == -1 || s1 == int64(f)
		ok0 := (s0 == -1 && s1 == int64(f)) || (s0 == 0 && zero == 0) || (s0 > 0 && s0 == batch)
		if !ok0 || !ok1 {
			return b.errf(i, "shape %v of a %s tensor: lqf supports Reshape to [N, F] only ([N, -1], [0, -1] or [-1, %d])", s.Ints, x, f)
		}
	}
	switch x.kind {
	case image:
		layer := b.add(i, "", &layers.Flatten{}, x.layer)
		b.vals[nd.Outputs[0]] = &value{layer: layer, kind: vector, c: f, flat: &[3]int{x.c, x.h, x.w}}
	default: // [N, C, 1, 1] or [N, F]: lqf already has [B, F]
		v := *x
		v.kind = vector
		b.vals[nd.Outputs[0]] = &v
	}
	return nil
}

func (b *builder) identity(i int) error {
	nd := &b.m.Nodes[i]
	if nd.OpType == "Dropout" {
		if err := b.checkAttrs(i, "ratio", "seed"); err != nil {
			return err
		}
	} else if err := b.checkAttrs(i); err != nil {
		return err
	}
	if len(nd.Inputs) == 0 || nd.Inputs[0] == "" {
		return b.errf(i, "input 0 is missing")
	}
	if t := b.consts[nd.Inputs[0]]; t != nil {
		b.consts[nd.Outputs[0]] = t
	} else {
		x, err := b.val(i, 0)
		if err != nil {
			return err
		}
		b.vals[nd.Outputs[0]] = x
	}
	b.skipped = append(b.skipped, fmt.Sprintf("%s (%s)", nodeLabel(nd.Name, i), nd.OpType))
	return nil
}

func (b *builder) constantNode(i int) error {
	nd := &b.m.Nodes[i]
	if len(nd.Attrs) != 1 {
		return b.errf(i, "has %d attributes, want one value", len(nd.Attrs))
	}
	var t *Tensor
	for name, a := range nd.Attrs {
		switch {
		case name == "value" && a.Type == AttrTensor && a.Tensor != nil:
			c := *a.Tensor
			t = &c
		case name == "value_ints" && a.Type == AttrInts:
			t = &Tensor{Dims: []int{len(a.Ints)}, Ints: a.Ints}
		case name == "value_int" && a.Type == AttrInt:
			t = &Tensor{Ints: []int64{a.Int}}
		case name == "value_floats" && a.Type == AttrFloats:
			t = &Tensor{Dims: []int{len(a.Floats)}, Data: a.Floats}
		case name == "value_float" && a.Type == AttrFloat:
			t = &Tensor{Data: []float32{a.Float}}
		default:
			return b.errf(i, "attribute %s (type %d): lqf reads value, value_ints, value_int, value_floats and value_float", name, a.Type)
		}
	}
	t.Name = nd.Outputs[0]
	b.consts[nd.Outputs[0]] = t
	return nil
}

// newHead appends a zero-initialized classifier on the value of tensor
// cut, with as many classes as node last (a Gemm or MatMul) has outputs.
func (b *builder) newHead(cut string, last int) error {
	x := b.vals[cut]
	if x == nil {
		return fmt.Errorf("onnx: Options.Cut %q is a constant, not features", cut)
	}
	if last < 0 {
		return fmt.Errorf("onnx: Options.Cut is set but the model has no Gemm or MatMul to take the number of classes from")
	}
	nd := &b.m.Nodes[last]
	units := 0
	if len(nd.Inputs) > 1 {
		if w := b.m.Initializers[nd.Inputs[1]]; w != nil && len(w.Dims) == 2 {
			units = w.Dims[1]
			if nd.OpType == "Gemm" {
				if a, ok := nd.Attrs["transB"]; ok && a.Type == AttrInt && a.Int != 0 {
					units = w.Dims[0]
				}
			}
		}
	}
	if units < 1 {
		return fmt.Errorf("onnx: node %s (%s): no weights initializer to take the number of classes from", nodeLabel(nd.Name, last), nd.OpType)
	}
	layer, f := x.layer, x.features()
	if f < 1 || f > maxNewHead/units {
		return fmt.Errorf("onnx: a new classifier on the %d features of %q with %d classes is too large", f, cut, units)
	}
	if x.kind == image {
		layer = b.add(-1, "features", &layers.Flatten{}, x.layer)
	}
	head := b.add(-1, "head", &layers.Dense{Units: units, Bias: true}, layer)
	b.params = append(b.params,
		pending{layer: head, name: "weights", size: f * units},
		pending{layer: head, name: "biases", size: units})
	return nil
}

// MapTensors converts tensors in ONNX layout keyed by initializer name (a
// direction, a gradient over the trainable initializers; a parameter that
// a Constant node holds is keyed by the Constant's output) into lqf
// variables keyed as Params is, applying exactly the transposes and
// permutations Convert applied to the weights (kernels OIHW -> HWIO, Dense
// weights to [F, Units] in lqf's feature order, per-feature vectors
// permuted likewise). Variables that lqf adds and no initializer feeds (a
// classifier's missing biases, a new head) are zero in the result. A key
// that is not a trainable initializer of the import (a frozen batch-norm
// statistic, an initializer cut away) or a tensor of the wrong size is an
// error.
func (imp *Import) MapTensors(byInitializer map[string][]float32) (map[string][]float32, error) {
	byInit := map[string]*paramMap{}
	out := map[string][]float32{}
	for j := range imp.maps {
		p := &imp.maps[j]
		if p.init != "" {
			byInit[p.init] = p
		} else if !p.frozen {
			out[p.key] = make([]float32, p.size)
		}
	}
	var bad []string
	for name, v := range byInitializer {
		p, ok := byInit[name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%q (not a parameter of the converted network)", name))
		case p.frozen:
			bad = append(bad, fmt.Sprintf("%q (the frozen batch-norm statistic %s)", name, p.key))
		case len(v) != p.size:
			bad = append(bad, fmt.Sprintf("%q (%d values, want %d)", name, len(v), p.size))
		default:
			dst := make([]float32, p.size)
			gatherInto(dst, v, p.gather)
			out[p.key] = dst
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("onnx: MapTensors: cannot map %s", strings.Join(bad, ", "))
	}
	return out, nil
}
