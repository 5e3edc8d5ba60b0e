package influence

import (
	"fmt"
	"math"
	"sort"
)

// Scores are the leave-one-out changes of a set of test outputs, in the
// layout of Exact.LeaveOneOut: D[i][t*Classes+c] = f_c(x_t) - f_-i,c(x_t),
// the change of output c of test image t that training sample i causes
// (positive: sample i pushes the output up).
type Scores struct {
	D       [][]float64
	Classes int
}

// NumTrain and NumTest are the numbers of training samples and test
// images.
func (s Scores) NumTrain() int { return len(s.D) }

// NumTest is the number of test images.
func (s Scores) NumTest() int {
	if len(s.D) == 0 {
		return 0
	}
	return len(s.D[0]) / s.Classes
}

// Delta is the change of output c of test image t that training sample i
// causes.
func (s Scores) Delta(i, t, c int) float64 { return s.D[i][t*s.Classes+c] }

// Attribution is one training sample's effect on one test image.
type Attribution struct {
	Train int `json:"train"` // index in the training set
	// DeltaPredicted and DeltaTrue are the changes of the outputs of the
	// test image's predicted and true classes that the sample causes.
	DeltaPredicted float64 `json:"delta_predicted"`
	DeltaTrue      float64 `json:"delta_true"`
}

// TopK returns the k proponents of test image t's prediction (the training
// samples that raise the predicted class's output most: removing them
// lowers it) and its k opponents (those that lower it most), given its
// predicted and true classes.
func (s Scores) TopK(t, predicted, truth, k int) (proponents, opponents []Attribution, err error) {
	if err := s.check(t, predicted, truth); err != nil {
		return nil, nil, err
	}
	all := make([]Attribution, len(s.D))
	for i := range s.D {
		all[i] = Attribution{i, s.Delta(i, t, predicted), s.Delta(i, t, truth)}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].DeltaPredicted > all[b].DeltaPredicted })
	k = min(k, len(all))
	proponents = append([]Attribution(nil), all[:k]...)
	for j := len(all) - 1; j >= len(all)-k; j-- {
		opponents = append(opponents, all[j])
	}
	return proponents, opponents, nil
}

func (s Scores) check(t int, classes ...int) error {
	if t < 0 || t >= s.NumTest() {
		return fmt.Errorf("influence: test image %d out of range [0, %d)", t, s.NumTest())
	}
	for _, c := range classes {
		if c < 0 || c >= s.Classes {
			return fmt.Errorf("influence: class %d out of range [0, %d)", c, s.Classes)
		}
	}
	return nil
}

// Moved is one test image's change caused by a training sample.
type Moved struct {
	Test int `json:"test"`
	// Norm is the Euclidean norm of the change of the image's outputs;
	// DeltaTrue the change of its true class's output.
	Norm      float64 `json:"norm"`
	DeltaTrue float64 `json:"delta_true"`
}

// MostMoved returns the k test images whose outputs training sample i
// changes most (Euclidean norm over the outputs), given the test labels.
func (s Scores) MostMoved(i int, labels []int32, k int) ([]Moved, error) {
	if i < 0 || i >= len(s.D) {
		return nil, fmt.Errorf("influence: training sample %d out of range [0, %d)", i, len(s.D))
	}
	if len(labels) != s.NumTest() {
		return nil, fmt.Errorf("influence: %d labels for %d test images", len(labels), s.NumTest())
	}
	out := make([]Moved, s.NumTest())
	for t := range out {
		sq := 0.0
		for c := range s.Classes {
			sq += s.Delta(i, t, c) * s.Delta(i, t, c)
		}
		out[t] = Moved{t, math.Sqrt(sq), s.Delta(i, t, int(labels[t]))}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Norm > out[b].Norm })
	return out[:min(k, len(out))], nil
}

// SelfScore is one training sample's self-influence: the change of its own
// outputs when it is removed.
type SelfScore struct {
	Train int     `json:"train"`
	Norm  float64 `json:"norm"`  // Euclidean norm over the outputs
	Label float64 `json:"label"` // change of its own label's output
}

// RankSelf sorts self-influence values [N][C] (Exact.SelfInfluence,
// Primal.SelfInfluence, KFAC.SelfInfluence) by decreasing norm: samples
// that the model fits only because they are in the training set (atypical
// or mislabeled ones) come first.
func RankSelf(self [][]float64, labels []int32) ([]SelfScore, error) {
	if len(self) != len(labels) {
		return nil, fmt.Errorf("influence: %d self-influence rows for %d labels", len(self), len(labels))
	}
	out := make([]SelfScore, len(self))
	for i, row := range self {
		sq := 0.0
		for _, v := range row {
			sq += v * v
		}
		if int(labels[i]) >= len(row) {
			return nil, fmt.Errorf("influence: label %d of sample %d out of range [0, %d)", labels[i], i, len(row))
		}
		out[i] = SelfScore{i, math.Sqrt(sq), row[labels[i]]}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Norm > out[b].Norm })
	return out, nil
}
