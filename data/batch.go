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
	// a random 28x28 crop.
	RandomCrop
	// RandomCropFlip is RandomCrop followed by a horizontal flip with
	// probability 0.5.
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
	batchSize int
	aug       Augmentation
	rng       *rand.Rand
	perm      []int
	pos       int
	images    []float32
	labels    []int32
	indices   []int
}

// NewBatcher returns a Batcher over s. A batchSize <= 0 or larger than
// s.Len() is replaced by s.Len().
func NewBatcher(s *Set, batchSize int, aug Augmentation, seed uint64) *Batcher {
	if batchSize <= 0 || batchSize > s.Len() {
		batchSize = s.Len()
	}
	b := &Batcher{
		set:       s,
		batchSize: batchSize,
		aug:       aug,
		rng:       rand.New(rand.NewPCG(seed, pcgStream)),
		perm:      make([]int, s.Len()),
		images:    make([]float32, batchSize*ImageSize),
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

// Next returns the next batch: images ([BatchSize, Height, Width, Channels],
// len BatchSize*ImageSize), labels (len BatchSize) and the indices of the
// samples in the set. The returned slices are reused by the next call.
func (b *Batcher) Next() (images []float32, labels []int32, indices []int) {
	if b.batchSize == 0 {
		return nil, nil, nil
	}
	if b.pos+b.batchSize > len(b.perm) {
		b.rng.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		b.pos = 0
	}
	for k, i := range b.perm[b.pos : b.pos+b.batchSize] {
		b.indices[k] = i
		b.labels[k] = b.set.Labels[i]
		dst := b.images[k*ImageSize : (k+1)*ImageSize]
		src := b.set.Image(i)
		switch b.aug {
		case RandomCrop, RandomCropFlip:
			dx := b.rng.IntN(2*cropPad+1) - cropPad
			dy := b.rng.IntN(2*cropPad+1) - cropPad
			flip := b.aug == RandomCropFlip && b.rng.IntN(2) == 1
			shiftFlip(dst, src, dx, dy, flip)
		default:
			copy(dst, src)
		}
	}
	b.pos += b.batchSize
	return b.images, b.labels, b.indices
}

// shiftFlip writes into dst the crop of the zero-padded src whose top-left
// corner is offset by (dx, dy) from the original, optionally flipped
// horizontally: dst[y][x] = src[y+dy][x'+dx] (0 outside), with x' = x or
// Width-1-x.
func shiftFlip(dst, src []float32, dx, dy int, flip bool) {
	for y := range Height {
		sy := y + dy
		for x := range Width {
			sx := x
			if flip {
				sx = Width - 1 - x
			}
			sx += dx
			for c := range Channels {
				v := float32(0)
				if sy >= 0 && sy < Height && sx >= 0 && sx < Width {
					v = src[(sy*Width+sx)*Channels+c]
				}
				dst[(y*Width+x)*Channels+c] = v
			}
		}
	}
}
