package analysis

import (
	"errors"
	"fmt"
	"sort"

	"github.com/lqf-go/lqf/influence"
)

// FSI returns the F-SI informativeness of every training sample (paper
// eq. 9): the expected squared change of the validation outputs when the
// sample is removed,
//
//	F-SI(i) = (1/M) sum_t ||f(x_t) - f_-i(x_t)||^2,
//
// over the M validation images of the leave-one-out scores s (exact:
// influence.Exact.LeaveOneOut on the validation kernel; approximate:
// influence.KFAC.Query).
func FSI(s influence.Scores) ([]float64, error) {
	if len(s.D) == 0 || s.Classes < 1 {
		return nil, errors.New("analysis: no scores")
	}
	m := s.NumTest()
	if m == 0 || len(s.D[0]) != m*s.Classes {
		return nil, fmt.Errorf("analysis: %d values per sample are not validation images of %d outputs", len(s.D[0]), s.Classes)
	}
	out := make([]float64, len(s.D))
	for i, row := range s.D {
		if len(row) != m*s.Classes {
			return nil, fmt.Errorf("analysis: sample %d has %d scores, sample 0 has %d", i, len(row), m*s.Classes)
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
