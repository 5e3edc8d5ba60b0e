package finetune

import (
	"testing"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

func TestParseLinearization(t *testing.T) {
	for _, s := range []string{"auto", "jvp", "jacobian"} {
		if _, err := ParseLinearization(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseLinearization("hessian"); err == nil {
		t.Error("hessian: no error")
	}
	if l, err := LinearizeAuto.resolve(500, 10, 78000, data.NoAugmentation); err != nil || l != LinearizeJacobian {
		t.Errorf("auto, 1.5 GB: %q, %v; want jacobian", l, err)
	}
	if l, _ := LinearizeAuto.resolve(500, 10, 78000, data.RandomCropFlip); l != LinearizeJVP {
		t.Errorf("auto with augmentation: %q; want jvp", l)
	}
	if l, _ := LinearizeAuto.resolve(5000, 10, 78000, data.NoAugmentation); l != LinearizeJVP {
		t.Errorf("auto, 15 GB: %q; want jvp", l)
	}
	if _, err := LinearizeJacobian.resolve(10, 10, 100, data.RandomCropFlip); err == nil {
		t.Error("jacobian with augmentation: no error")
	}
}

// TestJacobianCacheKeepsMostRecent: a hit returns the stored features
// without computing, a different key recomputes and replaces them, and a
// nil cache always computes.
func TestJacobianCacheKeepsMostRecent(t *testing.T) {
	a, b := &data.Set{}, &data.Set{}
	var made []*model.JacobianFeatures
	compute := func() (*model.JacobianFeatures, error) {
		made = append(made, &model.JacobianFeatures{})
		return made[len(made)-1], nil
	}
	var c JacobianCache
	for i, step := range []struct {
		key   jacobianKey
		calls int
	}{
		{jacobianKey{nil, a, 1}, 1}, {jacobianKey{nil, a, 1}, 1}, {jacobianKey{nil, a, 2}, 2},
		{jacobianKey{nil, b, 2}, 3}, {jacobianKey{nil, b, 2}, 3}, {jacobianKey{nil, a, 1}, 4},
	} {
		f, err := c.get(step.key, compute)
		if err != nil || len(made) != step.calls || f != made[len(made)-1] {
			t.Fatalf("step %d: %d computations (want %d), err %v, or not the latest features", i, len(made), step.calls, err)
		}
	}
	var none *JacobianCache
	none.get(jacobianKey{nil, a, 1}, compute)
	none.get(jacobianKey{nil, a, 1}, compute)
	if len(made) != 6 {
		t.Errorf("nil cache: %d computations, want 6", len(made))
	}
}
