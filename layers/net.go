package layers

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Mode selects how batch normalization behaves.
type Mode int

const (
	// Eval uses the frozen running statistics: the network is a fixed
	// function of its parameters (what linearization needs).
	Eval Mode = iota
	// TrainBatchStats normalizes with batch statistics and updates the
	// running statistics (pretraining, NLFT).
	TrainBatchStats
)

// Scope names. Every trainable variable lives under ScopeBackbone or
// ScopeHead; the displacement dw of the linearized network under
// ScopeTangent; fine-tuning methods select parameters by these prefixes.
const (
	ScopeBackbone = "backbone"
	ScopeHead     = "head"
	ScopeTangent  = "tangent"
)

// InputName is the name by which a node refers to the network's input.
const InputName = "input"

// Input describes the images a Net takes: [B, Height, Width, Channels]
// float32 in [0, 1]. Mean and Std, if set (one value per channel), are the
// per-channel normalization applied first, x' = (x - Mean) / Std, so that
// data sets stay in [0, 1] whatever the network was trained on.
type Input struct {
	Height   int       `json:"height"`
	Width    int       `json:"width"`
	Channels int       `json:"channels"`
	Mean     []float64 `json:"mean,omitempty"`
	Std      []float64 `json:"std,omitempty"`
}

// Size is Height*Width*Channels, the values of one image.
func (in Input) Size() int { return in.Height * in.Width * in.Channels }

// String is "HxWxC".
func (in Input) String() string { return fmt.Sprintf("%dx%dx%d", in.Height, in.Width, in.Channels) }

// Node is one layer of a Net: its name (unique; the scope of its
// parameters), the names of the nodes (or InputName) whose outputs it takes,
// and the layer.
type Layer struct {
	Name   string
	Inputs []string
	Op     Op
}

// Net is a network as data: its input and its nodes in topological order
// (every node takes only earlier nodes or the input). The last node is the
// classifier, a Dense layer whose parameters live under ScopeHead; its
// input is the network's features.
type Net struct {
	Input  Input
	Layers []Layer
	// probe, if set, is called while an Eval-mode or linearized graph is
	// built (WithProbe).
	probe func(Unit)
}

// Op is one kind of layer. Its methods are the kind's rules; each kind
// lives in one file of this package.
type Op interface {
	// Kind is the layer kind's name in the JSON form (e.g. "conv2d").
	Kind() string
	// outShape returns the per-sample output shape ([H, W, C] or [F]) for
	// the per-sample input shapes, or an error naming what does not fit.
	outShape(in [][]int) ([]int, error)
	// forward builds the layer's output.
	forward(s *site, in []*Node) *Node
	// tangent builds the output and its tangent along dw (nil: zero).
	tangent(s *site, in []dual) dual
	// macs is the number of multiply-accumulates per image of the layer's
	// matrix products (0 for elementwise layers and reductions).
	macs(in [][]int, out []int) int64
}

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

// Classifier returns the classifier layer (the last one).
func (n *Net) Classifier() *Layer {
	if len(n.Layers) == 0 {
		return nil
	}
	return &n.Layers[len(n.Layers)-1]
}

// NumClasses is the number of outputs of the classifier.
func (n *Net) NumClasses() int {
	if d, ok := n.Classifier().Op.(*Dense); ok {
		return d.Units
	}
	return 0
}

// Clone returns a deep copy (layers are copied; the probe is kept).
func (n *Net) Clone() *Net {
	c := &Net{Input: n.Input, probe: n.probe}
	c.Input.Mean = slices.Clone(n.Input.Mean)
	c.Input.Std = slices.Clone(n.Input.Std)
	for _, nd := range n.Layers {
		c.Layers = append(c.Layers, Layer{Name: nd.Name, Inputs: slices.Clone(nd.Inputs), Op: cloneLayer(nd.Op)})
	}
	return c
}

// WithProbe returns a shallow copy of n whose Eval-mode and linearized
// graphs call probe for every Unit (what K-FAC records).
func (n *Net) WithProbe(probe func(Unit)) *Net {
	c := *n
	c.probe = probe
	return &c
}

// Scope returns the absolute variable scope of node name's parameters:
// ScopeHead for the classifier, ScopeBackbone/name otherwise.
func (n *Net) Scope(name string) string {
	if h := n.Classifier(); h != nil && h.Name == name {
		return context.ScopeSeparator + ScopeHead
	}
	return context.ScopeSeparator + ScopeBackbone + context.ScopeSeparator + name
}

// plan is what a Net's validation derives: per-sample shapes, consumers and
// the fused convolution + batch-norm pairs.
type plan struct {
	shapes    map[string][]int
	consumers map[string]int
	// fusedInto[conv] = bn: conv's only consumer is bn, so in Eval mode and
	// in the linearized pass the pair is one unit, the batch norm folded
	// into the kernel.
	fusedInto map[string]string
	fusedConv map[string]string // bn -> conv
	// hasTangent[name]: the node's output depends on trainable parameters.
	hasTangent map[string]bool
}

// Validate checks the net: a positive input, unique names, inputs that
// precede their node, layer shapes that fit, and a Dense classifier last.
// Its error names the node and what is wrong.
func (n *Net) Validate() error {
	_, err := n.plan()
	return err
}

func (n *Net) plan() (*plan, error) {
	in := n.Input
	if in.Height < 1 || in.Width < 1 || in.Channels < 1 {
		return nil, fmt.Errorf("layers: input %s must be positive", in)
	}
	for what, v := range map[string][]float64{"mean": in.Mean, "std": in.Std} {
		if v != nil && len(v) != in.Channels {
			return nil, fmt.Errorf("layers: input normalization %s has %d values for %d channels", what, len(v), in.Channels)
		}
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || (what == "std" && x <= 0) {
				return nil, fmt.Errorf("layers: input normalization %s %v must be finite (std > 0)", what, v)
			}
		}
	}
	if len(n.Layers) == 0 {
		return nil, fmt.Errorf("layers: the network has no layers")
	}
	p := &plan{shapes: map[string][]int{InputName: {in.Height, in.Width, in.Channels}}, consumers: map[string]int{},
		fusedInto: map[string]string{}, fusedConv: map[string]string{}, hasTangent: map[string]bool{}}
	for i, nd := range n.Layers {
		if nd.Name == "" || nd.Name == InputName || strings.HasPrefix(nd.Name, "/") || strings.HasSuffix(nd.Name, "/") || strings.Contains(nd.Name, "//") {
			return nil, fmt.Errorf("layers: node %d has an invalid name %q (non-empty, not %q, no leading, trailing or double '/')", i, nd.Name, InputName)
		}
		if _, dup := p.shapes[nd.Name]; dup {
			return nil, fmt.Errorf("layers: node name %q is used twice", nd.Name)
		}
		if nd.Op == nil {
			return nil, fmt.Errorf("layers: node %q has no layer", nd.Name)
		}
		if len(nd.Inputs) == 0 {
			return nil, fmt.Errorf("layers: node %q (%s) takes no input", nd.Name, nd.Op.Kind())
		}
		ins := make([][]int, len(nd.Inputs))
		for j, name := range nd.Inputs {
			s, ok := p.shapes[name]
			if !ok {
				return nil, fmt.Errorf("layers: node %q takes %q, which is not an earlier node", nd.Name, name)
			}
			ins[j] = s
			p.consumers[name]++
			p.hasTangent[nd.Name] = p.hasTangent[nd.Name] || p.hasTangent[name]
		}
		out, err := nd.Op.outShape(ins)
		if err != nil {
			return nil, fmt.Errorf("layers: node %q (%s): %w", nd.Name, nd.Op.Kind(), err)
		}
		p.shapes[nd.Name] = out
		if hasParams(nd.Op) {
			p.hasTangent[nd.Name] = true
		}
	}
	head := n.Classifier()
	d, ok := head.Op.(*Dense)
	if !ok || len(head.Inputs) != 1 || len(p.shapes[head.Inputs[0]]) != 1 {
		return nil, fmt.Errorf("layers: the last node %q must be the classifier, a Dense layer on a feature vector [F]", head.Name)
	}
	if !d.hasBias() {
		return nil, fmt.Errorf("layers: the classifier %q needs biases", head.Name)
	}
	if p.consumers[head.Name] > 0 {
		return nil, fmt.Errorf("layers: the classifier %q must be the output, not an input of another node", head.Name)
	}
	for _, nd := range n.Layers {
		bn, ok := nd.Op.(*BatchNorm)
		if !ok || bn == nil {
			continue
		}
		src := nd.Inputs[0]
		if _, ok := n.node(src).(*Conv2D); ok && p.consumers[src] == 1 {
			p.fusedInto[src], p.fusedConv[nd.Name] = nd.Name, src
		}
	}
	return p, nil
}

// node returns the layer of the node called name (nil for the input).
func (n *Net) node(name string) Op {
	for i := range n.Layers {
		if n.Layers[i].Name == name {
			return n.Layers[i].Op
		}
	}
	return nil
}

// FeatureDim is the width of the classifier's input.
func (n *Net) FeatureDim() int {
	p, err := n.plan()
	if err != nil {
		return 0
	}
	return p.shapes[n.Classifier().Inputs[0]][0]
}

// Shapes returns each node's per-sample output shape (and the input's).
func (n *Net) Shapes() (map[string][]int, error) {
	p, err := n.plan()
	if err != nil {
		return nil, err
	}
	return p.shapes, nil
}

// site is what a layer's rules see while a graph is built: its node, the
// context scoped to its parameters, the mode and the probe.
type site struct {
	net   *Net
	node  *Layer
	ctx   *context.Context // at the node's scope
	g     *Graph
	mode  Mode
	probe func(Unit)
	in    [][]int // per-sample input shapes
	dt    dtypes.DType
}

// variable returns (creating it on first use) the node's parameter name
// [dims] in the graph's dtype; init runs when it is created.
func (s *site) variable(name string, dims []int, init initializers.VariableInitializer, trainable bool) *context.Variable {
	v := s.ctx.WithInitializer(init).VariableWithShape(name, shapes.Make(s.dt, dims...))
	if !trainable {
		v.SetTrainable(false)
	}
	return v
}

// value is the variable's value in the graph being built.
func (s *site) value(v *context.Variable) *Node { return v.ValueGraph(s.g) }

// tangentOf is the displacement dw of parameter v.
func (s *site) tangentOf(v *context.Variable) *Node { return TangentVariable(s.ctx, s.g, v) }

// Unit describes, for K-FAC (paper Sec. 3.2), one linear map of an Eval-mode
// or linearized pass with its frozen batch norm: a convolution,
// Output = conv(Input, Kernel * Scale) + Bias * Scale + Beta - Mean * Scale
// with Scale = Gamma * InvSigma (BN fields nil without a batch norm), a
// Dense layer, Output = Input Kernel + Bias, or a batch norm alone
// (Kernel nil), Output = Input * Scale + Beta - Mean * Scale.
type Unit struct {
	// Scope holds the kernel (or weights) and biases; BNScope, if not
	// empty, gamma and beta.
	Scope, BNScope string
	Input, Output  *Node
	// Geometry is the convolution's window (zero for Dense).
	Geometry ConvGeometry
	Conv     bool
	Kernel   *Node
	// HasBias: the unit has its own bias parameter ("biases").
	HasBias        bool
	Scale          *Node
	Mean, InvSigma *Node
	IsHead         bool
}

// Logits is the full network: x [B, H, W, C] -> logits [B, NumClasses].
func (n *Net) Logits(ctx *context.Context, x *Node, mode Mode) *Node {
	return n.run(ctx, x, mode, false, "").p
}

// Features maps images x [B, H, W, C] to the classifier's input [B, F].
func (n *Net) Features(ctx *context.Context, x *Node, mode Mode) *Node {
	return n.run(ctx, x, mode, false, n.Classifier().Inputs[0]).p
}

// Head applies the classifier to features [B, F] -> logits [B, NumClasses]
// (its weights are created for the features' width F).
func (n *Net) Head(ctx *context.Context, features *Node) *Node {
	p := n.mustPlan()
	h := n.Classifier()
	s := n.site(ctx, features.Graph(), features.DType(), h, Eval, p)
	s.in = [][]int{features.Shape().Dimensions[1:]} // the features given, whatever their width
	return h.Op.forward(s, []*Node{features})
}

// Linearized is the first-order Taylor expansion of Logits around the
// parameters w0 in ctx, with frozen batch-norm statistics (paper eq. 1):
//
//	f_lin(x) = f0(x) + J(x) dw,
//
// returned as f0 [B, NumClasses] and J(x) dw [B, NumClasses], with dw the
// variables under ScopeTangent (one per trainable parameter, zero
// initialized). It is one modified forward pass that carries the tangent
// through every layer ("gradients as features"), each layer by its rule:
//
//	conv, dense: dy = W0 dx + dW x (+ db)
//	batch norm:  dy = (gamma/sigma) dx + dgamma xhat + dbeta (frozen mean, sigma)
//	activation:  dy = phi'(z0) dz  (1 for z0 > 0, the slope otherwise)
//	pooling, residual sums, flatten: linear (max pooling: the tangent of the argmax).
//
// Only dw receives gradients when f_lin is trained: f0 and the activation
// pattern depend on w0 alone.
//
// To get f0 alone, call Logits in Eval mode rather than returning only f0
// from an Exec of Linearized: GoMLX v0.26.0's pure-Go backend sizes its
// buffers by the index of the last output node and fails with "index out
// of range" on a graph that has a parameter created after it, as the
// tangent variables dw are. The smallest such graph is x -> Neg(x) with a
// second, unused Parameter created after Neg.
func (n *Net) Linearized(ctx *context.Context, x *Node) (f0, jdw *Node) {
	out := n.run(ctx, x, Eval, true, "")
	return out.p, out.t
}

// LinearizedLogits is f0(x) + J(x) dw: the model function LQF trains.
func (n *Net) LinearizedLogits(ctx *context.Context, x *Node) *Node {
	f0, jdw := n.Linearized(ctx, x)
	if jdw == nil {
		return f0
	}
	return Add(StopGradient(f0), jdw)
}

// LinearizedHead is the linearization of the classifier alone, on fixed
// features h [B, F]: f0 + h dW + db with f0 = h W + b (LQF-FC).
func (n *Net) LinearizedHead(ctx *context.Context, h *Node) *Node {
	p := n.mustPlan()
	hd := n.Classifier()
	s := n.site(ctx, h.Graph(), h.DType(), hd, Eval, p)
	s.in = [][]int{h.Shape().Dimensions[1:]}
	out := hd.Op.tangent(s, []dual{{p: h}})
	return Add(StopGradient(out.p), out.t)
}

func (n *Net) mustPlan() *plan {
	p, err := n.plan()
	if err != nil {
		panic(err)
	}
	return p
}

func (n *Net) site(ctx *context.Context, g *Graph, dt dtypes.DType, nd *Layer, mode Mode, p *plan) *site {
	in := make([][]int, len(nd.Inputs))
	for i, name := range nd.Inputs {
		in[i] = p.shapes[name]
	}
	return &site{net: n, node: nd, ctx: ctx.InAbsPath(n.Scope(nd.Name)).Checked(false), g: g, mode: mode, probe: n.probe, in: in, dt: dt}
}

// run builds the graph up to node stop ("" for the output): the plain pass
// in mode, or with linearized the pass carrying the tangent (Eval).
func (n *Net) run(ctx *context.Context, x *Node, mode Mode, linearized bool, stop string) dual {
	p := n.mustPlan()
	want := []int{n.Input.Height, n.Input.Width, n.Input.Channels}
	if got := x.Shape().Dimensions; len(got) != 4 || !slices.Equal(got[1:], want) {
		panic(fmt.Errorf("layers: the network takes images [B, %d, %d, %d], got %s", want[0], want[1], want[2], x.Shape()))
	}
	if linearized {
		mode = Eval
	}
	vals := map[string]dual{InputName: {p: n.normalize(x)}}
	for i := range n.Layers {
		nd := &n.Layers[i]
		if _, ok := p.fusedInto[nd.Name]; ok && mode == Eval {
			continue // computed with its batch norm
		}
		s := n.site(ctx, x.Graph(), x.DType(), nd, mode, p)
		ins := make([]dual, len(nd.Inputs))
		for j, name := range nd.Inputs {
			ins[j] = vals[name]
		}
		var out dual
		if conv, ok := p.fusedConv[nd.Name]; ok && mode == Eval {
			cn := &n.Layers[slices.IndexFunc(n.Layers, func(m Layer) bool { return m.Name == conv })]
			cs := n.site(ctx, x.Graph(), x.DType(), cn, mode, p)
			cins := []dual{vals[cn.Inputs[0]]}
			out = fusedConvBN(cs, s, cins[0], linearized)
		} else if linearized {
			out = nd.Op.tangent(s, ins)
		} else {
			vs := make([]*Node, len(ins))
			for j, v := range ins {
				vs[j] = v.p
			}
			out = dual{p: nd.Op.forward(s, vs)}
		}
		vals[nd.Name] = out
		if nd.Name == stop {
			return out
		}
	}
	return vals[n.Classifier().Name]
}

// normalize applies the input's per-channel normalization, if any.
func (n *Net) normalize(x *Node) *Node {
	if n.Input.Mean == nil && n.Input.Std == nil {
		return x
	}
	c := n.Input.Channels
	mean, inv := make([]float64, c), make([]float64, c)
	for i := range c {
		inv[i] = 1
		if n.Input.Mean != nil {
			mean[i] = n.Input.Mean[i]
		}
		if n.Input.Std != nil {
			inv[i] = 1 / n.Input.Std[i]
		}
	}
	g := x.Graph()
	m := ConvertDType(Const(g, mean), x.DType())
	s := ConvertDType(Const(g, inv), x.DType())
	return Mul(Sub(x, Reshape(m, 1, 1, 1, c)), Reshape(s, 1, 1, 1, c))
}

// MultiplyAccumulates returns the multiply-accumulates per image of the
// network's matrix products (convolutions and dense layers) in the plain
// forward pass and in the linearized pass f0 + J dw. A layer whose input
// carries a tangent costs three products there, conv(x, K) for f0,
// conv(x, dK) and conv(dx, K) for the tangent: forward-mode differentiation
// of a bilinear map, whose dual-number form (a + a' e)(b + b' e) =
// ab + (ab' + a'b) e needs three multiplications (the bilinear rank of
// R[e]/(e^2) is 3). A layer reading the image costs two. Batch norm,
// activations and pooling are elementwise or reductions and are not counted
// (nor bilinear pooling's covariance and matrix square root).
func (n *Net) MultiplyAccumulates() (forward, linearized int64, err error) {
	p, err := n.plan()
	if err != nil {
		return 0, 0, err
	}
	for _, nd := range n.Layers {
		ins := make([][]int, len(nd.Inputs))
		tangentIn := false
		for j, name := range nd.Inputs {
			ins[j] = p.shapes[name]
			tangentIn = tangentIn || p.hasTangent[name]
		}
		m := nd.Op.macs(ins, p.shapes[nd.Name])
		forward += m
		if tangentIn {
			linearized += 3 * m
		} else {
			linearized += 2 * m
		}
	}
	return forward, linearized, nil
}

// TangentVariable returns dw for parameter v: same shape, zero initialized,
// at v's scope below ScopeTangent.
func TangentVariable(ctx *context.Context, g *Graph, v *context.Variable) *Node {
	t := ctx.InAbsPath(context.ScopeSeparator+ScopeTangent+v.Scope()).Checked(false).
		WithInitializer(initializers.Zero).VariableWithShape(v.Name(), v.Shape())
	return t.ValueGraph(g)
}

// jsonNode is a Node's JSON form: {"name", "op", "inputs", "attrs"}.
type jsonNode struct {
	Name   string          `json:"name"`
	Op     string          `json:"op"`
	Inputs []string        `json:"inputs"`
	Attrs  json.RawMessage `json:"attrs,omitempty"`
}

// MarshalJSON writes the node with its layer kind and attributes.
func (nd Layer) MarshalJSON() ([]byte, error) {
	if nd.Op == nil {
		return nil, fmt.Errorf("layers: node %q has no layer", nd.Name)
	}
	attrs, err := json.Marshal(nd.Op)
	if err != nil {
		return nil, err
	}
	return json.Marshal(jsonNode{Name: nd.Name, Op: nd.Op.Kind(), Inputs: nd.Inputs, Attrs: attrs})
}

// UnmarshalJSON reads a node written by MarshalJSON; unknown kinds and
// unknown attributes are errors.
func (nd *Layer) UnmarshalJSON(b []byte) error {
	var j jsonNode
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	mk, ok := kinds[j.Op]
	if !ok {
		names := make([]string, 0, len(kinds))
		for k := range kinds {
			names = append(names, k)
		}
		slices.Sort(names)
		return fmt.Errorf("layers: node %q has unknown op %q (known: %s)", j.Name, j.Op, strings.Join(names, ", "))
	}
	l := mk()
	if len(j.Attrs) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(j.Attrs)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(l); err != nil {
			return fmt.Errorf("layers: node %q (%s) attributes: %w", j.Name, j.Op, err)
		}
	}
	*nd = Layer{Name: j.Name, Inputs: j.Inputs, Op: l}
	return nil
}

// kinds maps each layer kind's name to a constructor of its zero value.
var kinds = map[string]func() Op{}

func register(mk func() Op) { kinds[mk().Kind()] = mk }

// cloneLayer copies a layer through its JSON form.
func cloneLayer(l Op) Op {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err)
	}
	c := kinds[l.Kind()]()
	if err := json.Unmarshal(b, c); err != nil {
		panic(err)
	}
	return c
}

// hasParams reports whether the layer has trainable parameters.
func hasParams(l Op) bool {
	switch l.(type) {
	case *Conv2D, *Dense, *BatchNorm:
		return true
	}
	return false
}

// jsonNet is a Net's JSON form.
type jsonNet struct {
	Input  Input   `json:"input"`
	Layers []Layer `json:"layers"`
}

// MarshalJSON writes the input and the layers.
func (n *Net) MarshalJSON() ([]byte, error) { return json.Marshal(jsonNet{n.Input, n.Layers}) }

// UnmarshalJSON reads a Net written by MarshalJSON (it does not validate:
// call Validate).
func (n *Net) UnmarshalJSON(b []byte) error {
	var j jsonNet
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*n = Net{Input: j.Input, Layers: j.Layers}
	return nil
}
