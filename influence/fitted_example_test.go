package influence_test

import (
	"fmt"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/influence"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// ExampleFit asks which training images made LQF predict what it does for
// two test images of fashion-5-9, and what it predicts once the first
// image's top proponent is unlearned. (Errors are dropped to keep the query
// short; a failing step fails the example.)
func ExampleFit() {
	be, _ := backend.Shared()
	backbone, _ := pretrained.Load(be, model.LeakyReLU)
	task, _ := data.TaskByName("fashion-5-9")
	sp, _ := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 40, ValPerClass: 1, MaxTest: 5})
	m, _ := influence.Fit(be, backbone, sp.Train, influence.FitOptions{})
	why, _ := m.Explain(be, sp.Test.Subset([]int{0, 1}), 3)
	without, _ := m.Unlearn([]int{why[0].Proponents[0].Train})
	after, _ := without.Explain(be, sp.Test.Subset([]int{0}), 3)
	fmt.Println(len(why), len(why[0].Proponents), len(why[0].Opponents), len(without.Kept), after[0].Proponents[0].Train != why[0].Proponents[0].Train)
	// Output: 2 3 3 39 true
}
