package data

import (
	"fmt"
	"iter"
)

// Height, Width, Channels and ImageSize (their product) are the image
// geometry of the built-in MNIST and Fashion-MNIST tasks, of the idx loader
// and of LoadImageFolder: 28x28 grayscale. A Set whose Height, Width and
// Channels fields are all zero has this geometry. Sets of other geometries
// (LoadImageFolderAs, Resample) carry theirs in those fields: use
// Set.Geometry and Set.ImageLen rather than these constants for them.
const (
	Height    = 28
	Width     = 28
	Channels  = 1
	ImageSize = Height * Width * Channels
)

// Set is an in-memory set of labeled images of one geometry.
type Set struct {
	// Images holds Len()*ImageLen() float32 values in [0, 1], row-major
	// NHWC: image i, row y, column x, channel c is at
	// i*ImageLen() + (y*Width+x)*Channels + c, with Width and Channels the
	// set's fields.
	Images []float32
	// Height, Width and Channels are the geometry of every image (Channels
	// 1: grayscale; 3: RGB in R, G, B order). All three zero means the
	// built-in 28x28x1 (the package constants), so that sets built without
	// them keep working; read them through Geometry.
	Height, Width, Channels int
	// Labels holds Len() labels in [0, NumClasses).
	Labels []int32
	// NumClasses is the number of classes.
	NumClasses int
	// ClassNames has NumClasses names, indexed by label.
	ClassNames []string
	// Origin holds, for each sample, its index in the file or folder it was
	// read from (for task sets: the index in the official file of the
	// sample's class).
	Origin []int32
}

// Len returns the number of samples.
func (s *Set) Len() int { return len(s.Labels) }

// Geometry returns the height, width and channels of the images: the
// fields, or 28, 28, 1 when all three are zero.
func (s *Set) Geometry() (h, w, c int) {
	if s.Height == 0 && s.Width == 0 && s.Channels == 0 {
		return Height, Width, Channels
	}
	return s.Height, s.Width, s.Channels
}

// geometry returns s.Geometry() as a Geometry.
func (s *Set) geometry() Geometry {
	h, w, c := s.Geometry()
	return Geometry{Height: h, Width: w, Channels: c}
}

// ImageLen returns the number of values of one image, H*W*C of Geometry.
func (s *Set) ImageLen() int {
	h, w, c := s.Geometry()
	return h * w * c
}

// CheckGeometry returns nil if the images are h x w x c (HxWxC), and
// otherwise an error naming both geometries, for example "data: the images
// are 48x48x3 (HxWxC) but the network takes 28x28x1; resize the images or
// pick a network for that input". It also rejects a set whose own geometry
// has a non-positive size or does not match len(Images).
func (s *Set) CheckGeometry(h, w, c int) error {
	if err := s.checkLayout(); err != nil {
		return err
	}
	sh, sw, sc := s.Geometry()
	if sh != h || sw != w || sc != c {
		return fmt.Errorf("data: the images are %dx%dx%d (HxWxC) but the network takes %dx%dx%d; resize the images or pick a network for that input",
			sh, sw, sc, h, w, c)
	}
	return nil
}

// checkLayout reports whether the geometry is positive and Images holds
// Len()*ImageLen() values.
func (s *Set) checkLayout() error {
	h, w, c := s.Geometry()
	if h <= 0 || w <= 0 || c <= 0 {
		return fmt.Errorf("data: the set's geometry %dx%dx%d (HxWxC) is invalid: set Height, Width and Channels to positive sizes (all zero means 28x28x1)",
			h, w, c)
	}
	if want := s.Len() * h * w * c; len(s.Images) != want {
		return fmt.Errorf("data: the set has %d labels of %dx%dx%d (HxWxC) images, %d values, but Images holds %d values",
			s.Len(), h, w, c, want, len(s.Images))
	}
	return nil
}

// Image returns image i as a view of ImageLen() values ([Height, Width,
// Channels] of the set) sharing memory with s.Images.
func (s *Set) Image(i int) []float32 {
	n := s.ImageLen()
	return s.Images[i*n : (i+1)*n : (i+1)*n]
}

// Subset returns a new set of the same geometry holding copies of the
// samples at indices, in that order. Indices must be in [0, Len()).
func (s *Set) Subset(indices []int) *Set {
	h, w, c := s.Geometry()
	out := &Set{
		Images:     make([]float32, 0, len(indices)*h*w*c),
		Height:     h,
		Width:      w,
		Channels:   c,
		Labels:     make([]int32, len(indices)),
		NumClasses: s.NumClasses,
		ClassNames: append([]string(nil), s.ClassNames...),
		Origin:     make([]int32, len(indices)),
	}
	for j, i := range indices {
		out.Images = append(out.Images, s.Image(i)...)
		out.Labels[j] = s.Labels[i]
		if s.Origin != nil {
			out.Origin[j] = s.Origin[i]
		}
	}
	return out
}

// ClassCounts returns the number of samples of each class (len NumClasses).
func (s *Set) ClassCounts() []int {
	counts := make([]int, s.NumClasses)
	for _, l := range s.Labels {
		if int(l) >= 0 && int(l) < s.NumClasses {
			counts[l]++
		}
	}
	return counts
}

// Chunks iterates over s in order, in chunks of at most n samples (n <= 0
// means one chunk holding the whole set), without augmentation. It yields
// the start index of each chunk and the chunk, a view of the same geometry
// that shares memory with s.
func (s *Set) Chunks(n int) iter.Seq2[int, *Set] {
	return func(yield func(int, *Set) bool) {
		size := n
		if size <= 0 {
			size = s.Len()
		}
		h, w, c := s.Geometry()
		m := h * w * c
		for start := 0; start < s.Len(); start += size {
			end := min(start+size, s.Len())
			chunk := &Set{
				Images:     s.Images[start*m : end*m],
				Height:     h,
				Width:      w,
				Channels:   c,
				Labels:     s.Labels[start:end],
				NumClasses: s.NumClasses,
				ClassNames: s.ClassNames,
			}
			if s.Origin != nil {
				chunk.Origin = s.Origin[start:end]
			}
			if !yield(start, chunk) {
				return
			}
		}
	}
}
