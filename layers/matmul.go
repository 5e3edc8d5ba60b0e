package layers

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// MatMul2D is the matrix product a [m, k] x b [k, n] -> [m, n] with the
// reverse-mode rule written as two plain matrix products,
// da = v b^T and db = a^T v.
//
// GoMLX's generic DotGeneral gradient can lower to a broadcast multiply
// followed by a reduction ([m, k, n] intermediate), which the pure-Go backend
// executes an order of magnitude slower than a matrix product.
func MatMul2D(a, b *Node) *Node {
	if a.Rank() != 2 || b.Rank() != 2 || a.Shape().Dimensions[1] != b.Shape().Dimensions[0] {
		panic(fmt.Sprintf("MatMul2D: shapes %s and %s do not multiply", a.Shape(), b.Shape()))
	}
	return CustomVJP([]*Node{a, b},
		func(in []*Node) *Node { return Dot(in[0], in[1]) },
		func(in []*Node, _, v *Node) []*Node {
			return []*Node{
				DotGeneral(v, []int{1}, nil, in[1], []int{1}, nil),
				DotGeneral(in[0], []int{0}, nil, v, []int{0}, nil),
			}
		})
}
