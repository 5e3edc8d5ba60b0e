package data

import (
	"fmt"
	"math/rand/v2"
)

// Augmentation is a host-side random image augmentation applied by Batcher.
type Augmentation int

const (
	NoAugmentation Augmentation = iota
	// RandomCrop pads each image with 2 zero pixels on every side and takes
	// a random crop of the image's size (a shift by -2 to 2 pixels in each
	// direction, moving whole pixels with all their channels).
	RandomCrop
	// RandomCropFlip is RandomCrop followed by a horizontal flip (of whole
	// pixels) with probability 0.5.
	RandomCropFlip
)

const cropPad = 2

var augmentationNames = []string{"none", "crop", "crop-flip"}

// ParseAugmentation parses "none", "crop" or "crop-flip".
func ParseAugmentation(s string) (Augmentation, error) {
	for i, name := range augmentationNames {
		if s == name {
			return Augmentation(i), nil
		}
	}
	return 0, fmt.Errorf("data: unknown augmentation %q; use one of none, crop, crop-flip", s)
}

// String returns the name ParseAugmentation accepts.
func (a Augmentation) String() string {
	if a >= 0 && int(a) < len(augmentationNames) {
		return augmentationNames[a]
	}
	return fmt.Sprintf("Augmentation(%d)", int(a))
}

// Batcher yields shuffled mini-batches of a fixed size, augmented on the
// host. Each epoch visits a new seeded permutation of the set; the last
// partial batch of an epoch is dropped. It is deterministic for a seed and
// not safe for concurrent use.
type Batcher struct {
	set       *Set
	h, w, c   int // geometry of the set
	batchSize int
	aug       Augmentation
	rng       *rand.Rand
	perm      []int
	pos       int
	images    []float32
	labels    []int32
	indices   []int
}

// NewBatcher returns a Batcher over s, for images of any geometry
// (s.Geometry()). A batchSize <= 0 or larger than s.Len() is replaced by
// s.Len().
func NewBatcher(s *Set, batchSize int, aug Augmentation, seed uint64) *Batcher {
	if batchSize <= 0 || batchSize > s.Len() {
		batchSize = s.Len()
	}
	h, w, c := s.Geometry()
	b := &Batcher{
		set:       s,
		h:         h,
		w:         w,
		c:         c,
		batchSize: batchSize,
		aug:       aug,
		rng:       rand.New(rand.NewPCG(seed, pcgStream)),
		perm:      make([]int, s.Len()),
		images:    make([]float32, batchSize*h*w*c),
		labels:    make([]int32, batchSize),
		indices:   make([]int, batchSize),
	}
	for i := range b.perm {
		b.perm[i] = i
	}
	b.pos = len(b.perm) // shuffle on the first call
	return b
}

// BatchSize returns the number of samples in every batch.
func (b *Batcher) BatchSize() int { return b.batchSize }

// BatchesPerEpoch returns the number of full batches in one epoch.
func (b *Batcher) BatchesPerEpoch() int {
	if b.batchSize == 0 {
		return 0
	}
	return b.set.Len() / b.batchSize
}

// Geometry returns the height, width and channels of the batch images (those
// of the set).
func (b *Batcher) Geometry() (h, w, c int) { return b.h, b.w, b.c }

// Next returns the next batch: images ([BatchSize, H, W, C] with the set's
// geometry, len BatchSize*H*W*C), labels (len BatchSize) and the indices of
// the samples in the set. The returned slices are reused by the next call.
func (b *Batcher) Next() (images []float32, labels []int32, indices []int) {
	if b.batchSize == 0 {
		return nil, nil, nil
	}
	if b.pos+b.batchSize > len(b.perm) {
		b.rng.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		b.pos = 0
	}
	n := b.h * b.w * b.c
	for k, i := range b.perm[b.pos : b.pos+b.batchSize] {
		b.indices[k] = i
		b.labels[k] = b.set.Labels[i]
		dst := b.images[k*n : (k+1)*n]
		src := b.set.Image(i)
		switch b.aug {
		case RandomCrop, RandomCropFlip:
			dx := b.rng.IntN(2*cropPad+1) - cropPad
			dy := b.rng.IntN(2*cropPad+1) - cropPad
			flip := b.aug == RandomCropFlip && b.rng.IntN(2) == 1
			shiftFlipHWC(dst, src, b.h, b.w, b.c, dx, dy, flip)
		default:
			copy(dst, src)
		}
	}
	b.pos += b.batchSize
	return b.images, b.labels, b.indices
}

// shiftFlipHWC writes into dst the crop of the zero-padded src whose
// top-left corner is offset by (dx, dy) from the original, optionally
// flipped horizontally. Both are [h, w, c] images; whole pixels move, all c
// channels together: dst[y][x][k] = src[y+dy][x'+dx][k] (0 outside), with
// x' = x or w-1-x.
func shiftFlipHWC(dst, src []float32, h, w, c, dx, dy int, flip bool) {
	for y := range h {
		sy := y + dy
		for x := range w {
			sx := x
			if flip {
				sx = w - 1 - x
			}
			sx += dx
			d := dst[(y*w+x)*c : (y*w+x+1)*c]
			if sy >= 0 && sy < h && sx >= 0 && sx < w {
				copy(d, src[(sy*w+sx)*c:(sy*w+sx+1)*c])
			} else {
				clear(d)
			}
		}
	}
}
