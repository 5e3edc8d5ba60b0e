package weightdecay_test

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/weightdecay"
)

// Example tunes the weight decay of a one-output linear model with three
// parameters on five training points and three validation points: the
// kernel rows are the parameter gradients (here fixed features), K = J J^T
// and Kx = J_v J^T. One eigendecomposition gives the solution, the
// leave-one-out and GCV scores and the validation loss at every lambda,
// and the search on the exact hypergradient lands on the validation
// optimum, slightly below 0.1 where the hypergradient is positive.
func Example() {
	J := mat.NewDense(5, 3, []float64{
		1, 0, 1,
		0, 1, 1,
		1, 1, 0,
		2, 0, 1,
		1, 2, 1,
	})
	Jv := mat.NewDense(3, 3, []float64{
		1, 1, 1,
		2, 1, 0,
		0, 0, 1,
	})
	r := []float64{1.3, 0.8, 1.2, 1.5, 2.4} // training residuals alpha y - f0
	rv := []float64{1.5, 1.9, 0.3}          // validation residuals
	K := mat.NewSymDense(5, nil)
	K.SymOuterK(1, J)
	var Kx mat.Dense
	Kx.Mul(Jv, J.T())

	path, err := weightdecay.NewPath(K, r, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := path.Coefficients(0.1)
	fmt.Printf("a(0.1) = %.4f\n", a)
	grid, _ := weightdecay.LogGrid(1e-3, 10, 9)
	loo, _, _ := path.ChooseLOO(grid)
	gcv, _, _ := path.ChooseGCV(grid)
	fmt.Printf("lambda by LOO %.3g, by GCV %.3g\n", loo, gcv)

	val, err := path.Validation(&Kx, rv, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss, grad, _ := val.LossAndHypergradient(0.1)
	fmt.Printf("validation loss at 0.1: %.4f, dL/dlambda %.4f\n", loss, grad)
	best, steps, _ := val.Search(1, 30)
	fmt.Printf("search: lambda %.4f, loss %.4f after %d evaluations\n", best.Lambda, best.Loss, len(steps))
	// Output:
	// a(0.1) = [1.0860 -0.8260 -0.0426 -0.5793 0.7314]
	// lambda by LOO 0.316, by GCV 0.316
	// validation loss at 0.1: 0.0110, dL/dlambda 0.0009
	// search: lambda 0.0940, loss 0.0110 after 15 evaluations
}
