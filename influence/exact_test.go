package influence

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// TestLeaveOneOutMatchesRetraining computes the exact leave-one-out change
// of every test output for every training sample with the Woodbury
// identity, and compares it with retraining the LQF closed form without
// that sample (a fresh Cholesky solve of the reduced kernel system), on the
// empirical NTK of a small network and real images.
func TestLeaveOneOutMatchesRetraining(t *testing.T) {
	be, err := model.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.DefaultConfig(3)
	cfg.StemWidth, cfg.StageWidths, cfg.Activation = 3, []int{3, 4, 4}, model.LeakyReLU
	net, err := model.NewNetwork(be, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := data.TaskByName("mnist-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 4, MaxTrain: 8, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	net, err = net.ReplaceHead(be, sp.Train.NumClasses, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := sp.Train.NumClasses
	Jtr, p, err := net.JacobianRows(be, sp.Train, nil)
	if err != nil {
		t.Fatal(err)
	}
	Jte, _, err := net.JacobianRows(be, sp.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, rows, trows := sp.Train.Len(), sp.Train.Len()*c, sp.Test.Len()*c
	f0, _ := net.Logits(be, sp.Train)
	r := model.Residuals(f0, sp.Train.Labels, c, model.DefaultAlpha)
	K := model.Gram(Jtr, rows, p)
	Kx := model.CrossGram(Jte, trows, Jtr, rows, p)
	ridge := model.RidgeTerm(1e-2, n)
	e, err := NewExact(K, r, c, ridge)
	if err != nil {
		t.Fatal(err)
	}
	loo, err := e.LeaveOneOut(Kx)
	if err != nil {
		t.Fatal(err)
	}
	full := mat.NewVecDense(trows, nil)
	full.MulVec(Kx, mat.NewVecDense(rows, e.Coefficients()))
	var maxErr, maxVal float64
	for i := range n {
		var keep []int
		for j := range rows {
			if j/c != i {
				keep = append(keep, j)
			}
		}
		a := mat.NewSymDense(len(keep), nil)
		rr := mat.NewVecDense(len(keep), nil)
		for x, jx := range keep {
			rr.SetVec(x, r[jx])
			for y, jy := range keep {
				if y >= x {
					a.SetSym(x, y, K.At(jx, jy))
				}
			}
			a.SetSym(x, x, a.At(x, x)+ridge)
		}
		var chol mat.Cholesky
		if !chol.Factorize(a) {
			t.Fatal("reduced system not positive definite")
		}
		var coef mat.VecDense
		if err := chol.SolveVecTo(&coef, rr); err != nil {
			t.Fatal(err)
		}
		for m := range trows {
			retrained := 0.0
			for x, jx := range keep {
				retrained += Kx.At(m, jx) * coef.AtVec(x)
			}
			want := full.AtVec(m) - retrained
			maxErr = math.Max(maxErr, math.Abs(loo[i][m]-want))
			maxVal = math.Max(maxVal, math.Abs(want))
		}
	}
	t.Logf("max |exact - retrained| = %.3g, max |change| = %.3g", maxErr, maxVal)
	if maxErr > 1e-8*maxVal || maxVal == 0 {
		t.Errorf("leave-one-out changes differ from retraining by %.3g (max change %.3g)", maxErr, maxVal)
	}
}
