package influence_test

import (
	"fmt"

	"github.com/lqf-go/lqf/influence"
)

// ExamplePrimal fits a one-feature, one-output linear head (plus bias) to
// four points, the last of which is off the line through the others, and
// asks how the prediction at x = 2.5 and each point's own output change
// when that point is left out: removing the outlier lowers the prediction
// by 1.137.
func ExamplePrimal() {
	features := []float32{0, 1, 2, 3}
	residuals := []float64{0, 1, 2, 5} // targets alpha y - f0
	p, err := influence.NewPrimal(features, 1, residuals, 1, 0.1)
	if err != nil {
		fmt.Println(err)
		return
	}
	loo, err := p.LeaveOneOut([]float32{2.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	self, err := p.SelfInfluence()
	if err != nil {
		fmt.Println(err)
		return
	}
	pred, err := p.Predict([]float32{2.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("prediction at 2.5: %.3f\n", pred[0])
	for i := range loo {
		fmt.Printf("sample %d: change at 2.5 %+.3f, own output %+.3f\n", i, loo[i][0], self[i][0])
	}
	// Output:
	// prediction at 2.5: 3.567
	// sample 0: change at 2.5 -0.039, own output +0.604
	// sample 1: change at 2.5 -0.049, own output -0.091
	// sample 2: change at 2.5 -0.391, own output -0.334
	// sample 3: change at 2.5 +1.137, own output +1.439
}

// Summarize a training set by F-SI: keep what remains after dropping the
// two least informative samples, globally or per class. Globally both
// come from class 1, whose samples all rank low; per class each class
// loses its own least informative one.
func ExampleDropByFSI() {
	fsi := []float64{0.9, 0.1, 0.8, 0.2, 0.7, 0.3}
	labels := []int32{0, 1, 0, 1, 0, 1}
	global, _ := influence.DropByFSI(fsi, labels, 2, 2, false, false)
	perClass, _ := influence.DropByFSI(fsi, labels, 2, 2, false, true)
	fmt.Println(global, influence.KeptPerClass(global, labels, 2))
	fmt.Println(perClass, influence.KeptPerClass(perClass, labels, 2))
	// Output:
	// [0 2 4 5] [3 1]
	// [0 2 3 5] [2 2]
}
