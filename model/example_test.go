package model_test

import (
	"fmt"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// A backbone is a Config; a Network holds its parameters. Fine-tuning starts
// from a pretrained network whose head is replaced for the target classes.
func ExampleNetwork_ReplaceHead() {
	be, err := model.NewBackend()
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
