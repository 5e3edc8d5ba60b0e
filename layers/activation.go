package layers

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph"
)

// Activation functions.
const (
	ReLU         = "relu"
	LeakyReLU    = "leaky-relu"
	NoActivation = "identity"
)

// DefaultLeakySlope is lqf's slope of Leaky-ReLU for negative inputs. The
// paper (Sec. 3.3, Appendix A.2) swaps ReLU for Leaky-ReLU without giving
// a slope; 0.1 is lqf's choice (the committed Leaky-ReLU backbone uses it).
const DefaultLeakySlope = 0.1

// Activation applies phi elementwise: ReLU max(x, 0), Leaky-ReLU x for
// x > 0 and Slope x otherwise, or the identity. It is written as
// Where(x > 0, x, Slope x), so that its derivative at 0 is the slope both in
// reverse mode and in the linearized pass, dy = phi'(z0) dz.
type Activation struct {
	Fn    string  `json:"fn"`
	Slope float64 `json:"slope,omitempty"` // Leaky-ReLU only
}

func init() { register(func() Op { return &Activation{} }) }

// Kind is "activation".
func (*Activation) Kind() string { return "activation" }

func (a *Activation) outShape(in [][]int) ([]int, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("takes one input, got %d", len(in))
	}
	switch a.Fn {
	case ReLU, NoActivation:
	case LeakyReLU:
		if math.IsNaN(a.Slope) || math.IsInf(a.Slope, 0) {
			return nil, fmt.Errorf("leaky-relu slope %g must be finite", a.Slope)
		}
	default:
		return nil, fmt.Errorf("unknown activation %q (want %q, %q or %q)", a.Fn, ReLU, LeakyReLU, NoActivation)
	}
	return in[0], nil
}

func (*Activation) macs([][]int, []int) int64 { return 0 }

func (a *Activation) slope() float64 {
	if a.Fn == LeakyReLU {
		return a.Slope
	}
	return 0
}

func (a *Activation) forward(_ *site, in []*Node) *Node {
	x := in[0]
	if a.Fn == NoActivation {
		return x
	}
	neg := ZerosLike(x)
	if a.Fn == LeakyReLU {
		neg = MulScalar(x, a.Slope)
	}
	return Where(GreaterThan(x, ZerosLike(x)), x, neg)
}

func (a *Activation) tangent(s *site, in []dual) dual {
	z := in[0]
	y := a.forward(s, []*Node{z.p})
	if z.t == nil || a.Fn == NoActivation {
		return dual{y, z.t}
	}
	ones := OnesLike(z.p)
	deriv := StopGradient(Where(GreaterThan(z.p, ZerosLike(z.p)), ones, MulScalar(ones, a.slope())))
	return dual{y, Mul(z.t, deriv)}
}
