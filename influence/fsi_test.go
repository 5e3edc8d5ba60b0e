package influence

import (
	"math"
	"slices"
	"testing"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/model"
)

// TestFSIMatchesRetraining computes F-SI from exact leave-one-out on the
// validation kernel of a small network and real images, and compares it
// with retraining the closed form without each sample and measuring the
// mean squared change of the validation outputs through the network's
// linearized pass.
func TestFSIMatchesRetraining(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net, sp, err := lqftest.Setup(be, 8, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProblem(be, net, sp.Train, 1e-1, model.DefaultAlpha, nil)
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
	fsi, err := FSI(Scores{D: d, Classes: p.C})
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
	if _, err := FSI(Scores{}); err == nil {
		t.Error("FSI accepted empty scores")
	}
}

// TestDropByFSI: the global drops remove exactly the k highest (lowest)
// F-SI values; the per-class drops remove each class's own highest
// (lowest), with per-class counts that differ by at most one, and leave
// a class whose samples all rank low its share.
func TestDropByFSI(t *testing.T) {
	// Class 1's samples all rank below class 0's.
	fsi := []float64{0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.05}
	labels := []int32{0, 1, 0, 1, 0, 1, 0, 1}
	cases := []struct {
		k              int
		most, balanced bool
		want           []int
	}{
		{0, true, false, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{3, true, false, []int{1, 3, 5, 6, 7}},  // drops 0.9, 0.8, 0.7
		{3, false, false, []int{0, 2, 4, 6, 5}}, // drops 0.05, 0.1, 0.2
		{4, false, false, []int{0, 2, 4, 6}},    // empties class 1
		{4, false, true, []int{0, 2, 3, 5}},     // drops 0.6, 0.7 of class 0 and 0.05, 0.1 of class 1
		{3, true, true, []int{1, 3, 4, 6, 7}},   // round-robin: 0.9 (c0), 0.3 (c1), 0.8 (c0)
	}
	for _, c := range cases {
		keep, err := DropByFSI(fsi, labels, 2, c.k, c.most, c.balanced)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]int(nil), c.want...)
		slices.Sort(want)
		if !slices.Equal(keep, want) {
			t.Errorf("k %d most %v balanced %v: keep %v, want %v", c.k, c.most, c.balanced, keep, want)
		}
	}
	if got := KeptPerClass([]int{0, 2, 3, 5}, labels, 2); !slices.Equal(got, []int{2, 2}) {
		t.Errorf("KeptPerClass %v, want [2 2]", got)
	}
	for _, bad := range []struct {
		k      int
		labels []int32
	}{{8, labels}, {-1, labels}, {2, labels[:3]}, {2, []int32{0, 1, 0, 1, 0, 2, 0, 1}}} {
		if _, err := DropByFSI(fsi, bad.labels, 2, bad.k, true, true); err == nil {
			t.Errorf("k %d labels %v: no error", bad.k, bad.labels)
		}
	}
}
