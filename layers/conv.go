package layers

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// ConvGeometry describes a square 2-D convolution window over NHWC images.
type ConvGeometry struct {
	Kernel  int // window size k (k x k)
	Stride  int // s >= 1
	Padding int // zeros added on every side
}

// OutputSize is floor((n + 2*Padding - Kernel) / Stride) + 1.
func (g ConvGeometry) OutputSize(n int) int {
	return (n+2*g.Padding-g.Kernel)/g.Stride + 1
}

func (g ConvGeometry) validate(h, w int) {
	if g.Kernel < 1 || g.Stride < 1 || g.Padding < 0 {
		panic(fmt.Sprintf("invalid convolution geometry %+v", g))
	}
	if g.OutputSize(h) < 1 || g.OutputSize(w) < 1 {
		panic(fmt.Sprintf("convolution %+v does not fit a %dx%d input", g, h, w))
	}
}

// padZeros concatenates before and after zeros along axis (Pad-free, so it
// runs on every backend).
func padZeros(x *Node, axis, before, after int) *Node { return padWith(x, axis, before, after, 0) }

// padWith concatenates before and after copies of the value fill along axis.
func padWith(x *Node, axis, before, after int, fill float64) *Node {
	if before == 0 && after == 0 {
		return x
	}
	parts := make([]*Node, 0, 3)
	block := func(n int) *Node {
		dims := x.Shape().Clone().Dimensions
		dims[axis] = n
		if fill == 0 {
			return Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
		}
		return BroadcastToDims(Scalar(x.Graph(), x.DType(), fill), dims...)
	}
	if before > 0 {
		parts = append(parts, block(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, block(after))
	}
	return Concatenate(parts, axis)
}

// im2colRaw maps x [B, H, W, C] to patches [B, Ho, Wo, k*k*C], patch
// entries ordered (di, dj, c) to match a kernel [k, k, C, Cout] reshaped to
// [k*k*C, Cout]. It uses only Concatenate and strided Slice.
func im2colRaw(x *Node, geo ConvGeometry) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	geo.validate(h, w)
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	k, s, p := geo.Kernel, geo.Stride, geo.Padding
	// Pad so that every tap's strided window fits; extra rows/cols beyond
	// the padding are never read.
	xp := padZeros(x, 1, p, max(0, s*(ho-1)+k-h-p))
	xp = padZeros(xp, 2, p, max(0, s*(wo-1)+k-w-p))
	if k == 1 && s == 1 && p == 0 {
		return x
	}
	taps := make([]*Node, 0, k*k)
	for di := 0; di < k; di++ {
		for dj := 0; dj < k; dj++ {
			taps = append(taps, Slice(xp, AxisRange(),
				AxisRange(di, di+s*(ho-1)+1).Stride(s),
				AxisRange(dj, dj+s*(wo-1)+1).Stride(s),
				AxisRange()))
		}
	}
	if len(taps) == 1 {
		return taps[0]
	}
	return Concatenate(taps, 3)
}

// col2imRaw is the adjoint of im2colRaw: it maps patch cotangents
// [B, Ho, Wo, k*k*C] back to image cotangents [B, H, W, C], summing the
// overlapping windows. Strides are handled by phases: taps with the same
// (di mod s, dj mod s) land on one sub-grid, shifted by (di div s, dj div s);
// the s*s sub-grids are then interleaved with Stack+Reshape.
func col2imRaw(dp *Node, h, w int, geo ConvGeometry) *Node {
	dims := dp.Shape().Dimensions
	b, ho, wo := dims[0], dims[1], dims[2]
	k, s, p := geo.Kernel, geo.Stride, geo.Padding
	c := dims[3] / (k * k)
	if k == 1 && s == 1 && p == 0 {
		return dp
	}
	hc, wc := ho+(k-1)/s, wo+(k-1)/s // coarse grid of each phase
	phases := make([]*Node, 0, s*s)
	for ri := 0; ri < s; ri++ {
		for rj := 0; rj < s; rj++ {
			var acc *Node
			for di := ri; di < k; di += s {
				for dj := rj; dj < k; dj += s {
					t := di*k + dj
					tap := Slice(dp, AxisRange(), AxisRange(), AxisRange(), AxisRange(t*c, (t+1)*c))
					oi, oj := di/s, dj/s
					tap = padZeros(tap, 1, oi, hc-ho-oi)
					tap = padZeros(tap, 2, oj, wc-wo-oj)
					if acc == nil {
						acc = tap
					} else {
						acc = Add(acc, tap)
					}
				}
			}
			if acc == nil { // kernel smaller than stride: this phase is never read
				acc = Zeros(dp.Graph(), shapes.Make(dp.DType(), b, hc, wc, c))
			}
			phases = append(phases, acc)
		}
	}
	var fine *Node
	if s == 1 {
		fine = phases[0]
	} else {
		// phases[ri*s+rj] -> [B, hc, s(ri), wc, s(rj), C] -> [B, s*hc, s*wc, C]
		rows := make([]*Node, s)
		for ri := 0; ri < s; ri++ {
			rows[ri] = Stack(phases[ri*s:(ri+1)*s], 3) // [B, hc, wc, s, C]
		}
		fine = Stack(rows, 2) // [B, hc, s, wc, s, C]
		fine = Reshape(fine, b, s*hc, s*wc, c)
	}
	// Crop the padding away (and extend with zeros where the windows never reached).
	fh, fw := s*hc, s*wc
	fine = padZeros(fine, 1, 0, max(0, p+h-fh))
	fine = padZeros(fine, 2, 0, max(0, p+w-fw))
	return Slice(fine, AxisRange(), AxisRange(p, p+h), AxisRange(p, p+w), AxisRange())
}

// Im2Col extracts convolution patches: x [B, H, W, C] -> [B, Ho, Wo, k*k*C].
// Its VJP is Col2Im, written with the same primitives, so it differentiates
// on every backend (including ones without Pad) to any order.
func Im2Col(x *Node, geo ConvGeometry) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	return CustomVJP([]*Node{x},
		func(in []*Node) *Node { return im2colRaw(in[0], geo) },
		func(_ []*Node, _, v *Node) []*Node { return []*Node{Col2Im(v, h, w, geo)} })
}

// Col2Im is the adjoint (transpose) of Im2Col: [B, Ho, Wo, k*k*C] -> [B, H, W, C].
func Col2Im(dp *Node, h, w int, geo ConvGeometry) *Node {
	return CustomVJP([]*Node{dp},
		func(in []*Node) *Node { return col2imRaw(in[0], h, w, geo) },
		func(_ []*Node, _, v *Node) []*Node { return []*Node{Im2Col(v, geo)} })
}

// Conv is a convolution by im2col and one matrix product:
// x [B, H, W, Cin], kernel [k, k, Cin, Cout] -> [B, Ho, Wo, Cout], plus
// bias [Cout] when bias is not nil. It avoids native Convolve, which the
// pure-Go backend runs slowly and cannot differentiate; XLA backends run the
// same graph unchanged.
//
// Its VJP is written as matrix products too: with P the patches [N, k*k*Cin]
// and dY [N, Cout] (N = B*Ho*Wo), dK = P^T dY, db = 1^T dY and
// dX = Col2Im(dY K^T).
func Conv(x, kernel, bias *Node, geo ConvGeometry) *Node {
	kd := kernel.Shape().Dimensions
	xd := x.Shape().Dimensions
	if kernel.Rank() != 4 || x.Rank() != 4 || kd[0] != geo.Kernel || kd[1] != geo.Kernel || kd[2] != xd[3] {
		panic(fmt.Sprintf("Conv: kernel %s does not match input %s and geometry %+v", kernel.Shape(), x.Shape(), geo))
	}
	b, h, w := xd[0], xd[1], xd[2]
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	n, kk, cout := b*ho*wo, kd[0]*kd[1]*kd[2], kd[3]
	inputs := []*Node{x, kernel}
	if bias != nil {
		inputs = append(inputs, bias)
	}
	var patches *Node // [N, k*k*Cin], shared by the forward pass and dK
	forward := func(in []*Node) *Node {
		patches = Reshape(im2colRaw(in[0], geo), n, kk)
		y := Dot(patches, Reshape(in[1], kk, cout))
		if len(in) == 3 {
			// Bias as one more matrix product: no broadcasting, which the
			// pure-Go backend runs slowly.
			y = Add(y, Dot(Ones(x.Graph(), shapes.Make(x.DType(), n, 1)), Reshape(in[2], 1, cout)))
		}
		return Reshape(y, b, ho, wo, cout)
	}
	vjp := func(in []*Node, _, v *Node) []*Node {
		dy := Reshape(v, n, cout)
		k2 := Reshape(in[1], kk, cout)
		dx := Col2Im(Reshape(DotGeneral(dy, []int{1}, nil, k2, []int{1}, nil), b, ho, wo, kk), h, w, geo)
		dk := Reshape(DotGeneral(patches, []int{0}, nil, dy, []int{0}, nil), kd...)
		grads := []*Node{dx, dk}
		if len(in) == 3 {
			grads = append(grads, Reshape(Dot(Ones(x.Graph(), shapes.Make(x.DType(), 1, n)), dy), cout))
		}
		return grads
	}
	return CustomVJP(inputs, forward, vjp)
}

func (g ConvGeometry) String() string {
	return fmt.Sprintf("%dx%d/s%d/p%d", g.Kernel, g.Kernel, g.Stride, g.Padding)
}
