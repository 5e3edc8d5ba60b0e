package model

import (
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestCrossKernelInChunks: the cross kernel built a few images at a time
// equals the one built from all of set's Jacobian rows at once.
func TestCrossKernelInChunks(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 3)
	net, err := NewNetwork(be, tinyConfig(5), 2)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKernel(be, net, splits.Train, DefaultAlpha, nil)
	if err != nil {
		t.Fatal(err)
	}
	whole, _, err := k.Cross(be, splits.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if splits.Test.Len() < 3 {
		t.Fatalf("%d test images: too few for chunks", splits.Test.Len())
	}
	chunked, err := k.crossKernel(be, splits.Test, 2, nil) // chunks of 2, 2, ..., and the rest
	if err != nil {
		t.Fatal(err)
	}
	if !mat.EqualApprox(chunked, whole, 1e-9) {
		t.Error("the cross kernel built in chunks differs from Cross")
	}
	if r, c := chunked.Dims(); r != splits.Test.Len()*5 || c != splits.Train.Len()*5 {
		t.Errorf("cross kernel %d x %d, want %d x %d", r, c, splits.Test.Len()*5, splits.Train.Len()*5)
	}
}
