package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Role says whether a task is used for pretraining or fine-tuning.
type Role int

const (
	Source Role = iota
	Target
)

// String returns "source" or "target".
func (r Role) String() string {
	if r == Source {
		return "source"
	}
	return "target"
}

// pcgStream is the second PCG word; seeds select the first.
const pcgStream = 0x6c71662d64617461 // "lqf-data"

// testSeed fixes the test subsample so it does not depend on the split seed.
const testSeed = 0x7465737473706c74

// Task is a classification problem built from the official MNIST and
// Fashion-MNIST files, with labels remapped to 0..len(ClassNames)-1.
type Task struct {
	Name        string
	Description string
	Role        Role
	// Rank orders targets from near (1) to far from the source; 0 for the
	// source.
	Rank       int
	ClassNames []string
	// Flip reports whether a horizontal flip is a valid augmentation.
	Flip bool

	parts     []part
	transform func(img []float32) // applied in place to every image; nil for none
}

// part takes the given original classes of one data set; they receive
// consecutive new labels in order.
type part struct {
	load    func(Split) (*Set, error)
	classes []int
}

func fashion(classes ...int) part { return part{LoadFashionMNIST, classes} }
func mnist(classes ...int) part   { return part{LoadMNIST, classes} }

func span(lo, hi int) []int {
	var out []int
	for c := lo; c <= hi; c++ {
		out = append(out, c)
	}
	return out
}

func names(all []string, classes []int) []string {
	var out []string
	for _, c := range classes {
		out = append(out, all[c])
	}
	return out
}

// Tasks returns the source task followed by the target tasks ordered by
// Rank (near to far). The ranks of the inverted and rotated tasks are a
// prior guess.
func Tasks() []Task {
	return []Task{
		{
			Name:        "source",
			Description: "pretraining task: Fashion-MNIST classes 0-4 (labels 0-4) and MNIST digits 0-4 (labels 5-9)",
			Role:        Source,
			ClassNames:  append(names(fashionClassNames, span(0, 4)), names(mnistClassNames, span(0, 4))...),
			parts:       []part{fashion(span(0, 4)...), mnist(span(0, 4)...)},
		},
		{
			Name:        "fashion-5-9",
			Description: "unseen Fashion-MNIST classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) as labels 0-4",
			Role:        Target, Rank: 1, Flip: true,
			ClassNames: names(fashionClassNames, span(5, 9)),
			parts:      []part{fashion(span(5, 9)...)},
		},
		{
			Name:        "mnist-5-9",
			Description: "unseen MNIST digits 5-9 as labels 0-4",
			Role:        Target, Rank: 2,
			ClassNames: names(mnistClassNames, span(5, 9)),
			parts:      []part{mnist(span(5, 9)...)},
		},
		{
			Name:        "fashion",
			Description: "all 10 Fashion-MNIST classes",
			Role:        Target, Rank: 3, Flip: true,
			ClassNames: names(fashionClassNames, span(0, 9)),
			parts:      []part{fashion(span(0, 9)...)},
		},
		{
			Name:        "mnist",
			Description: "all 10 MNIST digits",
			Role:        Target, Rank: 4,
			ClassNames: names(mnistClassNames, span(0, 9)),
			parts:      []part{mnist(span(0, 9)...)},
		},
		{
			Name:        "fashion-inverted",
			Description: "all 10 Fashion-MNIST classes with intensities inverted (1-x)",
			Role:        Target, Rank: 5, Flip: true,
			ClassNames: names(fashionClassNames, span(0, 9)),
			parts:      []part{fashion(span(0, 9)...)},
			transform:  Invert,
		},
		{
			Name:        "mnist-inverted",
			Description: "all 10 MNIST digits with intensities inverted (1-x)",
			Role:        Target, Rank: 6,
			ClassNames: names(mnistClassNames, span(0, 9)),
			parts:      []part{mnist(span(0, 9)...)},
			transform:  Invert,
		},
		{
			Name:        "mnist-rot90",
			Description: "all 10 MNIST digits rotated 90 degrees clockwise",
			Role:        Target, Rank: 7,
			ClassNames: names(mnistClassNames, span(0, 9)),
			parts:      []part{mnist(span(0, 9)...)},
			transform:  Rotate90,
		},
		{
			// A horizontal flip of a rotated image is a vertical flip of the
			// original, which is not a symmetry of clothes: Flip is false.
			Name:        "fashion-rot90",
			Description: "all 10 Fashion-MNIST classes rotated 90 degrees clockwise",
			Role:        Target, Rank: 8,
			ClassNames: names(fashionClassNames, span(0, 9)),
			parts:      []part{fashion(span(0, 9)...)},
			transform:  Rotate90,
		},
	}
}

// TaskNames returns the names of Tasks(), in order.
func TaskNames() []string {
	var out []string
	for _, t := range Tasks() {
		out = append(out, t.Name)
	}
	return out
}

// TaskByName returns the task called name.
func TaskByName(name string) (Task, error) {
	for _, t := range Tasks() {
		if t.Name == name {
			return t, nil
		}
	}
	return Task{}, fmt.Errorf("data: unknown task %q; valid tasks: %s (`lqf tasks` lists them)",
		name, strings.Join(TaskNames(), ", "))
}

// Invert replaces each value x of img by 1-x, in place.
func Invert(img []float32) {
	for i, x := range img {
		img[i] = 1 - x
	}
}

// Rotate90 rotates one square one-channel image ([n, n, 1], n*n values;
// n is taken from len(img)) 90 degrees clockwise, in place:
// out[y][x] = in[n-1-x][y]. It panics if len(img) is not a square.
func Rotate90(img []float32) {
	n := int(math.Sqrt(float64(len(img))))
	for n*n > len(img) {
		n--
	}
	for (n+1)*(n+1) <= len(img) {
		n++
	}
	if n*n != len(img) {
		panic(fmt.Sprintf("data: Rotate90 needs a square one-channel image, but it has %d values", len(img)))
	}
	// Move each 4-cycle (y,x) <- (n-1-x,y) <- (n-1-y,n-1-x) <- (x,n-1-y) <- (y,x).
	for y := range n / 2 {
		for x := y; x < n-1-y; x++ {
			p0, p1, p2, p3 := y*n+x, x*n+n-1-y, (n-1-y)*n+n-1-x, (n-1-x)*n+y
			img[p0], img[p1], img[p2], img[p3] = img[p3], img[p0], img[p1], img[p2]
		}
	}
}

// SplitOptions configures Task.Load.
type SplitOptions struct {
	Seed uint64
	// Shots is the number k of training samples per class; 0 uses the
	// whole pool left after validation.
	Shots int
	// MaxTrain caps the training size after k-shot selection (0: no cap),
	// keeping classes balanced.
	MaxTrain int
	// ValPerClass is the number of validation samples per class, drawn from
	// the official train file, disjoint from the training samples (0: 100).
	ValPerClass int
	// MaxTest caps the test size (0: the whole official test split),
	// keeping classes balanced; the subsample depends only on MaxTest.
	MaxTest int
}

// optionWords names each field of SplitOptions for a command-line user: the
// concept, the Go field and lqf's flag.
var optionWords = map[string]string{
	"Shots":       "training images per class (Shots, lqf's --shots)",
	"MaxTrain":    "cap on training images (MaxTrain, lqf's --max-train)",
	"ValPerClass": "validation images per class (ValPerClass, lqf's --val-per-class)",
	"MaxTest":     "cap on test images (MaxTest, lqf's --max-test)",
}

// check reports the first negative count of o.
func (o SplitOptions) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Shots", o.Shots}, {"MaxTrain", o.MaxTrain}, {"ValPerClass", o.ValPerClass}, {"MaxTest", o.MaxTest}} {
		if f.v < 0 {
			return fmt.Errorf("the %s is %d; it must be >= 0 (0 means the default)", optionWords[f.name], f.v)
		}
	}
	return nil
}

// DefaultValPerClass is the number of validation samples per class when
// SplitOptions.ValPerClass is 0.
const DefaultValPerClass = 100

// Splits holds the train, validation and test sets of a task.
type Splits struct{ Train, Val, Test *Set }

// classPool is the indices of one new class's samples in its official file.
type classPool struct {
	src     *Set
	indices []int
}

// pools returns, for each new label, the indices of its samples in split.
func (t Task) pools(split Split) ([]classPool, error) {
	var out []classPool
	for _, p := range t.parts {
		s, err := p.load(split)
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", t.Name, unprefixed{err})
		}
		byClass := make(map[int32][]int)
		for i, l := range s.Labels {
			byClass[l] = append(byClass[l], i)
		}
		for _, c := range p.classes {
			out = append(out, classPool{s, byClass[int32(c)]})
		}
	}
	return out, nil
}

// Load builds the train, validation and test sets of t. Within each class,
// a permutation of the official-train pool seeded by opts.Seed gives the
// validation samples first and the training samples from the rest; the test
// set comes from the official test file. Origin records each sample's index
// in its official file. The same options give identical splits.
func (t Task) Load(opts SplitOptions) (*Splits, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("data: task %q: %w", t.Name, err)
	}
	if len(t.parts) == 0 {
		return nil, fmt.Errorf("data: task %q has no data; get tasks from data.Tasks or data.TaskByName", t.Name)
	}
	val := opts.ValPerClass
	if val == 0 {
		val = DefaultValPerClass
	}
	trainPools, err := t.pools(Train)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	testPools, err := t.pools(Test)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}

	rng := rand.New(rand.NewPCG(opts.Seed, pcgStream))
	trainIdx := make([][]int, len(trainPools))
	valIdx := make([][]int, len(trainPools))
	for c, p := range trainPools {
		perm := shuffled(rng, p.indices)
		if len(perm) <= val {
			return nil, fmt.Errorf("data: task %q: class %q has %d training samples, not more than the %d validation samples per class; lower the %s",
				t.Name, t.ClassNames[c], len(perm), val, optionWords["ValPerClass"])
		}
		valIdx[c], trainIdx[c] = perm[:val], perm[val:]
		if opts.Shots > 0 {
			if len(trainIdx[c]) < opts.Shots {
				return nil, fmt.Errorf("data: task %q: class %q: k=%d shots requested but only %d training samples are available (after %d validation samples); lower the %s",
					t.Name, t.ClassNames[c], opts.Shots, len(trainIdx[c]), val, optionWords["Shots"])
			}
			trainIdx[c] = trainIdx[c][:opts.Shots]
		}
	}
	if opts.MaxTrain > 0 {
		trainIdx = roundRobin(trainIdx, opts.MaxTrain)
	}

	testIdx := make([][]int, len(testPools))
	if opts.MaxTest > 0 {
		testRNG := rand.New(rand.NewPCG(testSeed, pcgStream))
		for c, p := range testPools {
			testIdx[c] = shuffled(testRNG, p.indices)
		}
		testIdx = roundRobin(testIdx, opts.MaxTest)
	} else {
		for c, p := range testPools {
			testIdx[c] = p.indices
		}
	}

	return &Splits{
		Train: t.build(trainPools, trainIdx),
		Val:   t.build(trainPools, valIdx),
		Test:  t.build(testPools, testIdx),
	}, nil
}

// unprefixed is err without its leading "data: ", for wrapping in another
// error of this package.
type unprefixed struct{ err error }

func (e unprefixed) Error() string { return strings.TrimPrefix(e.err.Error(), "data: ") }
func (e unprefixed) Unwrap() error { return e.err }

// shuffled returns a seeded permutation of a copy of indices.
func shuffled(rng *rand.Rand, indices []int) []int {
	out := append([]int(nil), indices...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// roundRobin keeps at most limit indices in total, taking them one class at
// a time in turn, so classes stay balanced. Each class keeps a prefix.
func roundRobin(perClass [][]int, limit int) [][]int {
	take := make([]int, len(perClass))
	for total := 0; total < limit; {
		progress := false
		for c := range perClass {
			if total < limit && take[c] < len(perClass[c]) {
				take[c]++
				total++
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	out := make([][]int, len(perClass))
	for c := range perClass {
		out[c] = perClass[c][:take[c]]
	}
	return out
}

// build copies the chosen samples, class by class, into a new set with new
// labels and the geometry of the pools (28x28x1), applying the task's
// transform.
func (t Task) build(pools []classPool, perClass [][]int) *Set {
	n := 0
	for _, idx := range perClass {
		n += len(idx)
	}
	g := builtinGeometry
	if len(pools) > 0 {
		g = pools[0].src.geometry()
	}
	s := &Set{
		Images:     make([]float32, 0, n*g.ImageLen()),
		Height:     g.Height,
		Width:      g.Width,
		Channels:   g.Channels,
		Labels:     make([]int32, 0, n),
		NumClasses: len(t.ClassNames),
		ClassNames: append([]string(nil), t.ClassNames...),
		Origin:     make([]int32, 0, n),
	}
	for c, idx := range perClass {
		for _, i := range idx {
			start := len(s.Images)
			s.Images = append(s.Images, pools[c].src.Image(i)...)
			if t.transform != nil {
				t.transform(s.Images[start:])
			}
			s.Labels = append(s.Labels, int32(c))
			s.Origin = append(s.Origin, int32(i))
		}
	}
	return s
}
