// Package lqftest holds the fixture lqf's numerical tests share: a tiny
// Leaky-ReLU network (a few hundred parameters, so brute-force Jacobians,
// Fisher matrices and retraining stay cheap) with a new head for a task's
// classes, and real images of that task.
//
// It holds none of the paper's equations: it is the problem on which tests
// compare the closed form (eq. 4), K-FAC (Sec. 3.2), attribution (eq. 7-8)
// and the lambda hypergradient (eq. 10-12) with brute force.
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
// float64 where the library uses float64: the training set's kernel set-up
// (model.Kernel: Jacobian rows J, NTK K = J J^T, residuals R = alpha Y - f0
// with alpha = model.DefaultAlpha), and for another set its Jacobian rows
// Jx, the cross kernel Kx = Jx J^T and its residuals Rx.
type Kernels struct {
	*model.Kernel
	Jx []float32
	Kx *mat.Dense
	Rx []float64
}

// NewKernels computes Kernels for net on train and other.
func NewKernels(be backends.Backend, net *model.Network, train, other *data.Set) (*Kernels, error) {
	k, err := model.NewKernel(be, net, train, model.DefaultAlpha, nil)
	if err != nil {
		return nil, err
	}
	ks := &Kernels{Kernel: k}
	if ks.Kx, ks.Jx, err = k.Cross(be, other, nil); err != nil {
		return nil, err
	}
	if _, ks.Rx, err = k.Outputs(be, other); err != nil {
		return nil, err
	}
	return ks, nil
}
