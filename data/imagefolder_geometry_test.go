package data

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rgbAt is the colour of pixel (x, y) of the 48x48 test image.
func rgbAt(x, y int) (r, g, b uint8) {
	return uint8(5 * x), uint8(5 * y), uint8((7*x + 3*y) % 256)
}

func TestLoadImageFolderAsRGB(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	// a/0.png: 48x48 with known distinct R, G, B.
	pattern := image.NewNRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			r, g, b := rgbAt(x, y)
			pattern.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	writeImage(t, filepath.Join(dir, "a", "0.png"), pattern)
	// a/1.png: 96x48 with red, green and blue thirds 24, 48 and 24 columns
	// wide; the centre 48x48 crop is all green.
	bands := image.NewRGBA(image.Rect(0, 0, 96, 48))
	for y := range 48 {
		for x := range 96 {
			c := color.RGBA{0, 255, 0, 255}
			if x < 24 {
				c = color.RGBA{255, 0, 0, 255}
			} else if x >= 72 {
				c = color.RGBA{0, 0, 255, 255}
			}
			bands.SetRGBA(x, y, c)
		}
	}
	writeImage(t, filepath.Join(dir, "a", "1.png"), bands)
	// b/0.png: 64x96 (w x h) of one colour, scaled by 3/4 and cropped.
	flat := image.NewNRGBA(image.Rect(0, 0, 64, 96))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:i+4], []uint8{200, 100, 50, 255})
	}
	writeImage(t, filepath.Join(dir, "b", "0.png"), flat)
	// b/1.png: 48x48 gray 128, read as R = G = B.
	gray := image.NewGray(image.Rect(0, 0, 48, 48))
	for i := range gray.Pix {
		gray.Pix[i] = 128
	}
	writeImage(t, filepath.Join(dir, "b", "1.png"), gray)

	s, err := LoadImageFolderAs(dir, Geometry{Height: 48, Width: 48, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.Height != 48 || s.Width != 48 || s.Channels != 3 || s.ImageLen() != 6912 || len(s.Images) != 4*6912 ||
		!slices.Equal(s.Labels, []int32{0, 0, 1, 1}) || !slices.Equal(s.ClassNames, []string{"a", "b"}) {
		t.Fatalf("got %dx%dx%d, %d values, labels %v, classes %v", s.Height, s.Width, s.Channels, len(s.Images), s.Labels, s.ClassNames)
	}
	const tol = 1.0 / 255
	check := func(what string, img []float32, want func(x, y int) [3]float64) {
		t.Helper()
		for y := range 48 {
			for x := range 48 {
				w := want(x, y)
				for k := range 3 {
					if got := float64(img[(y*48+x)*3+k]); math.Abs(got-w[k]) > tol {
						t.Fatalf("%s: pixel (%d,%d) channel %d = %v, want %v", what, y, x, k, got, w[k])
					}
				}
			}
		}
	}
	check("48x48 pattern", s.Image(0), func(x, y int) [3]float64 {
		r, g, b := rgbAt(x, y)
		return [3]float64{float64(r) / 255, float64(g) / 255, float64(b) / 255}
	})
	check("centre crop of bands", s.Image(1), func(x, y int) [3]float64 { return [3]float64{0, 1, 0} })
	check("scaled flat colour", s.Image(2), func(x, y int) [3]float64 { return [3]float64{200.0 / 255, 100.0 / 255, 50.0 / 255} })
	check("gray", s.Image(3), func(x, y int) [3]float64 { return [3]float64{128.0 / 255, 128.0 / 255, 128.0 / 255} })

	// One channel: luma of the same pixels.
	g1, err := LoadImageFolderAs(dir, Geometry{Height: 48, Width: 48, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if g1.Channels != 1 || len(g1.Images) != 4*48*48 {
		t.Fatalf("gray load: %d channels, %d values", g1.Channels, len(g1.Images))
	}
	for y := range 48 {
		for x := range 48 {
			r, g, b := rgbAt(x, y)
			want := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 255
			if got := float64(g1.Image(0)[y*48+x]); math.Abs(got-want) > tol {
				t.Fatalf("gray pixel (%d,%d) = %v, want luma %v", y, x, got, want)
			}
		}
	}
	// The default stays 28x28 grayscale, with the geometry set.
	d, err := LoadImageFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Height != 28 || d.Width != 28 || d.Channels != 1 || len(d.Images) != 4*ImageSize {
		t.Errorf("LoadImageFolder: %dx%dx%d, %d values; want 28x28x1, %d", d.Height, d.Width, d.Channels, len(d.Images), 4*ImageSize)
	}
}

// TestLoadImageFolderAsByHand checks the file path against the bilinear
// values of TestResampleByHand: a 2x2 gray PNG [[0, 36], [72, 252]] is
// 36/255 times [[0, 1], [2, 7]].
func TestLoadImageFolderAsByHand(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, filepath.Join(dir, "x"))
	img := image.NewGray(image.Rect(0, 0, 2, 2))
	copy(img.Pix, []uint8{0, 36, 72, 252})
	writeImage(t, filepath.Join(dir, "x", "a.png"), img)
	s, err := LoadImageFolderAs(dir, Geometry{Height: 4, Width: 4, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := []float64{
		0, 0.25, 0.75, 1,
		0.5, 1, 2, 2.5,
		1.5, 2.5, 4.5, 5.5,
		2, 3.25, 5.75, 7,
	}
	for i, v := range s.Image(0) {
		if want := f[i] * 36 / 255; math.Abs(float64(v)-want) > 1e-6 {
			t.Errorf("pixel %d = %v, want %v", i, v, want)
		}
	}
}

func TestLoadImageFolderAsErrors(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	mkdirs(t, filepath.Join(good, "one"))
	writeImage(t, filepath.Join(good, "one", "a.png"), image.NewGray(image.Rect(0, 0, 4, 4)))
	bad := filepath.Join(root, "bad")
	mkdirs(t, filepath.Join(bad, "one"), filepath.Join(bad, "two"))
	writeFile(t, filepath.Join(bad, "one", "broken.png"), []byte("not a png"))
	writeImage(t, filepath.Join(bad, "two", "a.png"), image.NewGray(image.Rect(0, 0, 4, 4)))
	for _, tc := range []struct {
		name string
		dir  string
		g    Geometry
		want []string
	}{
		{"two channels", good, Geometry{48, 48, 2}, []string{"48x48x2", "2 channels", "1 (grayscale) or 3 (RGB)"}},
		{"four channels", good, Geometry{48, 48, 4}, []string{"4 channels"}},
		{"zero height", good, Geometry{0, 48, 3}, []string{"0x48x3", "positive"}},
		{"negative width", good, Geometry{32, -1, 1}, []string{"positive"}},
		{"broken file", bad, Geometry{48, 48, 3}, []string{filepath.Join(bad, "one", "broken.png"), "decode"}},
	} {
		_, err := LoadImageFolderAs(tc.dir, tc.g)
		_, errSplits := LoadImageFolderSplitsAs(tc.dir, tc.g, SplitOptions{})
		wantError(t, tc.name, err, tc.want...)
		wantError(t, tc.name+" (splits)", errSplits, tc.want...)
	}
}

// randomSet returns n images of geometry h x w x c with seeded uniform
// values in [0, 1] and the given labels (cycled).
func randomSet(n, h, w, c int, classes []string, labels ...int32) *Set {
	rng := rand.New(rand.NewPCG(1, 2))
	s := &Set{Height: h, Width: w, Channels: c, NumClasses: len(classes), ClassNames: classes}
	s.Images = make([]float32, n*h*w*c)
	for i := range s.Images {
		s.Images[i] = rng.Float32()
	}
	for i := range n {
		s.Labels = append(s.Labels, labels[i%len(labels)])
		s.Origin = append(s.Origin, int32(i))
	}
	return s
}

func TestWriteImageFolderRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  *Set
		g    Geometry
	}{
		{"rgb 5x7", randomSet(5, 5, 7, 3, []string{"cat", "dog"}, 1, 0, 1, 0, 0), Geometry{5, 7, 3}},
		{"gray 28x28 zero geometry", func() *Set {
			s := randomSet(4, 28, 28, 1, []string{"0", "1", "2"}, 2, 0, 1)
			s.Height, s.Width, s.Channels = 0, 0, 0
			return s
		}(), Geometry{}},
		{"rgb 48x48", randomSet(3, 48, 48, 3, []string{"x", "y", "z"}, 0, 1, 2), Geometry{48, 48, 3}},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		if err := WriteImageFolder(dir, tc.set); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := LoadImageFolderAs(dir, tc.g)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The folder lists the samples by class, in set order within a class.
		var order []int
		for c := range tc.set.NumClasses {
			for i, l := range tc.set.Labels {
				if int(l) == c {
					order = append(order, i)
				}
			}
		}
		if !slices.Equal(got.ClassNames, tc.set.ClassNames) || got.Len() != len(order) {
			t.Fatalf("%s: classes %v, %d samples; want %v, %d", tc.name, got.ClassNames, got.Len(), tc.set.ClassNames, len(order))
		}
		for j, i := range order {
			if got.Labels[j] != tc.set.Labels[i] {
				t.Errorf("%s: loaded sample %d has label %d, want %d (sample %d)", tc.name, j, got.Labels[j], tc.set.Labels[i], i)
			}
			if !near(got.Image(j), tc.set.Image(i), 0.5/255+1e-6) {
				t.Errorf("%s: loaded sample %d differs from sample %d by more than 0.5/255", tc.name, j, i)
			}
		}
	}
}

func TestWriteImageFolderDetails(t *testing.T) {
	// Clamping, folder names and 8-bit rounding.
	s := &Set{Height: 1, Width: 3, Channels: 1, Images: []float32{-0.2, 1.5, 0.5, 0, 1, 0.25},
		Labels: []int32{0, 1}, NumClasses: 2, ClassNames: []string{"T-shirt/top", ".hidden"}}
	dir := t.TempDir()
	if err := WriteImageFolder(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadImageFolderAs(dir, Geometry{1, 3, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Folder names sort bytewise: 'T' (84) before '_' (95).
	if !slices.Equal(got.ClassNames, []string{"T-shirt_top", "_hidden"}) {
		t.Errorf("folder names %v, want [T-shirt_top _hidden]", got.ClassNames)
	}
	want := []float32{0, 1, 128.0 / 255, 0, 1, 64.0 / 255}
	if !near(got.Images, want, 1e-6) {
		t.Errorf("values %v, want %v", got.Images, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "T-shirt_top", "0.png")); err != nil {
		t.Errorf("sample 0 not written as T-shirt_top/0.png: %v", err)
	}

	for _, tc := range []struct {
		name string
		dir  string
		set  *Set
		want string
	}{
		{"not empty", dir, s, "not empty"},
		{"two channels", t.TempDir(), hwcSet(2, 2, 2, 2), "2 channels"},
		{"empty class", t.TempDir(), &Set{Height: 1, Width: 1, Channels: 1, Images: []float32{0}, Labels: []int32{0},
			NumClasses: 2, ClassNames: []string{"a", "b"}}, `class "b" has no samples`},
		{"same folder", t.TempDir(), &Set{Height: 1, Width: 1, Channels: 1, Images: []float32{0, 0}, Labels: []int32{0, 1},
			NumClasses: 2, ClassNames: []string{"a/b", "a_b"}}, "both map to folder"},
		{"bad label", t.TempDir(), &Set{Height: 1, Width: 1, Channels: 1, Images: []float32{0}, Labels: []int32{3},
			NumClasses: 1, ClassNames: []string{"a"}}, "label 3"},
		{"short Images", t.TempDir(), &Set{Height: 2, Width: 2, Channels: 1, Images: []float32{0}, Labels: []int32{0},
			NumClasses: 1, ClassNames: []string{"a"}}, "Images holds 1 values"},
	} {
		if err := WriteImageFolder(tc.dir, tc.set); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadImageFolderSplitsAs(t *testing.T) {
	dir := t.TempDir()
	s := randomSet(20, 6, 8, 3, []string{"a", "b"}, 0, 1)
	if err := WriteImageFolder(dir, s); err != nil {
		t.Fatal(err)
	}
	sp, err := LoadImageFolderSplitsAs(dir, Geometry{6, 8, 3}, SplitOptions{Seed: 1, ValPerClass: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 10 per class: 2 test, 1 validation, 7 train.
	for name, tc := range map[string]struct {
		set *Set
		n   int
	}{"train": {sp.Train, 14}, "val": {sp.Val, 2}, "test": {sp.Test, 4}} {
		if h, w, c := tc.set.Geometry(); h != 6 || w != 8 || c != 3 || tc.set.Len() != tc.n || len(tc.set.Images) != tc.n*144 {
			t.Errorf("%s: %dx%dx%d, %d samples, %d values; want 6x8x3, %d, %d", name, h, w, c, tc.set.Len(), len(tc.set.Images), tc.n, tc.n*144)
		}
	}
	old, err := LoadImageFolderSplits(dir, SplitOptions{Seed: 1, ValPerClass: 1})
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := old.Train.Geometry(); h != 28 || w != 28 || c != 1 || !slices.Equal(old.Train.Origin, sp.Train.Origin) {
		t.Errorf("LoadImageFolderSplits: %dx%dx%d, origins %v; want 28x28x1 and the same samples %v", h, w, c, old.Train.Origin, sp.Train.Origin)
	}
}

// TestBuiltinToRGBFolder builds a 48x48 RGB image folder from MNIST digits
// and reads it back.
func TestBuiltinToRGBFolder(t *testing.T) {
	if _, err := MNISTDir(); err != nil {
		t.Skip(err)
	}
	sp := mustLoad(t, mustTask(t, "mnist-5-9"), SplitOptions{Seed: 2, Shots: 3, ValPerClass: 1, MaxTest: 5})
	rgb, err := Resample(sp.Train, Geometry{48, 48, 3})
	if err != nil {
		t.Fatal(err)
	}
	// Resampling keeps the mean intensity up to the border (MNIST borders
	// are black) and the class names.
	for i := range sp.Train.Len() {
		var a, b float64
		for _, v := range sp.Train.Image(i) {
			a += float64(v)
		}
		for _, v := range rgb.Image(i) {
			b += float64(v)
		}
		a /= 28 * 28
		b /= 48 * 48 * 3
		if math.Abs(a-b) > 0.01 {
			t.Errorf("image %d: mean %v at 28x28x1, %v at 48x48x3", i, a, b)
		}
	}
	dir := t.TempDir()
	if err := WriteImageFolder(dir, rgb); err != nil {
		t.Fatal(err)
	}
	back, err := LoadImageFolderAs(dir, Geometry{48, 48, 3})
	if err != nil {
		t.Fatal(err)
	}
	// The class names "5".."9" sort in label order and the task's sets are
	// sorted by class, so the folder reads back in the same order.
	if !slices.Equal(back.Labels, rgb.Labels) || !slices.Equal(back.ClassNames, rgb.ClassNames) || !near(back.Images, rgb.Images, 0.5/255+1e-6) {
		t.Errorf("48x48 RGB folder does not read back as written: labels %v, want %v", back.Labels, rgb.Labels)
	}
	if err := back.CheckGeometry(28, 28, 1); err == nil || !strings.Contains(err.Error(), "48x48x3") {
		t.Errorf("CheckGeometry of the RGB set against 28x28x1: %v", err)
	}
}
