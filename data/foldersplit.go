package data

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// SplitSet divides a labeled set (for example an image folder) into
// train, validation and test sets of its geometry, per class and deterministically for
// opts.Seed: a seeded permutation of each class gives testFraction of its
// samples (at least one) to test, then opts.ValPerClass (0: 10% of the
// class, at least one) to validation, and the rest, after opts.Shots and
// opts.MaxTrain, to training.
func SplitSet(s *Set, testFraction float64, opts SplitOptions) (*Splits, error) {
	if testFraction <= 0 || testFraction >= 1 {
		return nil, fmt.Errorf("data: test fraction %g must be in (0, 1)", testFraction)
	}
	return splitSet(s, testFraction, opts)
}

// splitSet is SplitSet; testFraction 0 gives an empty test set.
func splitSet(s *Set, testFraction float64, opts SplitOptions) (*Splits, error) {
	if opts.Shots < 0 || opts.MaxTrain < 0 || opts.ValPerClass < 0 {
		return nil, fmt.Errorf("data: Shots, MaxTrain and ValPerClass must be >= 0")
	}
	rng := rand.New(rand.NewPCG(opts.Seed, pcgStream))
	byClass := make([][]int, s.NumClasses)
	for i, l := range s.Labels {
		byClass[l] = append(byClass[l], i)
	}
	var train, val, test [][]int
	for c, idx := range byClass {
		idx = shuffled(rng, idx)
		nTest := 0
		if testFraction > 0 {
			nTest = max(1, int(float64(len(idx))*testFraction))
		}
		nVal := opts.ValPerClass
		if nVal == 0 {
			nVal = max(1, len(idx)/10)
		}
		if len(idx) < nTest+nVal+1 {
			return nil, fmt.Errorf("data: class %q has %d images; it needs at least %d (test %d, validation %d, training 1): add images or lower --val-per-class",
				s.ClassNames[c], len(idx), nTest+nVal+1, nTest, nVal)
		}
		rest := idx[nTest+nVal:]
		if opts.Shots > 0 {
			if opts.Shots > len(rest) {
				return nil, fmt.Errorf("data: class %q has %d training images, fewer than --shots %d", s.ClassNames[c], len(rest), opts.Shots)
			}
			rest = rest[:opts.Shots]
		}
		test = append(test, idx[:nTest])
		val = append(val, idx[nTest:nTest+nVal])
		train = append(train, rest)
	}
	if opts.MaxTrain > 0 {
		train = roundRobin(train, opts.MaxTrain)
	}
	flat := func(perClass [][]int) *Set {
		all := slices.Concat(perClass...)
		slices.Sort(all)
		return s.Subset(all)
	}
	return &Splits{Train: flat(train), Val: flat(val), Test: flat(test)}, nil
}

// LoadImageFolderSplits loads a user's image folder as 28x28x1 train,
// validation and test sets: it is LoadImageFolderSplitsAs(dir, Geometry{},
// opts).
func LoadImageFolderSplits(dir string, opts SplitOptions) (*Splits, error) {
	return LoadImageFolderSplitsAs(dir, Geometry{}, opts)
}

// LoadImageFolderSplitsAs loads a user's image folder as train, validation
// and test sets of geometry g (images read as LoadImageFolderAs does; the
// zero Geometry is 28x28x1): if dir has sub-directories "train" and "test"
// (each with one folder per class, the same classes), they are used, with
// validation samples taken from train; otherwise dir holds the class folders
// and is split by SplitSet with a test fraction of 0.2.
func LoadImageFolderSplitsAs(dir string, g Geometry, opts SplitOptions) (*Splits, error) {
	trainDir, testDir := filepath.Join(dir, "train"), filepath.Join(dir, "test")
	if isDir(trainDir) && isDir(testDir) {
		train, err := LoadImageFolderAs(trainDir, g)
		if err != nil {
			return nil, err
		}
		test, err := LoadImageFolderAs(testDir, g)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(train.ClassNames, test.ClassNames) {
			return nil, fmt.Errorf("data: %s has classes %v but %s has %v; use the same class folders", trainDir, train.ClassNames, testDir, test.ClassNames)
		}
		sp, err := splitSet(train, 0, opts) // validation from train
		if err != nil {
			return nil, err
		}
		sp.Test = test
		return sp, nil
	}
	s, err := LoadImageFolderAs(dir, g)
	if err != nil {
		return nil, err
	}
	return SplitSet(s, 0.2, opts)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
