package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestBilinearPoolIsSquareRoot checks on the host that the pooled features
// S satisfy S S = Sigma + eps ||Sigma||_F I, with Sigma = X^T X / HW computed
// directly, for feature maps with fewer positions than channels (Sigma
// singular, as in the backbone's last stage).
func TestBilinearPoolIsSquareRoot(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(2, 2))
	const b, h, w, c = 2, 2, 3, 8 // 6 positions < 8 channels
	x := randSlice(rng, b*h*w*c)
	out := MustNewExec(be, func(x *Node) *Node { return bilinearPool(dual{p: x}).p }).
		MustExec(tensors.FromFlatDataAndDimensions(x, b, h, w, c))[0]
	s := tensors.MustCopyFlatData[float64](out)
	for n := range b {
		sigma := make([]float64, c*c)
		for p := range h * w {
			for i := range c {
				for j := range c {
					sigma[i*c+j] += x[(n*h*w+p)*c+i] * x[(n*h*w+p)*c+j] / (h * w)
				}
			}
		}
		norm := 0.0
		for _, v := range sigma {
			norm += v * v
		}
		norm = math.Sqrt(norm)
		var maxErr float64
		for i := range c {
			for j := range c {
				ss := 0.0
				for k := range c {
					ss += s[n*c*c+i*c+k] * s[n*c*c+k*c+j]
				}
				want := sigma[i*c+j]
				if i == j {
					want += bilinearEpsilon * norm
				}
				maxErr = math.Max(maxErr, math.Abs(ss-want))
			}
		}
		if maxErr > 1e-6*norm {
			t.Errorf("sample %d: S S differs from Sigma + eps I by %.3g (||Sigma|| = %.3g)", n, maxErr, norm)
		}
	}
}
