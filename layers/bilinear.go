package layers

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// Bilinear pooling computes sqrt(Sigma) by the coupled Newton-Schulz
// iteration (Higham; iSQRT-COV) on A = Sigma/||Sigma||_F + eps I:
//
//	Y0 = A, Z0 = I;  T = (3I - Z Y)/2, Y <- Y T, Z <- T Z;  sqrt(Sigma) ~ Y sqrt(||Sigma||_F),
//
// made of matrix products only, so it runs and differentiates on every
// backend, and its linearization is the same iteration on dual numbers: the
// exact derivative of what the network computes (which tends to the solution
// X of sqrt(Sigma) X + X sqrt(Sigma) = dSigma of paper eq. 14).
const (
	bilinearIterations = 12
	bilinearEpsilon    = 1e-3
)

// BatchMatMul multiplies a [B, m, k] by b [B, k, n] per batch element, with
// a hand-written reverse-mode rule of batched matrix products (see MatMul2D).
func BatchMatMul(a, b *Node) *Node {
	if a.Rank() != 3 || b.Rank() != 3 || a.Shape().Dimensions[2] != b.Shape().Dimensions[1] {
		panic(fmt.Sprintf("BatchMatMul: shapes %s and %s do not multiply", a.Shape(), b.Shape()))
	}
	return CustomVJP([]*Node{a, b},
		func(in []*Node) *Node { return DotGeneral(in[0], []int{2}, []int{0}, in[1], []int{1}, []int{0}) },
		func(in []*Node, _, v *Node) []*Node {
			return []*Node{
				DotGeneral(v, []int{2}, []int{0}, in[1], []int{2}, []int{0}), // v b^T: [B, m, k]
				DotGeneral(in[0], []int{1}, []int{0}, v, []int{1}, []int{0}), // a^T v: [B, k, n]
			}
		})
}

// dualMatMul is the product rule: (a, da)(b, db) = (ab, da b + a db).
func dualMatMul(a, b dual) dual {
	out := dual{p: BatchMatMul(a.p, b.p)}
	if a.t != nil {
		out.t = BatchMatMul(a.t, b.p)
	}
	if b.t != nil {
		out.t = addTangents(out.t, BatchMatMul(a.p, b.t))
	}
	return out
}

// batchedIdentity returns I as [B, c, c] in x's dtype.
func batchedIdentity(x *Node, b, c int) *Node {
	eye := Reshape(DiagonalWithValue(ScalarOne(x.Graph(), x.DType()), c), 1, c, c)
	return BroadcastToDims(eye, b, c, c)
}

// bilinearPool maps h [B, H, W, C] (with its tangent, if any) to the
// square-root-normalized bilinear features [B, C*C].
func bilinearPool(h dual) dual {
	dims := h.p.Shape().Dimensions
	b, hw, c := dims[0], dims[1]*dims[2], dims[3]
	x := dual{p: Reshape(h.p, b, hw, c)}
	if h.t != nil {
		x.t = Reshape(h.t, b, hw, c)
	}
	// Sigma = X^T X / HW.
	xt := dual{p: TransposeAllDims(x.p, 0, 2, 1)}
	if x.t != nil {
		xt.t = TransposeAllDims(x.t, 0, 2, 1)
	}
	sigma := dualMatMul(xt, x)
	sigma.p = MulScalar(sigma.p, 1/float64(hw))
	if sigma.t != nil {
		sigma.t = MulScalar(sigma.t, 1/float64(hw))
	}
	// A = Sigma / n + eps I with n = ||Sigma||_F (per sample).
	n := Sqrt(ReduceAndKeep(Square(sigma.p), ReduceSum, 1, 2)) // [B, 1, 1]
	nb := BroadcastToDims(n, b, c, c)
	eye := batchedIdentity(sigma.p, b, c)
	a := dual{p: Add(Div(sigma.p, nb), MulScalar(eye, bilinearEpsilon))}
	var dn *Node
	if sigma.t != nil {
		dn = Div(ReduceAndKeep(Mul(sigma.p, sigma.t), ReduceSum, 1, 2), n) // <Sigma, dSigma> / n
		dnb := BroadcastToDims(dn, b, c, c)
		a.t = Sub(Div(sigma.t, nb), Div(Mul(sigma.p, dnb), Mul(nb, nb)))
	}
	y, z := a, dual{p: eye}
	three := MulScalar(eye, 3)
	for range bilinearIterations {
		zy := dualMatMul(z, y)
		t := dual{p: MulScalar(Sub(three, zy.p), 0.5)}
		if zy.t != nil {
			t.t = MulScalar(Neg(zy.t), 0.5)
		}
		y, z = dualMatMul(y, t), dualMatMul(t, z)
	}
	sq := Sqrt(nb)
	out := dual{p: Reshape(Mul(y.p, sq), b, c*c)}
	if y.t != nil {
		// d(Y sqrt(n)) = dY sqrt(n) + Y dn / (2 sqrt(n)).
		dnb := BroadcastToDims(dn, b, c, c)
		out.t = Reshape(Add(Mul(y.t, sq), Div(Mul(y.p, dnb), MulScalar(sq, 2))), b, c*c)
	}
	return out
}
