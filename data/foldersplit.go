package data

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("data: %w", err)
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
			return nil, fmt.Errorf("data: class %q has %d images; it needs at least %d (test %d, validation %d, training 1): add images or lower the %s",
				s.ClassNames[c], len(idx), nTest+nVal+1, nTest, nVal, optionWords["ValPerClass"])
		}
		rest := idx[nTest+nVal:]
		if opts.Shots > 0 {
			if opts.Shots > len(rest) {
				return nil, fmt.Errorf("data: class %q has %d training images, fewer than the %d training images per class asked for; add images or lower the %s",
					s.ClassNames[c], len(rest), opts.Shots, optionWords["Shots"])
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
// zero Geometry is 28x28x1). The folder takes one of two layouts:
//   - dir has sub-directories "train" and "test", each with one folder per
//     class and the same classes: they are used as given, with validation
//     samples taken from train;
//   - dir holds the class folders: it is split by SplitSet with a test
//     fraction of 0.2.
//
// A "train" folder without "test" (or the reverse) that holds
// sub-directories is taken for a half-made first layout and refused; one
// that holds image files directly is a class named "train" (or "test").
// There must be at least two classes: a one-class model has nothing to
// tell apart. The folders are listed and checked before any image is
// decoded.
func LoadImageFolderSplitsAs(dir string, g Geometry, opts SplitOptions) (*Splits, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	g = g.orDefault()
	trainDir, testDir := filepath.Join(dir, "train"), filepath.Join(dir, "test")
	hasTrain, hasTest := isDir(trainDir), isDir(testDir)
	if hasTrain != hasTest {
		have, missing := trainDir, "test"
		if hasTest {
			have, missing = testDir, "train"
		}
		if hasSubdirs(have) {
			return nil, fmt.Errorf("data: image folder %s has %s/ but no %s/ folder; add %s with the same class folders, or put the class folders directly in %s",
				dir, filepath.Base(have), missing, filepath.Join(dir, missing), dir)
		}
	}
	if hasTrain && hasTest {
		trainClasses, err := listClasses(trainDir)
		if err != nil {
			return nil, err
		}
		testClasses, err := listClasses(testDir)
		if err != nil {
			return nil, err
		}
		if err := checkTwoClasses(trainDir, trainClasses); err != nil {
			return nil, err
		}
		if tr, te := classNames(trainClasses), classNames(testClasses); !slices.Equal(tr, te) {
			return nil, fmt.Errorf("data: %s has classes %v but %s has %v; use the same class folders", trainDir, tr, testDir, te)
		}
		train, err := loadClasses(trainClasses, g)
		if err != nil {
			return nil, err
		}
		test, err := loadClasses(testClasses, g)
		if err != nil {
			return nil, err
		}
		sp, err := splitSet(train, 0, opts) // validation from train
		if err != nil {
			return nil, err
		}
		sp.Test = test
		return sp, nil
	}
	classes, err := listClasses(dir)
	if err != nil {
		return nil, err
	}
	if err := checkTwoClasses(dir, classes); err != nil {
		return nil, err
	}
	s, err := loadClasses(classes, g)
	if err != nil {
		return nil, err
	}
	return SplitSet(s, 0.2, opts)
}

// checkTwoClasses refuses an image folder dir with fewer than two classes.
func checkTwoClasses(dir string, classes []classFolder) error {
	if len(classes) < 2 {
		return fmt.Errorf("data: image folder %s has one class folder, %s; a classifier needs at least two classes: add a sub-directory of images for each other class",
			dir, classes[0].name)
	}
	return nil
}

// classNames returns the names of classes.
func classNames(classes []classFolder) []string {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i] = c.name
	}
	return names
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// hasSubdirs reports whether the directory dir holds a sub-directory (or a
// link to one) whose name does not start with '.'.
func hasSubdirs(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && isDir(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}
