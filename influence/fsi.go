package influence

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// FSI returns the F-SI informativeness of every training sample, paper
// eq. 9 (Sec. 3.4): the expected squared change of the network's outputs
// on validation data when the sample is removed from training,
//
//	F-SI(i) = E_{x ~ D_val} ||f_w(x) - f_{w_-i}(x)||^2
//	        = (1/M) sum_t sum_c s_i(x_t, c)^2,
//
// with w_-i the LQF solution without sample i and s the leave-one-out
// scores s_i(x_t, c) = f_w(x_t)_c - f_{w_-i}(x_t)_c of the M validation
// images x_t (exact: Exact.LeaveOneOut on the validation kernel, eq. 7;
// approximate: KFAC.Query, eq. 8).
func FSI(s Scores) ([]float64, error) {
	if len(s.D) == 0 || s.Classes < 1 {
		return nil, errors.New("influence: no scores")
	}
	m := s.NumTest()
	if m == 0 || len(s.D[0]) != m*s.Classes {
		return nil, fmt.Errorf("influence: %d values per sample are not validation images of %d outputs", len(s.D[0]), s.Classes)
	}
	out := make([]float64, len(s.D))
	for i, row := range s.D {
		if len(row) != m*s.Classes {
			return nil, fmt.Errorf("influence: sample %d has %d scores, sample 0 has %d", i, len(row), m*s.Classes)
		}
		sq := 0.0
		for _, v := range row {
			sq += v * v
		}
		out[i] = sq / float64(m)
	}
	return out, nil
}

// RankByFSI returns the training indices sorted by decreasing F-SI: the
// most informative first.
func RankByFSI(fsi []float64) []int {
	idx := make([]int, len(fsi))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return fsi[idx[a]] > fsi[idx[b]] })
	return idx
}

// DropByFSI returns the training indices kept after dropping k samples by
// F-SI (in increasing index order): the k most informative (most = true)
// or the k least. With balanced, the k are spread over the classes
// round-robin, each class losing its own most (or least) informative
// samples and no class losing more than one sample more than another one
// that still has samples: a summarization that cannot empty a class whose
// samples all rank low. labels[i] in [0, classes).
func DropByFSI(fsi []float64, labels []int32, classes, k int, most, balanced bool) ([]int, error) {
	n := len(fsi)
	if len(labels) != n || classes < 1 || k < 0 || k >= n {
		return nil, fmt.Errorf("influence: cannot drop %d of %d samples (%d labels, %d classes)", k, n, len(labels), classes)
	}
	rank := RankByFSI(fsi)
	if !most {
		slices.Reverse(rank)
	}
	drop := make([]bool, n)
	if !balanced {
		for _, i := range rank[:k] {
			drop[i] = true
		}
	} else {
		queues := make([][]int, classes) // each class's samples, first dropped first
		for _, i := range rank {
			if l := int(labels[i]); l < 0 || l >= classes {
				return nil, fmt.Errorf("influence: sample %d has label %d, not in [0, %d)", i, l, classes)
			}
			queues[labels[i]] = append(queues[labels[i]], i)
		}
		for dropped := 0; dropped < k; {
			for c := range queues {
				if dropped < k && len(queues[c]) > 0 {
					drop[queues[c][0]] = true
					queues[c] = queues[c][1:]
					dropped++
				}
			}
		}
	}
	keep := make([]int, 0, n-k)
	for i, d := range drop {
		if !d {
			keep = append(keep, i)
		}
	}
	return keep, nil
}

// KeptPerClass counts the kept samples of each class.
func KeptPerClass(keep []int, labels []int32, classes int) []int {
	out := make([]int, classes)
	for _, i := range keep {
		out[labels[i]]++
	}
	return out
}
