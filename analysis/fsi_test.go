package analysis

import (
	"math"
	"slices"
	"testing"

	"github.com/lqf-go/lqf/influence"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/model"
)

// TestFSIMatchesRetraining computes F-SI from exact leave-one-out on the
// validation kernel of a small network and real images, and compares it
// with retraining the closed form without each sample and measuring the
// mean squared change of the validation outputs through the network's
// linearized pass.
func TestFSIMatchesRetraining(t *testing.T) {
	be, err := model.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	net, sp, err := lqftest.Setup(be, 8, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := influence.NewProblem(be, net, sp.Train, 1e-1, model.DefaultAlpha, nil)
	if err != nil {
		t.Fatal(err)
	}
	kVal, _, err := p.TestKernel(be, sp.Val, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Exact.LeaveOneOut(kVal)
	if err != nil {
		t.Fatal(err)
	}
	fsi, err := FSI(influence.Scores{D: d, Classes: p.Classes})
	if err != nil {
		t.Fatal(err)
	}
	n := sp.Train.Len()
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	dw, err := p.Retrain(all)
	if err != nil {
		t.Fatal(err)
	}
	full, err := p.Outputs(be, dw, sp.Val)
	if err != nil {
		t.Fatal(err)
	}
	var maxErr, maxVal float64
	for i := range n {
		dwi, err := p.Retrain(slices.Delete(slices.Clone(all), i, i+1))
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Outputs(be, dwi, sp.Val)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for k := range out {
			diff := float64(full[k]) - float64(out[k])
			want += diff * diff
		}
		want /= float64(sp.Val.Len())
		maxErr = math.Max(maxErr, math.Abs(fsi[i]-want))
		maxVal = math.Max(maxVal, want)
	}
	t.Logf("F-SI vs retraining: max difference %.3g (max F-SI %.3g)", maxErr, maxVal)
	if maxVal == 0 || maxErr > 1e-4*maxVal {
		t.Errorf("F-SI differs from retraining by %.3g (max %.3g)", maxErr, maxVal)
	}
	rank := RankByFSI(fsi)
	for k := 1; k < len(rank); k++ {
		if fsi[rank[k]] > fsi[rank[k-1]] {
			t.Fatalf("RankByFSI is not decreasing at %d", k)
		}
	}
	if _, err := FSI(influence.Scores{}); err == nil {
		t.Error("FSI accepted empty scores")
	}
}
