package layers

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkMatMul times the matrix products that a convolution becomes
// (im2col patches [M, K] times kernel [K, N]) at the shapes of torchvision's
// ResNet-18 on 32x32 images, batch 28 (M = 28 x output positions, K =
// 3 x 3 x input channels, N = output channels), on the backend's MatMul2D
// and on gonum's pure-Go Sgemm in the same run; the metric is GFLOP/s
// (2 M K N per product). It bounds what any network graph on the backend
// can reach: about 70% of a ResNet-18 forward pass on the pure-Go backend is
// in these products (results/bench/resnet18-vs-torch-2cpu.txt).
func BenchmarkMatMul(b *testing.B) {
	be := testBackend(b)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct {
		name    string
		m, k, n int
	}{
		{"stem-7168x147x64", 28 * 16 * 16, 3 * 7 * 7, 64},
		{"layer1-1792x576x64", 28 * 8 * 8, 9 * 64, 64},
		{"layer2-448x1152x128", 28 * 4 * 4, 9 * 128, 128},
		{"layer3-112x2304x256", 28 * 2 * 2, 9 * 256, 256},
		{"layer4-28x4608x512", 28, 9 * 512, 512},
	} {
		a, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n)
		for i := range a {
			a[i] = rng.Float32()
		}
		for i := range c {
			c[i] = rng.Float32()
		}
		flops := 2 * float64(s.m) * float64(s.k) * float64(s.n)
		report := func(b *testing.B) {
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		b.Run(s.name+"/backend", func(b *testing.B) {
			exec := MustNewExec(be, MatMul2D)
			at := tensors.FromFlatDataAndDimensions(a, s.m, s.k)
			ct := tensors.FromFlatDataAndDimensions(c, s.k, s.n)
			exec.MustExec(at, ct)
			b.ResetTimer()
			for range b.N {
				exec.MustExec(at, ct)[0].FinalizeAll()
			}
			report(b)
		})
		b.Run(s.name+"/gonum-sgemm", func(b *testing.B) {
			out := make([]float32, s.m*s.n)
			var impl gonum.Implementation
			for range b.N {
				impl.Sgemm(blas.NoTrans, blas.NoTrans, s.m, s.n, s.k, 1, a, s.k, c, s.n, 0, out, s.n)
			}
			report(b)
		})
	}
}
