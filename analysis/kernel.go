package analysis

import (
	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// kernelChunk bounds the test images whose Jacobian rows are held at
// once when a cross kernel is built (a variable for tests).
var kernelChunk = 100

// crossKernel returns the kernel between set's outputs and the training
// outputs of k, Jx J^T [T*C, N*C] (model.Kernel.Cross), computing set's
// Jacobian rows Jx kernelChunk images at a time.
func crossKernel(be backends.Backend, k *model.Kernel, set *data.Set) (*mat.Dense, error) {
	c, rows := k.C, k.N*k.C
	out := mat.NewDense(set.Len()*c, rows, nil)
	for start := 0; start < set.Len(); start += kernelChunk {
		end := min(start+kernelChunk, set.Len())
		idx := make([]int, end-start)
		for i := range idx {
			idx[i] = start + i
		}
		kx, _, err := k.Cross(be, set.Subset(idx), nil)
		if err != nil {
			return nil, err
		}
		out.Slice(start*c, end*c, 0, rows).(*mat.Dense).Copy(kx)
	}
	return out, nil
}
