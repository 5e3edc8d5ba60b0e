package weightdecay

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
)

// Validation is a Path prepared on M validation samples: the cross kernel
// Kx = J_v J^T [M*C, N*C] and their residuals R_v = alpha Y_v - f0_v
// [M*C]. Its loss is LQF's validation loss at the optimum,
//
//	L_val(lambda) = (1/M) ||J_v dw*(lambda) - R_v||^2 = (1/M) ||Kx a(lambda) - R_v||^2.
type Validation struct {
	*Cross
	rv []float64
	m  int
}

// Validation prepares the path on validation samples: kx [M*C, N*C], rv
// [M*C], m = M.
func (p *Path) Validation(kx mat.Matrix, rv []float64, m int) (*Validation, error) {
	c, err := p.On(kx)
	if err != nil {
		return nil, err
	}
	if m < 1 || len(rv) != m*p.c || c.rows != m*p.c {
		return nil, fmt.Errorf("weightdecay: %d validation residuals and %d cross-kernel rows for %d samples x %d outputs", len(rv), c.rows, m, p.c)
	}
	if err := finite("validation residuals", rv); err != nil {
		return nil, err
	}
	return &Validation{Cross: c, rv: append([]float64(nil), rv...), m: m}, nil
}

// Loss returns L_val(lambda).
func (v *Validation) Loss(lambda float64) (float64, error) {
	pred, err := v.Predict(lambda)
	if err != nil {
		return 0, err
	}
	return v.loss(pred), nil
}

func (v *Validation) loss(pred []float64) float64 {
	s := 0.0
	for i, f := range pred {
		d := f - v.rv[i]
		s += d * d
	}
	return s / float64(v.m)
}

// Hypergradient returns the exact dL_val/dlambda. The optimum solves
// (J^T J + rho I) dw* = J^T R with rho = lambda N / 2, so
//
//	d dw*/dlambda = -(N/2) (J^T J + rho I)^-1 dw* = -(N/2) J^T (K + rho I)^-1 a,
//	d(J_v dw*)/dlambda = -(N/2) Kx (K + rho I)^-1 a = -(N/2) (Kx U) diag(1/(s + rho)^2) U^T R,
//	dL_val/dlambda = (2/M) (Kx a - R_v)^T d(J_v dw*)/dlambda,
//
// O(M*C * N*C) from the prepared Kx U.
func (v *Validation) Hypergradient(lambda float64) (float64, error) {
	_, g, err := v.LossAndHypergradient(lambda)
	return g, err
}

// LossAndHypergradient returns L_val(lambda) and dL_val/dlambda together.
func (v *Validation) LossAndHypergradient(lambda float64) (loss, grad float64, err error) {
	p := v.path
	rho, err := p.ridge(lambda)
	if err != nil {
		return 0, 0, err
	}
	pred := v.apply(p.spectral(rho, 1, 1))
	dpred := v.apply(p.spectral(rho, 2, -float64(p.n)/2))
	for i, f := range pred {
		grad += (f - v.rv[i]) * dpred[i]
	}
	return v.loss(pred), 2 * grad / float64(v.m), nil
}

// Choose returns the lambda of grid with the smallest validation loss and
// the loss of every grid value.
func (v *Validation) Choose(grid []float64) (best float64, losses []float64, err error) {
	return choose(grid, v.Loss)
}

// SearchStep is one evaluation of Validation.Search.
type SearchStep struct {
	Lambda        float64 `json:"lambda"`
	Loss          float64 `json:"loss"`
	Hypergradient float64 `json:"hypergradient"` // dL_val/dlambda
}

// Search bounds of lambda and the width in log lambda at which the bracket
// is considered converged.
const (
	MinSearchLambda = 1e-12
	MaxSearchLambda = 1e12
	searchTol       = 1e-7
)

// Search minimizes L_val over t = log(lambda) from start with at most
// steps evaluations of the exact hypergradient dL/dt = lambda dL/dlambda:
// it walks downhill in t with steps 1, 2, 4, 4, ... until dL/dt changes
// sign (a bracket around a minimum), then shrinks the bracket with
// secant steps on dL/dt (Illinois rule), until it is narrower than 1e-7
// in t. lambda stays in [MinSearchLambda, MaxSearchLambda]; at a bound
// whose slope still points outward the search stops there. It returns the
// evaluated step of smallest loss and the whole trajectory in order.
func (v *Validation) Search(start float64, steps int) (best SearchStep, trajectory []SearchStep, err error) {
	if !(start >= MinSearchLambda && start <= MaxSearchLambda) {
		return best, nil, fmt.Errorf("weightdecay: search start %g is outside [%g, %g]", start, MinSearchLambda, MaxSearchLambda)
	}
	if steps < 2 {
		return best, nil, fmt.Errorf("weightdecay: search needs at least 2 steps, got %d", steps)
	}
	loT, hiT := math.Log(MinSearchLambda), math.Log(MaxSearchLambda)
	// eval returns dL/dt at t and records the step.
	eval := func(t float64) (float64, error) {
		l := math.Exp(t)
		loss, g, err := v.LossAndHypergradient(l)
		if err != nil {
			return 0, err
		}
		s := SearchStep{Lambda: l, Loss: loss, Hypergradient: g}
		if len(trajectory) == 0 || loss < best.Loss {
			best = s
		}
		trajectory = append(trajectory, s)
		return l * g, nil
	}
	t := math.Log(start)
	g, err := eval(t)
	if err != nil {
		return best, nil, err
	}
	if g == 0 {
		return best, trajectory, nil
	}
	// Bracket: walk downhill until the slope changes sign.
	dir := -math.Copysign(1, g)
	step := 1.0
	var a, ga, b, gb float64 // bracket ends in t with ga < 0 < gb after ordering
	bracketed := false
	for len(trajectory) < steps {
		t2 := math.Min(math.Max(t+dir*step, loT), hiT)
		if t2 == t { // at a bound, still sloping outward
			return best, trajectory, nil
		}
		g2, err := eval(t2)
		if err != nil {
			return best, nil, err
		}
		if g2 == 0 {
			return best, trajectory, nil
		}
		if math.Signbit(g2) != math.Signbit(g) {
			a, ga, b, gb = t, g, t2, g2
			bracketed = true
			break
		}
		t, g = t2, g2
		step = math.Min(2*step, 4)
	}
	if !bracketed {
		return best, trajectory, nil
	}
	if a > b {
		a, ga, b, gb = b, gb, a, ga
	}
	// Illinois regula falsi on dL/dt over [a, b], ga < 0 < gb.
	side := 0
	for len(trajectory) < steps && b-a > searchTol {
		t := (a*gb - b*ga) / (gb - ga)
		if !(t > a && t < b) {
			t = (a + b) / 2
		}
		gt, err := eval(t)
		if err != nil {
			return best, nil, err
		}
		switch {
		case gt == 0:
			return best, trajectory, nil
		case gt < 0:
			a, ga = t, gt
			if side == -1 {
				gb /= 2
			}
			side = -1
		default:
			b, gb = t, gt
			if side == 1 {
				ga /= 2
			}
			side = 1
		}
	}
	return best, trajectory, nil
}

// HypergradientKFAC returns dL_val/dlambda with K-FAC in place of the exact
// curvature. Since J^T J + rho I = (N/2) (F + lambda I) with the
// Gauss-Newton matrix F = (2/N) J^T J,
//
//	d dw*/dlambda = -(F + lambda I)^-1 dw*   ~=   u = -(F_kfac + lambda I)^-1 dw*,
//	dL_val/dlambda ~= (2/M) (J_v dw* - R_v)^T J_v u,
//
// with lambda = inv.Damping (kfac.Factors.Invert(lambda)), net the network
// the factors were computed on (for the parameter layout), dw = dw*(lambda)
// [P] (Path.Weights), the validation Jacobian rows jv [M*C, P] (row-major
// float32, model.Network.JacobianRows) and residuals rv [M*C] of m = M
// samples. Everything but the Jacobians is float64.
func HypergradientKFAC(net *model.Network, inv *kfac.DampedInverse, dw []float64, jv []float32, rv []float64, m int) (float64, error) {
	switch {
	case net == nil || inv == nil:
		return 0, errors.New("weightdecay: HypergradientKFAC needs the network and the K-FAC inverse")
	case len(dw) == 0:
		return 0, errors.New("weightdecay: empty dw")
	case m < 1 || len(rv) == 0 || len(rv)%m != 0:
		return 0, fmt.Errorf("weightdecay: %d validation residuals for %d samples", len(rv), m)
	case len(jv) != len(rv)*len(dw):
		return 0, fmt.Errorf("weightdecay: %d validation Jacobian values for %d rows x %d parameters", len(jv), len(rv), len(dw))
	}
	if err := finite("dw", dw); err != nil {
		return 0, err
	}
	u, err := inv.Apply(net, dw)
	if err != nil {
		return 0, err
	}
	p := len(dw)
	grad := 0.0
	for i := range rv {
		row := jv[i*p : (i+1)*p]
		f, df := 0.0, 0.0
		for j, x := range row {
			f += float64(x) * dw[j]
			df -= float64(x) * u[j]
		}
		grad += (f - rv[i]) * df
	}
	return 2 * grad / float64(m), nil
}
