package model

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/layers"
)

const benchBatch = 64

func benchImages(cfg Config, n int) *tensors.Tensor {
	x := tensors.FromShape(shapes.Make(dtypes.Float32, n, cfg.Height, cfg.Width, cfg.Channels))
	tensors.MustMutableFlatData(x, func(f []float32) {
		for i := range f {
			f[i] = float32(i%251) / 251
		}
	})
	return x
}

// reportPerImage reports ns per image next to the per-batch ns/op.
func reportPerImage(b *testing.B, batch int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch)/1e6, "ms/image")
}

// BenchmarkBackboneForward times the default backbone's Eval forward pass
// built from its layer graph ("graph") and, in the same run, by the
// hand-written code it replaced ("handwritten", legacy_test.go): the graph
// must not be slower.
func BenchmarkBackboneForward(b *testing.B) {
	be := testBackend(b)
	cfg := DefaultConfig(10)
	arch := cfg.MustNet()
	for _, impl := range []string{"graph", "handwritten"} {
		b.Run(impl, func(b *testing.B) {
			ctx := context.New()
			exec := context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
				if impl == "graph" {
					return arch.Logits(ctx, x, Eval)
				}
				return legacyConfig(cfg).Logits(ctx, x, Eval)
			})
			x := benchImages(cfg, benchBatch)
			exec.MustExec(x)
			b.ResetTimer()
			for range b.N {
				exec.MustExec(x)
			}
			reportPerImage(b, benchBatch)
		})
	}
}

func BenchmarkBackboneForwardBackward(b *testing.B) {
	be := testBackend(b)
	cfg := DefaultConfig(10)
	arch := cfg.MustNet()
	ctx := context.New()
	exec := context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) []*Node {
		logits := arch.Logits(ctx, x, TrainBatchStats)
		loss := ReduceAllSum(Square(logits))
		return ctx.BuildTrainableVariablesGradientsGraph(loss)
	})
	x := benchImages(cfg, benchBatch)
	exec.MustExec(x)
	b.ResetTimer()
	for range b.N {
		exec.MustExec(x)
	}
	reportPerImage(b, benchBatch)
}

// MultiplyAccumulates counts from the layer graph's shapes; this counts
// the same products from the units an Eval graph actually builds
// (layers.Net.WithProbe): output positions x kernel window x input x output
// channels per convolution, features x classes for the head, tripled in the
// linearized pass except for the unit that reads the image.
func TestMultiplyAccumulatesMatchGraph(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{DefaultConfig(5), func() Config {
		c := DefaultConfig(3)
		c.StemWidth, c.StageWidths, c.Height, c.Width = 3, []int{3, 4}, 20, 17
		return c
	}()} {
		net, err := NewNetwork(be, cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		var fwd, lin int64
		first := true
		arch := net.Arch.WithProbe(func(u layers.Unit) {
			var m int64
			if !u.Conv {
				m = int64(u.Input.Shape().Dimensions[1]) * int64(u.Output.Shape().Dimensions[1])
			} else {
				od, kd := u.Output.Shape().Dimensions, u.Kernel.Shape().Dimensions
				m = int64(od[1]) * int64(od[2]) * int64(kd[0]*kd[1]*kd[2]*kd[3])
			}
			fwd += m
			if first {
				lin += 2 * m // the stem reads the image
			} else {
				lin += 3 * m
			}
			first = false
		})
		e := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, Eval) })
		e.MustExec(tensors.FromShape(shapes.Make(dtypes.Float32, 1, cfg.Height, cfg.Width, cfg.Channels)))
		e.Finalize()
		gotF, gotL, err := arch.MultiplyAccumulates()
		if err != nil {
			t.Fatal(err)
		}
		if gotF != fwd || gotL != lin {
			t.Errorf("%dx%d stem %d stages %v: MultiplyAccumulates = %d, %d; the graph's units give %d, %d", cfg.Height, cfg.Width, cfg.StemWidth, cfg.StageWidths, gotF, gotL, fwd, lin)
		}
		t.Logf("%dx%d stages %v: %d MACs forward, %d linearized, ratio %.3f", cfg.Height, cfg.Width, cfg.StageWidths, gotF, gotL, float64(gotL)/float64(gotF))
	}
}

// BenchmarkLinearizedTraining compares the two ways LQF trains the
// linearized network (Linearization) on the full backbone, 56 images and 5
// classes, batch 28, SGD with momentum: the JVP pass on every batch, the
// same steps on Jacobian features computed beforehand ("jacobian-steps"),
// and those steps plus computing the features ("jacobian-rows+steps", what
// one grid point costs when nothing is cached). ms/image-epoch is the cost
// of one image in one epoch; run the three together for their ratios.
func BenchmarkLinearizedTraining(b *testing.B) {
	const epochs = 2
	be := testBackend(b)
	splits := loadTiny(b, "mnist-5-9", 56)
	cfg := DefaultConfig(5)
	cfg.Activation = LeakyReLU
	arch := cfg.MustNet()
	o := TrainOptions{Loss: MSE, LearningRate: 1e-3, Momentum: 0.9, Lambda: 1e-4, BatchSize: 28, Epochs: epochs, Seed: 1,
		Scopes: []string{ScopeTangent}}
	n := splits.Train.Len()
	for _, how := range []string{"jvp", "jacobian-steps", "jacobian-rows+steps"} {
		b.Run(how, func(b *testing.B) {
			net, err := NewNetwork(be, cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			features, err := NewJacobianFeatures(be, net, splits.Train, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				switch how {
				case "jvp":
					_, err = TrainGraph(be, net.Ctx, arch.LinearizedLogits, ImageBatches(splits.Train, o.BatchSize, o.Augment, o.Seed), 5, o)
				default:
					if how == "jacobian-rows+steps" {
						if features, err = NewJacobianFeatures(be, net, splits.Train, nil); err != nil {
							b.Fatal(err)
						}
					}
					_, err = features.Train(be, net.Ctx, o)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*epochs)/1e6, "ms/image-epoch")
		})
	}
}
