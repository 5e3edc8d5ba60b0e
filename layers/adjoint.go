package layers

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// CustomVJP builds forward(inputs) and gives it a hand-written reverse-mode
// rule: vjp(inputs, output, v) returns dL/dinput for every input (nil for
// none), given v = dL/doutput.
//
// GoMLX only offers custom gradients for identity-shaped nodes, while the
// operations lqf needs (im2col, convolution) change shape; and the pure-Go
// backend cannot differentiate Slice (its VJP needs Pad). So the output is
// wrapped in a custom identity that records its cotangent v, and each input
// in a custom identity whose gradient is computed from the recorded v. A
// zero-valued scalar term (0 * sum of the inputs) links the inputs to the
// output so that reverse mode reaches them; reverse mode visits the output
// before its inputs, so v is always recorded before it is used. When vjp is
// itself built from differentiable operations (for example other CustomVJP
// nodes), gradients of gradients work too.
func CustomVJP(inputs []*Node, forward func(inputs []*Node) *Node,
	vjp func(inputs []*Node, output, v *Node) []*Node) *Node {
	var cotangent, output *Node
	var grads []*Node
	wrapped := make([]*Node, len(inputs))
	var link *Node
	for i, x := range inputs {
		wrapped[i] = IdentityWithCustomGradient(x, func(_, _ *Node) *Node {
			if grads == nil {
				grads = vjp(inputs, output, cotangent)
			}
			if grads[i] == nil {
				return ZerosLike(inputs[i])
			}
			return grads[i]
		})
		s := ConvertDType(ReduceAllSum(wrapped[i]), inputs[0].DType())
		if link == nil {
			link = s
		} else {
			link = Add(link, s)
		}
	}
	// Stop the gradient at the output of forward, not at its inputs: reverse
	// mode would otherwise still visit forward's own operations.
	output = StopGradient(forward(inputs))
	y := Add(output, MulScalar(ConvertDType(link, output.DType()), 0))
	return IdentityWithCustomGradient(y, func(_, v *Node) *Node {
		cotangent, grads = v, nil
		return v
	})
}
