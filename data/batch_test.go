package data

import (
	"slices"
	"testing"
)

// testSet returns n images whose pixels are distinct, asymmetric values.
func testSet(n int) *Set {
	s := &Set{NumClasses: 3, ClassNames: []string{"a", "b", "c"}}
	for i := range n {
		for p := range ImageSize {
			s.Images = append(s.Images, float32((i*ImageSize+p)%997+1)/1000)
		}
		s.Labels = append(s.Labels, int32(i%3))
		s.Origin = append(s.Origin, int32(100+i))
	}
	return s
}

func TestParseAugmentation(t *testing.T) {
	for _, a := range []Augmentation{NoAugmentation, RandomCrop, RandomCropFlip} {
		got, err := ParseAugmentation(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAugmentation(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseAugmentation("rotate"); err == nil {
		t.Error("ParseAugmentation(rotate) gave no error")
	}
}

func TestBatcherNoAugmentation(t *testing.T) {
	s := testSet(10)
	b := NewBatcher(s, 3, NoAugmentation, 1)
	if b.BatchSize() != 3 || b.BatchesPerEpoch() != 3 {
		t.Fatalf("batch size %d, batches per epoch %d; want 3, 3", b.BatchSize(), b.BatchesPerEpoch())
	}
	for epoch := range 3 {
		seen := map[int]bool{}
		for range b.BatchesPerEpoch() {
			images, labels, indices := b.Next()
			if len(images) != 3*ImageSize || len(labels) != 3 || len(indices) != 3 {
				t.Fatalf("batch shapes %d %d %d", len(images), len(labels), len(indices))
			}
			for k, i := range indices {
				if seen[i] {
					t.Fatalf("epoch %d: index %d seen twice", epoch, i)
				}
				seen[i] = true
				if labels[k] != s.Labels[i] || !slices.Equal(images[k*ImageSize:(k+1)*ImageSize], s.Image(i)) {
					t.Fatalf("sample %d of the batch differs from set sample %d", k, i)
				}
			}
		}
		if len(seen) != 9 {
			t.Fatalf("epoch %d visited %d samples, want 9", epoch, len(seen))
		}
	}
}

func TestBatcherSmallSetAndDeterminism(t *testing.T) {
	s := testSet(4)
	if b := NewBatcher(s, 32, RandomCrop, 1); b.BatchSize() != 4 || b.BatchesPerEpoch() != 1 {
		t.Fatalf("small set: batch size %d, batches %d; want 4, 1", b.BatchSize(), b.BatchesPerEpoch())
	}
	run := func(seed uint64) []float32 {
		b := NewBatcher(testSet(20), 5, RandomCropFlip, seed)
		var all []float32
		for range 10 {
			images, _, _ := b.Next()
			all = append(all, images...)
		}
		return all
	}
	if !slices.Equal(run(7), run(7)) {
		t.Error("same seed gave different batches")
	}
	if slices.Equal(run(7), run(8)) {
		t.Error("different seeds gave identical batches")
	}
}

// TestBatcherCrop checks that each augmented image is a zero-padded shift of
// its source by at most 2 pixels, optionally flipped, and that all shifts
// and both flip states occur.
func TestBatcherCrop(t *testing.T) {
	s := testSet(8)
	b := NewBatcher(s, 8, RandomCropFlip, 3)
	type form struct {
		dx, dy int
		flip   bool
	}
	seen := map[form]bool{}
	want := make([]float32, ImageSize)
	for range 100 {
		images, _, indices := b.Next()
		for k, i := range indices {
			got := images[k*ImageSize : (k+1)*ImageSize]
			found := false
			for dy := -2; dy <= 2 && !found; dy++ {
				for dx := -2; dx <= 2 && !found; dx++ {
					for _, flip := range []bool{false, true} {
						shiftFlip(want, s.Image(i), dx, dy, flip)
						if slices.Equal(got, want) {
							seen[form{dx, dy, flip}] = true
							found = true
							break
						}
					}
				}
			}
			if !found {
				t.Fatalf("augmented image of sample %d is not a shift/flip of it", i)
			}
		}
	}
	if len(seen) != 50 {
		t.Errorf("saw %d of the 50 shift/flip combinations", len(seen))
	}
}

func TestShiftFlipPixels(t *testing.T) {
	src := make([]float32, ImageSize)
	src[0] = 1          // (y=0, x=0)
	src[5*Width+27] = 2 // (y=5, x=27)
	dst := make([]float32, ImageSize)
	shiftFlip(dst, src, -2, -1, false) // content moves right 2, down 1
	if dst[1*Width+2] != 1 || dst[6*Width+27] != 0 || dst[0] != 0 {
		t.Errorf("shift: got %v at (1,2), %v at (6,27), %v at (0,0)", dst[1*Width+2], dst[6*Width+27], dst[0])
	}
	shiftFlip(dst, src, 0, 0, true)
	if dst[27] != 1 || dst[5*Width] != 2 {
		t.Errorf("flip: got %v at (0,27), %v at (5,0); want 1, 2", dst[27], dst[5*Width])
	}
}

func TestSetHelpers(t *testing.T) {
	s := testSet(10)
	if got := s.ClassCounts(); !slices.Equal(got, []int{4, 3, 3}) {
		t.Errorf("ClassCounts = %v, want [4 3 3]", got)
	}
	sub := s.Subset([]int{7, 2})
	if sub.Len() != 2 || !slices.Equal(sub.Labels, []int32{1, 2}) || !slices.Equal(sub.Origin, []int32{107, 102}) ||
		!slices.Equal(sub.Image(0), s.Image(7)) {
		t.Fatalf("Subset: labels %v origin %v", sub.Labels, sub.Origin)
	}
	sub.Image(0)[0] = -1
	if s.Image(7)[0] == -1 {
		t.Error("Subset shares image memory with the original")
	}

	var starts, sizes []int
	var joined []float32
	for start, c := range s.Chunks(4) {
		starts, sizes = append(starts, start), append(sizes, c.Len())
		joined = append(joined, c.Images...)
		if c.Origin[0] != s.Origin[start] || c.Labels[0] != s.Labels[start] {
			t.Errorf("chunk at %d does not start with sample %d", start, start)
		}
	}
	if !slices.Equal(starts, []int{0, 4, 8}) || !slices.Equal(sizes, []int{4, 4, 2}) || !slices.Equal(joined, s.Images) {
		t.Errorf("Chunks(4): starts %v sizes %v", starts, sizes)
	}
	n := 0
	for range s.Chunks(0) {
		n++
	}
	for range s.Chunks(3) {
		break // early exit must not panic
	}
	if n != 1 {
		t.Errorf("Chunks(0) gave %d chunks, want 1", n)
	}
}
