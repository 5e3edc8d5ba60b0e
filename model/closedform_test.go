package model

import (
	"math"
	"testing"
)

// TestConjugateGradientsReachClosedForm: matrix-free CG on the exact
// Gauss-Newton products (one linearized forward and one reverse pass per
// product) converges to the kernel-form optimum.
func TestConjugateGradientsReachClosedForm(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 10)
	cfg := tinyConfig(5)
	cfg.Activation = LeakyReLU
	net, err := NewNetwork(be, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CheckClosedForm(be, net, splits, DefaultAlpha, 1e-2, 1, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *c)
	if c.PredRelDistance > 1e-3 || math.IsNaN(c.PredRelDistance) {
		t.Errorf("CG test predictions are %.3g (relative) from the closed form's, want <= 1e-3", c.PredRelDistance)
	}
}
