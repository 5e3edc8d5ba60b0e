package layers

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// JVPByDoubleVJP computes J v for any differentiable output f of params,
// given tangents v (aligned with params), by differentiating twice in reverse
// mode: J v = d/du <J^T u, v>, since J^T u = grad_params <f, u> is linear in
// u. It needs no tangent rules, so it checks Net.Linearized on any network
// (through the layers' reverse-mode rules); it costs about two backward
// passes.
func JVPByDoubleVJP(f *Node, params, tangents []*Node) *Node {
	u := ZerosLike(f)
	vjp := Gradient(ReduceAllSum(Mul(f, u)), params...)
	var s *Node
	for i, g := range vjp {
		term := ReduceAllSum(Mul(g, tangents[i]))
		s = addTangents(s, term)
	}
	return Gradient(s, u)[0]
}
