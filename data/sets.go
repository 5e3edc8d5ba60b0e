package data

import "iter"

// Image geometry shared by every set in this package.
const (
	Height    = 28
	Width     = 28
	Channels  = 1
	ImageSize = Height * Width * Channels
)

// Set is an in-memory set of labeled images.
type Set struct {
	// Images holds Len()*ImageSize float32 values in [0, 1], row-major
	// NHWC: image i, row y, column x, channel c is at
	// i*ImageSize + (y*Width+x)*Channels + c.
	Images []float32
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

// Image returns image i as a view of ImageSize values ([Height, Width,
// Channels]) sharing memory with s.Images.
func (s *Set) Image(i int) []float32 {
	return s.Images[i*ImageSize : (i+1)*ImageSize : (i+1)*ImageSize]
}

// Subset returns a new set holding copies of the samples at indices, in
// that order. Indices must be in [0, Len()).
func (s *Set) Subset(indices []int) *Set {
	out := &Set{
		Images:     make([]float32, 0, len(indices)*ImageSize),
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
// the start index of each chunk and the chunk, a view that shares memory
// with s.
func (s *Set) Chunks(n int) iter.Seq2[int, *Set] {
	return func(yield func(int, *Set) bool) {
		size := n
		if size <= 0 {
			size = s.Len()
		}
		for start := 0; start < s.Len(); start += size {
			end := min(start+size, s.Len())
			chunk := &Set{
				Images:     s.Images[start*ImageSize : end*ImageSize],
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
