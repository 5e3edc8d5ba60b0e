package layers

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Dense is a fully connected layer on feature vectors: [F] -> [Units],
// y = x W + b, weights [F, Units] (random normal with std 1/sqrt(F)),
// biases [Units] (zero) when Bias. The last node of a Net, the classifier,
// is a Dense layer with biases. Linearized: dy = dx W + x dW + db.
type Dense struct {
	Units int  `json:"units"`
	Bias  bool `json:"bias"`
}

// Flatten reshapes [H, W, C] to [H*W*C] in NHWC order (row, column,
// channel), for a Dense layer after convolutions.
type Flatten struct{}

// Sum adds its inputs, which must have the same shape (residual
// connections).
type Sum struct{}

func init() {
	register(func() Op { return &Dense{} })
	register(func() Op { return &Flatten{} })
	register(func() Op { return &Sum{} })
}

// Kind is "dense".
func (*Dense) Kind() string { return "dense" }

// Kind is "flatten".
func (*Flatten) Kind() string { return "flatten" }

// Kind is "add".
func (*Sum) Kind() string { return "add" }

func (d *Dense) hasBias() bool { return d.Bias }

func (d *Dense) outShape(in [][]int) ([]int, error) {
	if len(in) != 1 || len(in[0]) != 1 {
		return nil, fmt.Errorf("takes one feature vector [F] (add a flatten or pooling node before it), got %v", in)
	}
	if d.Units < 1 {
		return nil, fmt.Errorf("units %d must be positive", d.Units)
	}
	return []int{d.Units}, nil
}

func (d *Dense) macs(in [][]int, _ []int) int64 { return int64(in[0][0]) * int64(d.Units) }

func (d *Dense) variables(s *site) (w, b *context.Variable) {
	f := s.in[0][0]
	w = s.variable("weights", []int{f, d.Units}, initializers.RandomNormalFn(s.ctx, 1/math.Sqrt(float64(f))), true)
	if d.Bias {
		b = s.variable("biases", []int{d.Units}, initializers.Zero, true)
	}
	return w, b
}

// affine is x W (+ b): the bias as a broadcast row.
func (d *Dense) affine(x, w, b *Node) *Node {
	y := MatMul2D(x, w)
	if b == nil {
		return y
	}
	return Add(y, Reshape(b, 1, d.Units))
}

func (d *Dense) forward(s *site, in []*Node) *Node {
	w, b := d.variables(s)
	var bias *Node
	if b != nil {
		bias = s.value(b)
	}
	y := d.affine(in[0], s.value(w), bias)
	if s.probe != nil && s.mode == Eval {
		head := s.net.Classifier() == s.node
		s.probe(Unit{Scope: s.ctx.Scope(), Input: in[0], Output: y, Kernel: s.value(w), HasBias: b != nil, IsHead: head})
	}
	return y
}

func (d *Dense) tangent(s *site, in []dual) dual {
	w, b := d.variables(s)
	var bias, db *Node
	if b != nil {
		bias, db = s.value(b), s.tangentOf(b)
	}
	W := s.value(w)
	out := dual{p: d.affine(in[0].p, W, bias), t: d.affine(in[0].p, s.tangentOf(w), db)}
	if in[0].t != nil {
		out.t = Add(out.t, MatMul2D(in[0].t, W))
	}
	return out
}

func (*Flatten) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	return []int{in[0][0] * in[0][1] * in[0][2]}, nil
}

func (*Flatten) macs([][]int, []int) int64 { return 0 }

func flatten(x *Node) *Node { return Reshape(x, x.Shape().Dimensions[0], -1) }

func (*Flatten) forward(_ *site, in []*Node) *Node { return flatten(in[0]) }

func (*Flatten) tangent(_ *site, in []dual) dual {
	out := dual{p: flatten(in[0].p)}
	if in[0].t != nil {
		out.t = flatten(in[0].t)
	}
	return out
}

func (*Sum) outShape(in [][]int) ([]int, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("takes at least two inputs, got %d", len(in))
	}
	for _, s := range in[1:] {
		if fmt.Sprint(s) != fmt.Sprint(in[0]) {
			return nil, fmt.Errorf("inputs of shapes %v differ", in)
		}
	}
	return in[0], nil
}

func (*Sum) macs([][]int, []int) int64 { return 0 }

func (*Sum) forward(_ *site, in []*Node) *Node {
	y := in[0]
	for _, x := range in[1:] {
		y = Add(y, x)
	}
	return y
}

func (*Sum) tangent(_ *site, in []dual) dual {
	out := in[0]
	for _, x := range in[1:] {
		out = dual{Add(out.p, x.p), addTangents(out.t, x.t)}
	}
	return out
}
