// Package lqftest holds the fixture lqf's numerical tests share: a tiny
// Leaky-ReLU network (a few hundred parameters, so brute-force Jacobians,
// Fisher matrices and retraining stay cheap) with a new head for a task's
// classes, and real images of that task.
package lqftest

import (
	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// Task is the fixture's task: MNIST digits 5-9, 5 classes.
const Task = "mnist-5-9"

// TinyNetwork returns the tiny Leaky-ReLU backbone (stem 3, stages 3, 4,
// 4; weights from seed 5) with a new head for classes outputs (seed 2).
func TinyNetwork(be backends.Backend, classes int) (*model.Network, error) {
	cfg := model.DefaultConfig(3)
	cfg.StemWidth, cfg.StageWidths, cfg.Activation = 3, []int{3, 4, 4}, model.LeakyReLU
	net, err := model.NewNetwork(be, cfg, 5)
	if err != nil {
		return nil, err
	}
	return net.ReplaceHead(be, classes, 2)
}

// Setup returns the tiny network with a head for Task and the task's
// splits (split seed 4).
func Setup(be backends.Backend, train, valPerClass, test int) (*model.Network, *data.Splits, error) {
	task, err := data.TaskByName(Task)
	if err != nil {
		return nil, nil, err
	}
	sp, err := task.Load(data.SplitOptions{Seed: 4, MaxTrain: train, ValPerClass: valPerClass, MaxTest: test})
	if err != nil {
		return nil, nil, err
	}
	net, err := TinyNetwork(be, sp.Train.NumClasses)
	return net, sp, err
}

// Kernels are the linearized quantities kernel-form tests start from, in
// float64 where the library uses float64: Jacobian rows J of train and Jx
// of another set (rows i*C+c), the NTK K = J J^T, the cross kernel
// Kx = Jx J^T and the residuals R = alpha Y - f0 of both sets
// (alpha = model.DefaultAlpha).
type Kernels struct {
	C, P  int
	J, Jx []float32
	K     *mat.SymDense
	Kx    *mat.Dense
	R, Rx []float64
}

// NewKernels computes Kernels for net on train and other.
func NewKernels(be backends.Backend, net *model.Network, train, other *data.Set) (*Kernels, error) {
	k := &Kernels{C: net.Config.NumClasses}
	var err error
	if k.J, k.P, err = net.JacobianRows(be, train, nil); err != nil {
		return nil, err
	}
	if k.Jx, _, err = net.JacobianRows(be, other, nil); err != nil {
		return nil, err
	}
	rows, xrows := train.Len()*k.C, other.Len()*k.C
	k.K = model.Gram(k.J, rows, k.P)
	k.Kx = model.CrossGram(k.Jx, xrows, k.J, rows, k.P)
	for _, s := range []struct {
		set *data.Set
		r   *[]float64
	}{{train, &k.R}, {other, &k.Rx}} {
		f0, err := net.Logits(be, s.set)
		if err != nil {
			return nil, err
		}
		*s.r = model.Residuals(f0, s.set.Labels, k.C, model.DefaultAlpha)
	}
	return k, nil
}
