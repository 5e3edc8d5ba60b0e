package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/linalg"
)

// directConv computes y[b,i,j,o] = sum_{di,dj,c} xpad[b, s*i+di, s*j+dj, c] * k[di,dj,c,o] in float64.
func directConv(x []float64, b, h, w, c int, k []float64, co int, geo ConvGeometry) ([]float64, int, int) {
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	y := make([]float64, b*ho*wo*co)
	for n := 0; n < b; n++ {
		for i := 0; i < ho; i++ {
			for j := 0; j < wo; j++ {
				for di := 0; di < geo.Kernel; di++ {
					for dj := 0; dj < geo.Kernel; dj++ {
						r, q := geo.Stride*i+di-geo.Padding, geo.Stride*j+dj-geo.Padding
						if r < 0 || q < 0 || r >= h || q >= w {
							continue
						}
						for ci := 0; ci < c; ci++ {
							xv := x[((n*h+r)*w+q)*c+ci]
							for o := 0; o < co; o++ {
								y[((n*ho+i)*wo+j)*co+o] += xv * k[((di*geo.Kernel+dj)*c+ci)*co+o]
							}
						}
					}
				}
			}
		}
	}
	return y, ho, wo
}

// directConvGrads returns dL/dx and dL/dk of L = sum(y * r) by the chain rule written out directly.
func directConvGrads(x []float64, b, h, w, c int, k []float64, co int, r []float64, geo ConvGeometry) (dx, dk []float64) {
	ho, wo := geo.OutputSize(h), geo.OutputSize(w)
	dx, dk = make([]float64, len(x)), make([]float64, len(k))
	for n := 0; n < b; n++ {
		for i := 0; i < ho; i++ {
			for j := 0; j < wo; j++ {
				for di := 0; di < geo.Kernel; di++ {
					for dj := 0; dj < geo.Kernel; dj++ {
						p, q := geo.Stride*i+di-geo.Padding, geo.Stride*j+dj-geo.Padding
						if p < 0 || q < 0 || p >= h || q >= w {
							continue
						}
						for ci := 0; ci < c; ci++ {
							xi := ((n*h+p)*w+q)*c + ci
							for o := 0; o < co; o++ {
								rv := r[((n*ho+i)*wo+j)*co+o]
								ki := ((di*geo.Kernel+dj)*c+ci)*co + o
								dx[xi] += rv * k[ki]
								dk[ki] += rv * x[xi]
							}
						}
					}
				}
			}
		}
	}
	return
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

// testBackend returns the process's shared backend (backend.Shared).
func testBackend(t testing.TB) backends.Backend { return backendtest.Shared(t) }

func TestConv2DMatchesDirect(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		h, w, c, co int
		geo         ConvGeometry
	}{
		{7, 7, 3, 4, ConvGeometry{3, 1, 1}},
		{7, 7, 3, 4, ConvGeometry{3, 2, 1}},
		{8, 6, 2, 3, ConvGeometry{3, 2, 1}},
		{8, 8, 2, 5, ConvGeometry{1, 2, 0}},
		{9, 9, 2, 2, ConvGeometry{5, 3, 2}},
		{5, 5, 1, 2, ConvGeometry{3, 1, 0}},
	} {
		b := 2
		x := randSlice(rng, b*tc.h*tc.w*tc.c)
		k := randSlice(rng, tc.geo.Kernel*tc.geo.Kernel*tc.c*tc.co)
		want, ho, wo := directConv(x, b, tc.h, tc.w, tc.c, k, tc.co, tc.geo)
		r := randSlice(rng, len(want))
		wantDx, wantDk := directConvGrads(x, b, tc.h, tc.w, tc.c, k, tc.co, r, tc.geo)

		exec := MustNewExec(be, func(x, k, r *Node) []*Node {
			y := Conv(x, k, nil, tc.geo)
			loss := ReduceAllSum(Mul(y, r))
			return append([]*Node{y}, Gradient(loss, x, k)...)
		})
		out := exec.MustExec(
			tensors.FromFlatDataAndDimensions(x, b, tc.h, tc.w, tc.c),
			tensors.FromFlatDataAndDimensions(k, tc.geo.Kernel, tc.geo.Kernel, tc.c, tc.co),
			tensors.FromFlatDataAndDimensions(r, b, ho, wo, tc.co))
		for i, want := range [][]float64{want, wantDx, wantDk} {
			got := tensors.MustCopyFlatData[float64](out[i])
			if e := linalg.MaxRelError(got, want); e > 1e-12 {
				t.Errorf("%+v %dx%dx%d->%d output %d: max relative error %g", tc.geo, tc.h, tc.w, tc.c, tc.co, i, e)
			}
		}
	}
}

// TestConv2DMatchesNative checks the im2col convolution against GoMLX's own
// Convolve (forward values), an implementation independent of lqf's.
func TestConv2DMatchesNative(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, geo := range []ConvGeometry{{3, 1, 1}, {3, 2, 1}, {1, 2, 0}, {5, 1, 2}} {
		x, k := randSlice(rng, 2*9*9*3), randSlice(rng, geo.Kernel*geo.Kernel*3*4)
		outs := MustNewExec(be, func(x, k *Node) []*Node {
			return []*Node{Conv(x, k, nil, geo), nativeConv(x, k, geo)}
		}).MustExec(tensors.FromFlatDataAndDimensions(x, 2, 9, 9, 3), tensors.FromFlatDataAndDimensions(k, geo.Kernel, geo.Kernel, 3, 4))
		got, want := tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])
		if len(got) != len(want) {
			t.Fatalf("%v: %d outputs, native has %d", geo, len(got), len(want))
		}
		if e := linalg.MaxRelError(got, want); e > 1e-12 {
			t.Errorf("%v: im2col and native convolution differ by %g", geo, e)
		}
	}
}

// nativeConv is GoMLX's built-in convolution with the same geometry, the
// baseline of BenchmarkConv2D.
func nativeConv(x, kernel *Node, geo ConvGeometry) *Node {
	p := geo.Padding
	return Convolve(x, kernel).StridePerAxis(geo.Stride, geo.Stride).PaddingPerDim([][2]int{{p, p}, {p, p}}).Done()
}

// BenchmarkConv2D compares the im2col convolution (Conv2D) with GoMLX's
// native Convolve on the backbone's layer shapes, forward only (the pure-Go
// backend cannot differentiate native convolution), plus Conv2D's
// forward+backward. Run both in one `go test -bench Conv2D` so the ratio is
// measured on the same machine and load.
func BenchmarkConv2D(b *testing.B) {
	shapes_ := []struct {
		name      string
		h, cin, c int
		geo       ConvGeometry
	}{
		{"28x28x16-16-3x3s1", 28, 16, 16, ConvGeometry{3, 1, 1}},
		{"28x28x16-32-3x3s2", 28, 16, 32, ConvGeometry{3, 2, 1}},
		{"7x7x64-64-3x3s1", 7, 64, 64, ConvGeometry{3, 1, 1}},
	}
	be := testBackend(b)
	for _, l := range shapes_ {
		x := tensors.FromShape(shapes.Make(dtypes.Float32, benchBatch, l.h, l.h, l.cin))
		k := tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3, l.cin, l.c))
		for _, impl := range []string{"im2col", "native", "im2col-fwd+bwd"} {
			b.Run(l.name+"/"+impl, func(b *testing.B) {
				exec := MustNewExec(be, func(x, k *Node) []*Node {
					switch impl {
					case "native":
						return []*Node{nativeConv(x, k, l.geo)}
					case "im2col":
						return []*Node{Conv(x, k, nil, l.geo)}
					}
					y := Conv(x, k, nil, l.geo)
					return Gradient(ReduceAllSum(Square(y)), x, k)
				})
				exec.MustExec(x, k)
				b.ResetTimer()
				for range b.N {
					exec.MustExec(x, k)
				}
				reportPerImage(b, benchBatch)
			})
		}
	}
}

const benchBatch = 64

func reportPerImage(b *testing.B, batch int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch)/1e6, "ms/image")
}

// TestMatMul2DGradient checks MatMul2D's hand-written VJP against GoMLX's
// automatic differentiation of Dot, in float64.
func TestMatMul2DGradient(t *testing.T) {
	be := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	a, b, r := randSlice(rng, 5*4), randSlice(rng, 4*3), randSlice(rng, 5*3)
	fn := func(custom bool) []float64 {
		var out []float64
		exec := context.MustNewExec(be, context.New(), func(ctx *context.Context, a, b, r *Node) []*Node {
			var y *Node
			if custom {
				y = MatMul2D(a, b)
			} else {
				y = Dot(a, b)
			}
			loss := ReduceAllSum(Mul(y, r))
			g := Gradient(loss, a, b)
			return []*Node{y, g[0], g[1]}
		})
		for _, t := range exec.MustExec(tensors.FromFlatDataAndDimensions(a, 5, 4), tensors.FromFlatDataAndDimensions(b, 4, 3), tensors.FromFlatDataAndDimensions(r, 5, 3)) {
			out = append(out, tensors.MustCopyFlatData[float64](t)...)
		}
		return out
	}
	got, want := fn(true), fn(false)
	if e := linalg.MaxRelError(got, want); e > 1e-14 || math.IsNaN(e) {
		t.Errorf("MatMul2D value/gradients differ from Dot's by %g", e)
	}
}
