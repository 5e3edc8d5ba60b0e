package analysis_test

import (
	"fmt"

	"github.com/lqf-go/lqf/analysis"
)

// Summarize a training set by F-SI: keep what remains after dropping the
// two least informative samples, globally or per class. Globally both
// come from class 1, whose samples all rank low; per class each class
// loses its own least informative one.
func ExampleDropByFSI() {
	fsi := []float64{0.9, 0.1, 0.8, 0.2, 0.7, 0.3}
	labels := []int32{0, 1, 0, 1, 0, 1}
	global, _ := analysis.DropByFSI(fsi, labels, 2, 2, false, false)
	perClass, _ := analysis.DropByFSI(fsi, labels, 2, 2, false, true)
	fmt.Println(global, analysis.KeptPerClass(global, labels, 2))
	fmt.Println(perClass, analysis.KeptPerClass(perClass, labels, 2))
	// Output:
	// [0 2 4 5] [3 1]
	// [0 2 3 5] [2 2]
}
