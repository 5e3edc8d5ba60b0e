package data

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"
)

// makeFolder writes n images per class; pixel (0,0) encodes the class and
// pixel (0,1) the file number, so samples can be told apart after loading.
func makeFolder(t *testing.T, dir string, classes []string, n int) {
	t.Helper()
	for c, name := range classes {
		mkdirs(t, filepath.Join(dir, name))
		for i := range n {
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			img.SetGray(0, 0, color.Gray{Y: uint8(40 * (c + 1))})
			img.SetGray(1, 0, color.Gray{Y: uint8(5 * i)})
			writeImage(t, filepath.Join(dir, name, fmt.Sprintf("%03d.png", i)), img)
		}
	}
}

func TestLoadImageFolderSplits(t *testing.T) {
	root := t.TempDir()
	makeFolder(t, root, []string{"cat", "dog"}, 20)
	sp, err := LoadImageFolderSplits(root, SplitOptions{Seed: 3, ValPerClass: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 20 per class: 4 test (20%), 2 validation, 14 train.
	for name, want := range map[string][2]int{"train": {14, 14}, "val": {2, 2}, "test": {4, 4}} {
		s := map[string]*Set{"train": sp.Train, "val": sp.Val, "test": sp.Test}[name]
		if got := s.ClassCounts(); got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s class counts %v, want %v", name, got, want)
		}
	}
	seen := map[int32]string{}
	for name, s := range map[string]*Set{"train": sp.Train, "val": sp.Val, "test": sp.Test} {
		for _, o := range s.Origin {
			if prev, ok := seen[o]; ok {
				t.Fatalf("sample %d in both %s and %s", o, prev, name)
			}
			seen[o] = name
		}
	}
	again, _ := LoadImageFolderSplits(root, SplitOptions{Seed: 3, ValPerClass: 2})
	other, _ := LoadImageFolderSplits(root, SplitOptions{Seed: 4, ValPerClass: 2})
	if fmt.Sprint(again.Test.Origin) != fmt.Sprint(sp.Test.Origin) {
		t.Error("same seed, different split")
	}
	if fmt.Sprint(other.Test.Origin) == fmt.Sprint(sp.Test.Origin) {
		t.Error("different seeds, same split")
	}

	// train/ and test/ sub-folders are used as given.
	tt := t.TempDir()
	makeFolder(t, filepath.Join(tt, "train"), []string{"a", "b"}, 6)
	makeFolder(t, filepath.Join(tt, "test"), []string{"a", "b"}, 3)
	sp, err = LoadImageFolderSplits(tt, SplitOptions{Seed: 1, ValPerClass: 1, Shots: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Train.Len() != 4 || sp.Val.Len() != 2 || sp.Test.Len() != 6 {
		t.Errorf("train/test folders: %d train, %d val, %d test; want 4, 2, 6", sp.Train.Len(), sp.Val.Len(), sp.Test.Len())
	}

	// Errors name the problem and the fix.
	small := t.TempDir()
	makeFolder(t, small, []string{"x", "y"}, 2)
	if _, err := LoadImageFolderSplits(small, SplitOptions{}); err == nil || !strings.Contains(err.Error(), "add images") {
		t.Errorf("too few images: %v", err)
	}
	if _, err := LoadImageFolderSplits(root, SplitOptions{Shots: 50}); err == nil || !strings.Contains(err.Error(), "--shots") {
		t.Errorf("shots too large: %v", err)
	}
	mismatch := t.TempDir()
	makeFolder(t, filepath.Join(mismatch, "train"), []string{"a", "b"}, 6)
	makeFolder(t, filepath.Join(mismatch, "test"), []string{"a", "c"}, 3)
	if _, err := LoadImageFolderSplits(mismatch, SplitOptions{}); err == nil || !strings.Contains(err.Error(), "same class") {
		t.Errorf("mismatched classes: %v", err)
	}
}
