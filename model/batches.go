package model

import "math/rand/v2"

// featureSource yields shuffled batches of precomputed feature vectors.
type featureSource struct {
	x       []float32
	labels  []int32
	dim, bs int
	rng     *rand.Rand
	perm    []int
	pos     int
	bx      []float32
	by      []int32
}

// FeatureBatches returns batches of precomputed feature vectors x [N, dim]
// (row-major) with their labels, reshuffled every epoch (seeded): what
// TrainGraph takes to train a head on frozen features.
func FeatureBatches(x []float32, labels []int32, dim, batchSize int, seed uint64) BatchSource {
	return newFeatureSource(x, labels, dim, batchSize, seed)
}

func newFeatureSource(x []float32, labels []int32, dim, batchSize int, seed uint64) *featureSource {
	n := len(labels)
	if batchSize <= 0 || batchSize > n {
		batchSize = n
	}
	s := &featureSource{x: x, labels: labels, dim: dim, bs: batchSize,
		rng: rand.New(rand.NewPCG(seed, 0x6c71662d66656174)), perm: make([]int, n), pos: n,
		bx: make([]float32, batchSize*dim), by: make([]int32, batchSize)}
	for i := range s.perm {
		s.perm[i] = i
	}
	return s
}

func (s *featureSource) BatchSize() int       { return s.bs }
func (s *featureSource) BatchesPerEpoch() int { return len(s.labels) / s.bs }
func (s *featureSource) Dims() []int          { return []int{s.dim} }

func (s *featureSource) Next() ([]float32, []int32) {
	if s.pos+s.bs > len(s.perm) {
		s.rng.Shuffle(len(s.perm), func(i, j int) { s.perm[i], s.perm[j] = s.perm[j], s.perm[i] })
		s.pos = 0
	}
	for k, i := range s.perm[s.pos : s.pos+s.bs] {
		copy(s.bx[k*s.dim:(k+1)*s.dim], s.x[i*s.dim:(i+1)*s.dim])
		s.by[k] = s.labels[i]
	}
	s.pos += s.bs
	return s.bx, s.by
}
