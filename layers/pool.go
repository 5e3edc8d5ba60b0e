package layers

import (
	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// MaxPool2D takes the maximum over each Window x Window window (stride, zero
// or more padding; windows may overlap): [H, W, C] -> [Ho, Wo, C]. Padding
// never wins (it is below every value). Its reverse-mode rule is written by
// hand (the pure-Go backend has no SelectAndScatter): the cotangent goes to
// the first maximum of each window, dx = Col2Im(mask * v). Linearized: the
// tangent of that same element, dy = sum_t mask_t dx_t.
type MaxPool2D struct {
	Window  int `json:"window"`
	Stride  int `json:"stride"`
	Padding int `json:"padding,omitempty"`
}

// AvgPool2D averages each Window x Window window: [H, W, C] -> [Ho, Wo, C].
// Padded positions count in the divisor when CountPad (PyTorch's default),
// not otherwise (ONNX's default). It is linear, and so is its tangent rule.
type AvgPool2D struct {
	Window   int  `json:"window"`
	Stride   int  `json:"stride"`
	Padding  int  `json:"padding,omitempty"`
	CountPad bool `json:"count_pad,omitempty"`
}

// GlobalAvgPool averages over the positions: [H, W, C] -> [C].
type GlobalAvgPool struct{}

// BilinearPool is square-root-normalized bilinear pooling (B-LQF, paper
// Sec. 4.2, Appendix A.2): Sigma = (1/HW) sum_p h_p h_p^T, features
// sqrt(Sigma), [H, W, C] -> [C*C], linearized by eq. 14; see bilinearPool.
// Sigma is the uncentered second moment of the positions' features: the
// paper's eq. 13 centres them first (a covariance), which lqf does not.
type BilinearPool struct{}

func init() {
	register(func() Op { return &MaxPool2D{} })
	register(func() Op { return &AvgPool2D{} })
	register(func() Op { return &GlobalAvgPool{} })
	register(func() Op { return &BilinearPool{} })
}

// Kind is "maxpool".
func (*MaxPool2D) Kind() string { return "maxpool" }

// Kind is "avgpool".
func (*AvgPool2D) Kind() string { return "avgpool" }

// Kind is "globalavgpool".
func (*GlobalAvgPool) Kind() string { return "globalavgpool" }

// Kind is "bilinearpool".
func (*BilinearPool) Kind() string { return "bilinearpool" }

func (p *MaxPool2D) geometry() ConvGeometry { return ConvGeometry{p.Window, p.Stride, p.Padding} }
func (p *AvgPool2D) geometry() ConvGeometry { return ConvGeometry{p.Window, p.Stride, p.Padding} }

func (p *MaxPool2D) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	return windowShape(p.geometry(), in[0], in[0][2])
}

func (p *AvgPool2D) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	return windowShape(p.geometry(), in[0], in[0][2])
}

func (*GlobalAvgPool) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	return []int{in[0][2]}, nil
}

func (*BilinearPool) outShape(in [][]int) ([]int, error) {
	if err := oneImage(in); err != nil {
		return nil, err
	}
	return []int{in[0][2] * in[0][2]}, nil
}

func (*MaxPool2D) macs([][]int, []int) int64     { return 0 }
func (*AvgPool2D) macs([][]int, []int) int64     { return 0 }
func (*GlobalAvgPool) macs([][]int, []int) int64 { return 0 }
func (*BilinearPool) macs([][]int, []int) int64  { return 0 }

// maxPoolPadding is below every activation: padded taps never win.
const maxPoolPadding = -1e30

// windowTaps returns the k*k strided windows of x [B, H, W, C] padded with
// fill, each [B, Ho, Wo, C], in im2col order (di, dj).
func windowTaps(x *Node, geo ConvGeometry, fill float64) []*Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	k, s, p := geo.Kernel, geo.Stride, geo.Padding
	xp := padWith(x, 1, p, max(0, s*(ho-1)+k-h-p), fill)
	xp = padWith(xp, 2, p, max(0, s*(wo-1)+k-w-p), fill)
	taps := make([]*Node, 0, k*k)
	for di := range k {
		for dj := range k {
			taps = append(taps, Slice(xp, AxisRange(),
				AxisRange(di, di+s*(ho-1)+1).Stride(s),
				AxisRange(dj, dj+s*(wo-1)+1).Stride(s),
				AxisRange()))
		}
	}
	return taps
}

// maxMasks returns, per tap, 1 where the tap is its window's first maximum
// and 0 elsewhere (constant: no gradient flows through the choice).
func maxMasks(taps []*Node, out *Node) []*Node {
	masks := make([]*Node, len(taps))
	taken := ZerosLike(out)
	one := OnesLike(out)
	for t, tap := range taps {
		m := Mul(ConvertDType(Equal(tap, out), out.DType()), Sub(one, taken))
		taken = Add(taken, m)
		masks[t] = StopGradient(m)
	}
	return masks
}

// maxPool is max pooling with its hand-written reverse-mode rule.
func maxPool(x *Node, geo ConvGeometry) *Node {
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	return CustomVJP([]*Node{x},
		func(in []*Node) *Node {
			taps := windowTaps(in[0], geo, maxPoolPadding)
			out := taps[0]
			for _, t := range taps[1:] {
				out = Max(out, t)
			}
			return out
		},
		func(in []*Node, out, v *Node) []*Node {
			masks := maxMasks(windowTaps(StopGradient(in[0]), geo, maxPoolPadding), StopGradient(out))
			parts := make([]*Node, len(masks))
			for t, m := range masks {
				parts[t] = Mul(m, v)
			}
			return []*Node{Col2Im(Concatenate(parts, 3), h, w, geo)}
		})
}

func (p *MaxPool2D) forward(_ *site, in []*Node) *Node { return maxPool(in[0], p.geometry()) }

func (p *MaxPool2D) tangent(_ *site, in []dual) dual {
	geo := p.geometry()
	y := maxPool(in[0].p, geo)
	if in[0].t == nil {
		return dual{p: y}
	}
	masks := maxMasks(windowTaps(StopGradient(in[0].p), geo, maxPoolPadding), StopGradient(y))
	return dual{y, sumTaps(Mul(Im2Col(in[0].t, geo), Concatenate(masks, 3)), len(masks))}
}

// sumTaps sums patches [B, Ho, Wo, T*C] over their T taps: [B, Ho, Wo, C].
func sumTaps(patches *Node, taps int) *Node {
	d := patches.Shape().Dimensions
	return ReduceSum(Reshape(patches, d[0], d[1], d[2], taps, d[3]/taps), 3)
}

// avg is the average pooling of x: the sum of its windows (Im2Col, which
// differentiates everywhere) times the reciprocal window sizes.
func (p *AvgPool2D) avg(x *Node) *Node {
	geo := p.geometry()
	dims := x.Shape().Dimensions
	h, w := dims[1], dims[2]
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	inv := make([]float64, ho*wo)
	for i := range ho {
		for j := range wo {
			count := p.Window * p.Window
			if !p.CountPad {
				rows := min(i*p.Stride-p.Padding+p.Window, h) - max(i*p.Stride-p.Padding, 0)
				cols := min(j*p.Stride-p.Padding+p.Window, w) - max(j*p.Stride-p.Padding, 0)
				count = rows * cols
			}
			inv[i*wo+j] = 1 / float64(count)
		}
	}
	sum := sumTaps(Im2Col(x, geo), p.Window*p.Window)
	scale := Reshape(ConvertDType(Const(x.Graph(), inv), x.DType()), 1, ho, wo, 1)
	return Mul(sum, BroadcastToDims(scale, sum.Shape().Dimensions...))
}

func (p *AvgPool2D) forward(_ *site, in []*Node) *Node { return p.avg(in[0]) }

func (p *AvgPool2D) tangent(_ *site, in []dual) dual {
	out := dual{p: p.avg(in[0].p)}
	if in[0].t != nil {
		out.t = p.avg(in[0].t)
	}
	return out
}

func (*GlobalAvgPool) forward(_ *site, in []*Node) *Node { return ReduceMean(in[0], 1, 2) }

func (*GlobalAvgPool) tangent(_ *site, in []dual) dual {
	out := dual{p: ReduceMean(in[0].p, 1, 2)}
	if in[0].t != nil {
		out.t = ReduceMean(in[0].t, 1, 2)
	}
	return out
}

func (*BilinearPool) forward(_ *site, in []*Node) *Node { return bilinearPool(dual{p: in[0]}).p }

func (*BilinearPool) tangent(_ *site, in []dual) dual { return bilinearPool(in[0]) }
