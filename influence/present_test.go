package influence

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/data"
)

// presentSets are a 3-image training set of classes a, b and a 2-image
// test set, 4x4 grayscale.
func presentSets() (train, test *data.Set) {
	mk := func(labels []int32) *data.Set {
		s := &data.Set{Height: 4, Width: 4, Channels: 1, Labels: labels, NumClasses: 2, ClassNames: []string{"a", "b"}}
		s.Images = make([]float32, 16*len(labels))
		for i := range s.Images {
			s.Images[i] = float32(i%7) / 7
		}
		return s
	}
	return mk([]int32{0, 1, 1}), mk([]int32{1, 0})
}

func TestExplanationTable(t *testing.T) {
	train, _ := presentSets()
	e := Explanation{Image: 1, Label: 0, Predicted: 1,
		Proponents: []Attribution{{Train: 2, DeltaPredicted: 0.5, DeltaTrue: -0.25}},
		Opponents:  []Attribution{{Train: 0, DeltaPredicted: -0.125, DeltaTrue: 1}}}
	header, rows := e.Table(train)
	if want := []string{"role", "train", "label", "effect on b", "effect on a"}; !reflect.DeepEqual(header, want) {
		t.Errorf("header %q, want %q", header, want)
	}
	want := [][]string{{"proponent", "2", "b", "+0.5000", "-0.2500"}, {"opponent", "0", "a", "-0.1250", "+1.0000"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %q, want %q", rows, want)
	}
	e.Label = -1 // an image without a label
	if header, _ := e.Table(train); header[4] != "effect on unknown" {
		t.Errorf("unlabelled image: header %q", header)
	}
}

func TestExplanationGrid(t *testing.T) {
	train, test := presentSets()
	e := Explanation{Image: 1, Label: 0, Predicted: 1,
		Proponents: []Attribution{{Train: 2}, {Train: 1}},
		Opponents:  []Attribution{{Train: 0}}}
	g, err := e.Grid(test, train)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{len(g.Bounds), len(g.Bounds[0]), len(g.Bounds[1]), len(g.Bounds[2])}; !reflect.DeepEqual(got, []int{3, 1, 2, 1}) {
		t.Errorf("rows and tiles %v, want the test image, 2 proponents, 1 opponent", got)
	}
	e.Image = 2
	if _, err := e.Grid(test, train); err == nil || !strings.Contains(err.Error(), "image 2") {
		t.Errorf("image outside the set: error %v", err)
	}
}
