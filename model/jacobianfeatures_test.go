package model

import (
	"fmt"
	"math"
	"testing"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
)

// TestJacobianFeaturesRepeatJVPTraining trains the linearized network twice
// from the same start, by the JVP pass on the images and on the Jacobian
// features, and requires the same iterates: equal step losses and equal dw
// at the end (float32 rounding apart). MSE with momentum (LQF) and
// cross-entropy with Adam (GaF-like) cover both losses and optimizers.
func TestJacobianFeaturesRepeatJVPTraining(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 20)
	cfg := tinyConfig(5)
	cfg.Activation = LeakyReLU
	arch := cfg.MustNet()
	for _, o := range []TrainOptions{
		{Loss: MSE, LearningRate: 0.01, Momentum: 0.9, Lambda: 1e-3},
		{Loss: CrossEntropy, LearningRate: 0.01, Optimizer: Adam, Lambda: 1e-4},
	} {
		t.Run(fmt.Sprintf("%s-%s", o.Loss, o.Optimizer), func(t *testing.T) {
			o.BatchSize, o.Epochs, o.Seed, o.Scopes = 6, 3, 5, []string{ScopeTangent}
			jvp, err := NewNetwork(be, cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			feat, err := NewNetwork(be, cfg, 2)
			if err != nil {
				t.Fatal(err)
			}
			rJVP, err := TrainGraph(be, jvp.Ctx, arch.LinearizedLogits, ImageBatches(splits.Train, o.BatchSize, data.NoAugmentation, o.Seed), 5, o)
			if err != nil {
				t.Fatal(err)
			}
			features, err := NewJacobianFeatures(be, feat, splits.Train, nil)
			if err != nil {
				t.Fatal(err)
			}
			rFeat, err := features.Train(be, feat.Ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(rJVP.StepLoss) != 9 || len(rFeat.StepLoss) != len(rJVP.StepLoss) {
				t.Fatalf("%d and %d steps; want 9 each", len(rJVP.StepLoss), len(rFeat.StepLoss))
			}
			if e := linalg.MaxRelError(rFeat.StepLoss, rJVP.StepLoss); e > 1e-4 || math.IsNaN(e) {
				t.Errorf("step losses differ by %.2e (relative): %v vs %v", e, rFeat.StepLoss, rJVP.StepLoss)
			}
			a, err := jvp.Tangent()
			if err != nil {
				t.Fatal(err)
			}
			b, err := feat.Tangent()
			if err != nil {
				t.Fatal(err)
			}
			moved := 0.0
			for _, v := range a {
				moved = math.Max(moved, math.Abs(v))
			}
			if moved == 0 {
				t.Fatal("dw did not move")
			}
			if e := linalg.MaxRelError(b, a); e > 1e-4 || math.IsNaN(e) {
				t.Errorf("dw differs by %.2e (relative to its largest entry %.3g)", e, moved)
			}
		})
	}
}
