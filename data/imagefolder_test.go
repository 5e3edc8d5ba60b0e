package data

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b.Bytes())
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadImageFolder(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, filepath.Join(dir, "cat"), filepath.Join(dir, "dog"))

	gradient := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range gradient.Pix {
		gradient.Pix[i] = uint8(i % 256)
	}
	writeImage(t, filepath.Join(dir, "cat", "a.png"), gradient)
	red := image.NewRGBA(image.Rect(0, 0, 56, 40))
	for i := 0; i < len(red.Pix); i += 4 {
		red.Pix[i], red.Pix[i+3] = 255, 255
	}
	writeImage(t, filepath.Join(dir, "cat", "b.PNG"), red)
	gray := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range gray.Pix {
		gray.Pix[i] = 128
	}
	writeImage(t, filepath.Join(dir, "dog", "c.jpg"), gray)
	writeFile(t, filepath.Join(dir, "dog", "README.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not a class"))

	s, err := LoadImageFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.ClassNames, []string{"cat", "dog"}) || s.NumClasses != 2 ||
		!slices.Equal(s.Labels, []int32{0, 0, 1}) || !slices.Equal(s.Origin, []int32{0, 1, 2}) ||
		len(s.Images) != 3*ImageSize {
		t.Fatalf("got classes %v labels %v origin %v images %d", s.ClassNames, s.Labels, s.Origin, len(s.Images))
	}
	for i, v := range s.Image(0) {
		if want := float32(i%256) / 255; v != want {
			t.Fatalf("28x28 gray pixel %d = %v, want %v (unchanged)", i, v, want)
		}
	}
	const redLuma = 0.299 // luma of pure red
	for i, v := range s.Image(1) {
		if math.Abs(float64(v)-redLuma) > 0.01 {
			t.Fatalf("resized red pixel %d = %v, want about %v", i, v, redLuma)
		}
	}
	for i, v := range s.Image(2) {
		if math.Abs(float64(v)-128.0/255) > 0.02 {
			t.Fatalf("JPEG pixel %d = %v, want about %v", i, v, 128.0/255)
		}
	}
}

func TestLoadImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "missing")
	noClasses := filepath.Join(root, "noclasses")
	mkdirs(t, noClasses)
	writeFile(t, filepath.Join(noClasses, "x.png"), []byte("x"))
	empty := filepath.Join(root, "empty")
	mkdirs(t, filepath.Join(empty, "full"), filepath.Join(empty, "hollow"))
	writeImage(t, filepath.Join(empty, "full", "a.png"), image.NewGray(image.Rect(0, 0, 28, 28)))
	writeFile(t, filepath.Join(empty, "hollow", "a.txt"), []byte("text"))
	bad := filepath.Join(root, "bad")
	mkdirs(t, filepath.Join(bad, "one"))
	writeFile(t, filepath.Join(bad, "one", "broken.png"), []byte("not a png"))

	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{missing, []string{missing, "does not exist"}},
		{noClasses, []string{noClasses, "no class sub-directories"}},
		{empty, []string{filepath.Join(empty, "hollow"), "empty"}},
		{bad, []string{"broken.png", "decode"}},
	} {
		_, err := LoadImageFolder(tc.dir)
		wantError(t, tc.dir, err, tc.want...)
	}
}
