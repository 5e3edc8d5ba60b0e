package model

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestJacobianRowsMatchLinearized checks the per-sample Jacobian rows
// (reverse mode, one image and one class at a time) against the linearized
// forward pass: J dw must agree for a random dw. Fresh batch norm makes many
// pre-activations exactly zero on black borders, so this also pins down the
// derivative of the activation at 0.
func TestJacobianRowsMatchLinearized(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 3)
	cfg := tinyConfig(5)
	cfg.Activation = LeakyReLU
	net, err := NewNetwork(be, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	J, p, err := net.JacobianRows(be, splits.Train, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := splits.Train.Len()
	if p != net.NumParameters() || len(J) != n*5*p {
		t.Fatalf("Jacobian %d values, p = %d; want %d x %d", len(J), p, n*5, net.NumParameters())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	dw := make([]float64, p)
	for i := range dw {
		dw[i] = rng.NormFloat64()
	}
	if err := net.SetTangent(dw); err != nil {
		t.Fatal(err)
	}
	out := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x *Node) *Node {
		_, j := cfg.Linearized(ctx, x)
		return j
	}).MustExec(tensors.FromFlatDataAndDimensions(splits.Train.Images, n, 28, 28, 1))[0]
	want := float64s(tensors.MustCopyFlatData[float32](out))
	got := make([]float64, n*5)
	for r := range got {
		for j := range p {
			got[r] += float64(J[r*p+j]) * dw[j]
		}
	}
	if e := MaxRelError(got, want); e > 1e-5 || math.IsNaN(e) {
		t.Errorf("Jacobian rows times dw differ from the linearized pass by %.2e (relative)", e)
	}
}

// TestObjectiveGradient: the gradient of ObjectiveGradient matches central
// finite differences of Objective (float64; the objective is quadratic, so
// they agree to round-off), and both return the same objective.
func TestObjectiveGradient(t *testing.T) {
	const rows, p, n, lambda = 8, 5, 4, 0.3
	rng := rand.New(rand.NewPCG(7, 8))
	J := make([]float32, rows*p)
	for i := range J {
		J[i] = float32(rng.NormFloat64())
	}
	residual, dw := make([]float64, rows), make([]float64, p)
	for i := range residual {
		residual[i] = rng.NormFloat64()
	}
	for i := range dw {
		dw[i] = rng.NormFloat64()
	}
	grad := make([]float64, p)
	obj := ObjectiveGradient(J, p, residual, dw, lambda, n, grad)
	if want := Objective(J, p, residual, dw, lambda, n); math.Abs(obj-want) > 1e-12*want {
		t.Errorf("objective %.15g, Objective %.15g", obj, want)
	}
	const h = 1e-3
	for k := range p {
		x := append([]float64(nil), dw...)
		x[k] += h
		up := Objective(J, p, residual, x, lambda, n)
		x[k] -= 2 * h
		fd := (up - Objective(J, p, residual, x, lambda, n)) / (2 * h)
		if math.Abs(fd-grad[k]) > 1e-8*(1+math.Abs(fd)) {
			t.Errorf("d/dw%d: gradient %.12g, finite differences %.12g", k, grad[k], fd)
		}
	}
}
