package model_test

import (
	"fmt"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// A backbone is a Config; a Network holds its parameters. Fine-tuning starts
// from a pretrained network whose head is replaced for the target classes.
func ExampleNetwork_ReplaceHead() {
	be, err := backend.New()
	if err != nil {
		panic(err)
	}
	net, err := model.NewNetwork(be, model.DefaultConfig(10), 1)
	if err != nil {
		panic(err)
	}
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		panic(err)
	}
	target, err := net.ReplaceHead(be, len(task.ClassNames), 1)
	if err != nil {
		panic(err)
	}
	fmt.Println("backbone parameters:", target.NumParameters(model.ScopeBackbone))
	fmt.Println("head parameters:", target.NumParameters(model.ScopeHead))
	// Output:
	// backbone parameters: 77392
	// head parameters: 325
}

// LQF on Jacobian features: the rows J(x_i) and outputs f0(x_i) of the
// training images are computed once, then SGD trains dw on them with
// products on the host, the same iterates as the JVP pass
// (layers.Net.LinearizedLogits). finetune.Run does this by itself when
// the rows fit in memory (finetune.LinearizeAuto).
func ExampleJacobianFeatures_Train() {
	be, err := backend.New()
	if err != nil {
		panic(err)
	}
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		panic(err)
	}
	splits, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 10, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		panic(err)
	}
	cfg := model.DefaultConfig(5)
	cfg.Activation = model.LeakyReLU
	net, err := model.NewNetwork(be, cfg, 1)
	if err != nil {
		panic(err)
	}
	features, err := model.NewJacobianFeatures(be, net, splits.Train, nil)
	if err != nil {
		panic(err)
	}
	res, err := features.Train(be, net.Ctx, model.TrainOptions{Loss: model.MSE, LearningRate: 1e-3, Momentum: 0.9,
		Lambda: 1e-4, BatchSize: 5, Epochs: 4, Seed: 1})
	if err != nil {
		panic(err)
	}
	dw, err := net.Tangent()
	if err != nil {
		panic(err)
	}
	fmt.Println("steps:", len(res.StepLoss), "dw entries:", len(dw))
	fmt.Println("loss decreased:", res.EpochLoss[3] < res.EpochLoss[0])
	// Output:
	// steps: 8 dw entries: 77717
	// loss decreased: true
}
