package kfac

import (
	"testing"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// BenchmarkFactorsVsLQFEpoch compares, in one run on the committed backbone
// and 128 images of fashion-5-9, the cost of K-FAC's factors (exact
// per-class or Monte-Carlo, KFC or reduce, with or without the EK-FAC pass) with one
// epoch of LQF training (batch 28, SGD momentum). Each reports ms per image.
func BenchmarkFactorsVsLQFEpoch(b *testing.B) {
	be := testBackend(b)
	base, err := pretrained.Load(be, model.LeakyReLU)
	if err != nil {
		b.Fatal(err)
	}
	task, _ := data.TaskByName("fashion-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 128, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		b.Fatal(err)
	}
	net, err := base.ReplaceHead(be, sp.Train.NumClasses, 1)
	if err != nil {
		b.Fatal(err)
	}
	n := sp.Train.Len()
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n), "ms/image")
	}
	b.Run("lqf-epoch", func(b *testing.B) {
		arch := net.Arch
		for range b.N {
			if _, err := model.TrainGraph(be, net.Ctx, arch.LinearizedLogits, model.ImageBatches(sp.Train, 28, data.NoAugmentation, 1),
				arch.NumClasses(), model.TrainOptions{Loss: model.MSE, LearningRate: 1e-6, Momentum: 0.9, Scopes: []string{model.ScopeTangent}}); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	for _, c := range []struct {
		name           string
		mc, ek, reduce bool
	}{{"factors-exact", false, false, false}, {"factors-montecarlo", true, false, false}, {"factors-exact+ekfac", false, true, false},
		{"factors-montecarlo+ekfac", true, true, false}, {"factors-exact-reduce", false, false, true}, {"factors-montecarlo-reduce", true, false, true}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				o := Options{MonteCarlo: c.mc, Expand: !c.reduce}
				f, err := Compute(be, net, sp.Train, o)
				if err == nil && c.ek {
					err = f.CorrectEigenvalues(be, net, sp.Train, o)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
}

// BenchmarkGradientPass measures the per-sample, per-output gradient pass
// in the Kronecker eigenbasis (EachGradientBatch) and its whitening, which
// K-FAC attribution runs once over the training set, on the committed
// backbone and 64 images of fashion-5-9 (5 outputs), in ms per image.
func BenchmarkGradientPass(b *testing.B) {
	be := testBackend(b)
	base, err := pretrained.Load(be, model.LeakyReLU)
	if err != nil {
		b.Fatal(err)
	}
	task, _ := data.TaskByName("fashion-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 64, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		b.Fatal(err)
	}
	net, err := base.ReplaceHead(be, sp.Train.NumClasses, 1)
	if err != nil {
		b.Fatal(err)
	}
	f, err := Compute(be, net, sp.Train, Options{})
	if err != nil {
		b.Fatal(err)
	}
	inv, err := f.Invert(1e-4)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		err := inv.EachGradientBatch(be, net, sp.Train, Options{BatchSize: 32}, func(_, _ int, rows []float32) error {
			return inv.Whiten(rows)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*sp.Train.Len()), "ms/image")
}
