package influence

import (
	"errors"
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// Problem is LQF's closed form on one training set in kernel form, with
// what attribution needs: the kernel set-up of the network at w0 (backbone
// with the task's head; model.Kernel: outputs F0, residuals
// R = alpha Y - F0, training Jacobian rows J [N*C, P], empirical NTK
// K = J J^T in float64), the weight decay and the ridge rho = lambda N / 2
// of the mean-form objective (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2.
type Problem struct {
	*model.Kernel
	Train  *data.Set
	Lambda float64
	// Exact holds the factorized solution for leave-one-out queries.
	Exact *Exact
}

// NewProblem computes the kernel set-up (C backward passes per image for
// the Jacobian rows, the Gram matrix) and the exact solution. net must
// carry the task's head (model.Network.ReplaceHead).
func NewProblem(be backends.Backend, net *model.Network, train *data.Set, lambda, alpha float64, progress io.Writer) (*Problem, error) {
	c := net.NumClasses()
	switch {
	case train.Len() < 2:
		return nil, errors.New("influence: attribution needs at least 2 training samples")
	case train.NumClasses != c:
		return nil, fmt.Errorf("influence: the network has %d outputs, the training set %d classes", c, train.NumClasses)
	case !(lambda > 0):
		return nil, fmt.Errorf("influence: lambda %g must be > 0", lambda)
	}
	k, err := model.NewKernel(be, net, train, alpha, progress)
	if err != nil {
		return nil, err
	}
	p := &Problem{Kernel: k, Train: train, Lambda: lambda}
	if p.Exact, err = NewExact(p.K, p.R, c, p.Ridge()); err != nil {
		return nil, err
	}
	return p, nil
}

// Ridge is rho = lambda N / 2, fixed when samples are removed.
func (p *Problem) Ridge() float64 { return linalg.RidgeTerm(p.Lambda, p.Train.Len()) }

// TestKernel returns the kernel between the outputs of set and the
// training outputs, [T*C, N*C], and set's Jacobian rows [T*C, P]
// (model.Kernel.Cross).
func (p *Problem) TestKernel(be backends.Backend, set *data.Set, progress io.Writer) (*mat.Dense, []float32, error) {
	return p.Cross(be, set, progress)
}

// Retrain solves the closed form again from scratch on the training
// samples keep (a new Cholesky of their kernel, the same rho) and returns
// dw [P]: the brute-force reference of attribution and unlearning.
func (p *Problem) Retrain(keep []int) ([]float64, error) {
	c := p.C
	rows := make([]int, 0, len(keep)*c)
	for _, i := range keep {
		if i < 0 || i >= p.Train.Len() {
			return nil, fmt.Errorf("influence: training index %d out of range [0, %d)", i, p.Train.Len())
		}
		for a := range c {
			rows = append(rows, i*c+a)
		}
	}
	sub := mat.NewSymDense(len(rows), nil)
	r := make([]float64, len(rows))
	J := make([]float32, 0, len(rows)*p.P)
	for a, ra := range rows {
		for b := a; b < len(rows); b++ {
			sub.SetSym(a, b, p.K.At(ra, rows[b]))
		}
		r[a] = p.R[ra]
		J = append(J, p.J[ra*p.P:(ra+1)*p.P]...)
	}
	return linalg.SolveKernel(J, len(rows), p.P, sub, r, p.Ridge())
}

// Outputs returns the linearized network's outputs f0(x) + J(x) dw on set
// [T, C], through the GoMLX linearized pass (independent of the kernels).
func (p *Problem) Outputs(be backends.Backend, dw []float64, set *data.Set) ([]float32, error) {
	m, err := p.Net.Clone()
	if err != nil {
		return nil, err
	}
	if err := m.SetTangent(dw); err != nil {
		return nil, err
	}
	return model.LinearizedNetwork{Network: m}.Predict(be, set)
}
