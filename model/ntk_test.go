package model

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/lqf-go/lqf/linalg"
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
	arch := cfg.MustNet()
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
		_, j := arch.Linearized(ctx, x)
		return j
	}).MustExec(tensors.FromFlatDataAndDimensions(splits.Train.Images, n, 28, 28, 1))[0]
	want := float64s(tensors.MustCopyFlatData[float32](out))
	got := make([]float64, n*5)
	for r := range got {
		for j := range p {
			got[r] += float64(J[r*p+j]) * dw[j]
		}
	}
	if e := linalg.MaxRelError(got, want); e > 1e-5 || math.IsNaN(e) {
		t.Errorf("Jacobian rows times dw differ from the linearized pass by %.2e (relative)", e)
	}
}
