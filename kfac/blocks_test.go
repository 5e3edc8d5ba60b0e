package kfac

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/model"
)

// ExactBlocks.ApplyPower against the power of the dense block-diagonal
// matrix blockdiag((2/N) J_b^T J_b) + d I, built from the Jacobian rows
// and raised to the power by a dense eigendecomposition.
func TestExactBlocksMatchDense(t *testing.T) {
	net, set := tinySetup(t, 6)
	J, p, err := net.JacobianRows(testBackend(t), set, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := set.Len()
	rows := n * net.NumClasses()
	blocks := model.LayerBlocks(net)
	eb, err := NewExactBlocks(J, rows, p, n, blocks)
	if err != nil {
		t.Fatal(err)
	}
	const d = 1e-2
	F := mat.NewSymDense(p, nil)
	for _, b := range blocks {
		for r := range rows {
			row := J[r*p : (r+1)*p]
			for x := b.Start; x < b.End; x++ {
				for y := x; y < b.End; y++ {
					F.SetSym(x, y, F.At(x, y)+2/float64(n)*float64(row[x])*float64(row[y]))
				}
			}
		}
	}
	for x := range p {
		F.SetSym(x, x, F.At(x, x)+d)
	}
	var eig mat.EigenSym
	if !eig.Factorize(F, true) {
		t.Fatal("dense eigendecomposition failed")
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	vals := eig.Values(nil)
	rng := rand.New(rand.NewPCG(3, 4))
	v := make([]float64, p)
	for k := range v {
		v[k] = rng.NormFloat64()
	}
	for _, power := range []float64{-1, -0.5, 1} {
		got, err := eb.ApplyPower(v, d, power)
		if err != nil {
			t.Fatal(err)
		}
		var c, want mat.VecDense
		c.MulVec(vecs.T(), mat.NewVecDense(p, v))
		for i, l := range vals {
			c.SetVec(i, c.AtVec(i)*math.Pow(l, power))
		}
		want.MulVec(&vecs, &c)
		var maxErr, maxVal float64
		for k := range got {
			maxErr = math.Max(maxErr, math.Abs(got[k]-want.AtVec(k)))
			maxVal = math.Max(maxVal, math.Abs(want.AtVec(k)))
		}
		t.Logf("power %g: max error %.3g of %.3g", power, maxErr, maxVal)
		if !(maxErr <= 1e-8*maxVal) {
			t.Errorf("power %g: max |ApplyPower - dense| = %.3g, max |dense| = %.3g", power, maxErr, maxVal)
		}
	}
	if _, err := eb.ApplyPower(v[:p-1], d, 1); err == nil {
		t.Error("ApplyPower accepted a short vector")
	}
	if _, err := NewExactBlocks(J, rows, p, n, []model.Block{{Start: 0, End: 10}, {Start: 5, End: 20}}); err == nil {
		t.Error("NewExactBlocks accepted overlapping blocks")
	}
}

// One block covering every parameter is the whole curvature: preconditioning
// GoMLX's exact Gauss-Newton products (float32 graph) by it (float64, from
// the Jacobian rows) must give the identity, every Ritz value 1.
func TestExactBlocksWholeIsIdentity(t *testing.T) {
	net, set := tinySetup(t, 6)
	be := testBackend(t)
	J, p, err := net.JacobianRows(be, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := set.Len()
	eb, err := NewExactBlocks(J, n*net.NumClasses(), p, n, []model.Block{{Start: 0, End: p}})
	if err != nil {
		t.Fatal(err)
	}
	gn, err := model.NewGaussNewton(be, net, set)
	if err != nil {
		t.Fatal(err)
	}
	const lambda = 1e-2
	s, err := Lanczos(func(v []float64) ([]float64, error) {
		a, err := eb.ApplyPower(v, lambda, -0.5)
		if err != nil {
			return nil, err
		}
		h, err := gn.Apply(a, lambda)
		if err != nil {
			return nil, err
		}
		return eb.ApplyPower(h, lambda, -0.5)
	}, p, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Ritz values in [%.8f, %.8f]", s.Min, s.Max)
	if math.Abs(s.Min-1) > 1e-4 || math.Abs(s.Max-1) > 1e-4 {
		t.Errorf("whole-block-preconditioned Gauss-Newton has Ritz values in [%g, %g], want 1", s.Min, s.Max)
	}
}
