package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// wantError reports, as test errors prefixed by name, a nil err or one
// whose message lacks any of want; it returns whether err is non-nil.
func wantError(t testing.TB, name string, err error, want ...string) bool {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", name)
		return false
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not contain %q", name, err, w)
		}
	}
	return true
}

// pngClaiming returns a valid 1x1 gray PNG whose header (IHDR) is patched
// to claim w x h pixels, with a correct chunk CRC.
func pngClaiming(t testing.TB, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	// 8-byte signature, then IHDR: length, "IHDR", width, height, 5 bytes, CRC.
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// jpegClaiming returns a valid 8x8 JPEG whose frame header (SOF0) is
// patched to claim w x h pixels.
func jpegClaiming(t testing.TB, w, h uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	i := bytes.Index(p, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	// Marker, length (2), precision (1), height (2), width (2).
	binary.BigEndian.PutUint16(p[i+5:], h)
	binary.BigEndian.PutUint16(p[i+7:], w)
	return p
}

// encodePNG returns img as PNG bytes.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hostileImages are crafted image files: want are substrings of the error
// of reading the file ("" for none: the image is valid).
func hostileImages(t testing.TB) []struct {
	name string
	in   []byte
	want []string
} {
	gray := image.NewGray(image.Rect(0, 0, 5, 3))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(17 * i)
	}
	good := encodePNG(t, gray)
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, image.NewRGBA(image.Rect(0, 0, 9, 7)), nil); err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		in   []byte
		want []string
	}{
		{"valid png", good, nil},
		{"valid jpeg", jb.Bytes(), nil},
		{"valid 16-bit png", encodePNG(t, image.NewRGBA64(image.Rect(0, 0, 2, 2))), nil},
		{"empty file", nil, []string{"empty file"}},
		{"text", []byte("hello, not an image"), []string{"not a PNG or JPEG file"}},
		{"gzip", gzipBytes(t, good), []string{"not a PNG or JPEG file"}},
		{"truncated png", good[:len(good)/2], []string{"cannot decode image"}},
		{"png signature only", good[:8], []string{"truncated"}},
		{"png 100000x100000", pngClaiming(t, 100000, 100000), []string{"100000x100000", "16384-pixel side limit"}},
		{"png 2^31-1 wide", pngClaiming(t, 1<<31-1, 1), []string{"2147483647x1"}},
		{"png 16384x16384", pngClaiming(t, 16384, 16384), []string{"16384x16384", "67108864-pixel limit"}},
		{"png 8192x8192 in 70 bytes", pngClaiming(t, 8192, 8192), []string{"8192x8192", "cannot hold"}},
		{"png 0x5", pngClaiming(t, 0, 5), []string{"cannot decode image"}},
		{"jpeg 65535x65535", jpegClaiming(t, 65535, 65535), []string{"65535x65535", "side limit"}},
		{"jpeg 16000x16000", jpegClaiming(t, 16000, 16000), []string{"16000x16000", "pixel limit"}},
		{"jpeg 0x8", jpegClaiming(t, 0, 8), []string{"is empty (0x8)"}},
	}
}

func TestReadImageHostile(t *testing.T) {
	dir := t.TempDir()
	g := Geometry{Height: 4, Width: 4, Channels: 3}
	var rd imageReader
	for _, tc := range hostileImages(t) {
		path := writeFile(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".png"), tc.in)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := rd.read(path, g)
		runtime.ReadMemStats(&after)
		if tc.want == nil {
			if err != nil || len(out) != g.ImageLen() {
				t.Errorf("%s: %d values, error %v", tc.name, len(out), err)
			}
			continue
		}
		if !wantError(t, tc.name, err, append(tc.want, path)...) {
			continue
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("%s: refusing the file allocated %d bytes, want at most 1 MiB", tc.name, got)
		}
	}
}

// FuzzReadImage decodes one crafted image file through the image folder's
// reader: it must not panic, must refuse what it cannot read with an error
// naming the file, and must return g.ImageLen() values in [0, 1] otherwise.
func FuzzReadImage(f *testing.F) {
	for _, tc := range hostileImages(f) {
		f.Add(tc.in)
	}
	dir := f.TempDir()
	g := Geometry{Height: 3, Width: 5, Channels: 3}
	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(dir, "fuzz.png")
		if err := os.WriteFile(path, in, 0o644); err != nil {
			t.Fatal(err)
		}
		var rd imageReader
		out, err := rd.read(path, g)
		if err != nil {
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not name %s on one line", err, path)
			}
			return
		}
		if len(out) != g.ImageLen() {
			t.Fatalf("%d values, want %d", len(out), g.ImageLen())
		}
		for i, v := range out {
			if !(v >= 0 && v <= 1) || math.IsNaN(float64(v)) {
				t.Fatalf("value %d is %v, outside [0, 1]", i, v)
			}
		}
	})
}

// tree builds a folder of 4x4 gray PNG files under root: each key is a
// path relative to root ending in ".png" (a file) or "/" (a directory).
func tree(t *testing.T, root string, paths ...string) string {
	t.Helper()
	img := encodePNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			mkdirs(t, full)
			continue
		}
		mkdirs(t, filepath.Dir(full))
		writeFile(t, full, img)
	}
	return root
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
}

func TestImageFolderHostile(t *testing.T) {
	root := t.TempDir()
	six := func(class string) []string {
		var out []string
		for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
			out = append(out, class+"/"+n+".png")
		}
		return out
	}
	two := func(dir string) string {
		return tree(t, filepath.Join(root, dir), append(six("cat"), six("dog")...)...)
	}

	// Symbolic links to class folders inside and outside the folder are
	// followed; so are links to image files.
	outside := tree(t, filepath.Join(root, "elsewhere"), six("bird")...)
	linked := two("linked")
	symlink(t, filepath.Join(outside, "bird"), filepath.Join(linked, "bird"))
	symlink(t, "cat", filepath.Join(linked, "kitten"))
	symlink(t, filepath.Join(linked, "dog", "a.png"), filepath.Join(linked, "cat", "z.png"))
	s, err := LoadImageFolder(linked)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.ClassNames, ","); got != "bird,cat,dog,kitten" || s.Len() != 26 {
		t.Errorf("linked folder: classes %s, %d images; want bird,cat,dog,kitten and 26", got, s.Len())
	}

	// Hidden files, such as macOS's ._x.png, are skipped; so are
	// sub-directories without an image name.
	hidden := two("hidden")
	writeFile(t, filepath.Join(hidden, "cat", "._a.png"), []byte{0, 5, 22, 7})
	mkdirs(t, filepath.Join(hidden, "dog", "more"), filepath.Join(hidden, ".git"))
	if s, err := LoadImageFolderSplits(hidden, SplitOptions{ValPerClass: 1}); err != nil || s.Train.NumClasses != 2 {
		t.Errorf("hidden files: %v", err)
	}

	// A class named "train" (images directly inside) is a class, not a
	// train/ split folder.
	vehicles := tree(t, filepath.Join(root, "vehicles"), append(six("train"), six("car")...)...)
	if sp, err := LoadImageFolderSplits(vehicles, SplitOptions{ValPerClass: 1}); err != nil || sp.Test.NumClasses != 2 {
		t.Errorf("class named train: %v", err)
	}

	// Errors.
	broken := two("broken")
	symlink(t, filepath.Join(root, "nowhere"), filepath.Join(broken, "fish"))
	brokenFile := two("brokenfile")
	symlink(t, filepath.Join(root, "nowhere.png"), filepath.Join(brokenFile, "dog", "g.png"))
	dirPNG := two("dirpng")
	mkdirs(t, filepath.Join(dirPNG, "cat", "up.png"))
	one := tree(t, filepath.Join(root, "one"), six("cat")...)
	onlyTrain := tree(t, filepath.Join(root, "onlytrain"), append(six("train/cat"), six("train/dog")...)...)
	onlyTest := tree(t, filepath.Join(root, "onlytest"), append(six("test/cat"), six("test/dog")...)...)
	oneSplit := tree(t, filepath.Join(root, "onesplit"), append(six("train/cat"), six("test/cat")...)...)
	emptyTest := tree(t, filepath.Join(root, "emptytest"), append(six("train/cat"), append(six("train/dog"), "test/")...)...)
	huge := two("huge")
	writeFile(t, filepath.Join(huge, "dog", "big.png"), pngClaiming(t, 50000, 50000))
	file := writeFile(t, filepath.Join(root, "file.png"), []byte("x"))
	for _, tc := range []struct {
		name string
		dir  string
		want []string
	}{
		{"broken class link", broken, []string{filepath.Join(broken, "fish"), "symbolic link", "nowhere"}},
		{"broken image link", brokenFile, []string{filepath.Join(brokenFile, "dog", "g.png"), "symbolic link"}},
		{"directory named up.png", dirPNG, []string{filepath.Join(dirPNG, "cat", "up.png"), "is a directory"}},
		{"one class", one, []string{one, "one class folder, cat", "at least two"}},
		{"train without test", onlyTrain, []string{onlyTrain, "train/ but no test/", filepath.Join(onlyTrain, "test")}},
		{"test without train", onlyTest, []string{onlyTest, "test/ but no train/"}},
		{"one class in train", oneSplit, []string{filepath.Join(oneSplit, "train"), "one class folder"}},
		{"empty test", emptyTest, []string{filepath.Join(emptyTest, "test"), "no class sub-directories"}},
		{"huge image", huge, []string{filepath.Join(huge, "dog", "big.png"), "50000x50000"}},
		{"a file", file, []string{file, "not a directory"}},
	} {
		_, err := LoadImageFolderSplits(tc.dir, SplitOptions{ValPerClass: 1})
		if wantError(t, tc.name, err, tc.want...) && strings.Contains(err.Error(), "unknown format") {
			t.Errorf("%s: error %q", tc.name, err)
		}
	}
	// LoadImageFolderAs takes one class (for timing, or features).
	if s, err := LoadImageFolder(one); err != nil || s.NumClasses != 1 {
		t.Errorf("one class: %v", err)
	}
}

// TestSplitOptionErrorsNameTheFlag checks that the errors about
// SplitOptions name the concept, the Go field and lqf's flag.
func TestSplitOptionErrorsNameTheFlag(t *testing.T) {
	s := randomSet(4, 2, 2, 1, []string{"a", "b"}, 0, 1)
	for _, tc := range []struct {
		opts SplitOptions
		want []string
	}{
		{SplitOptions{Shots: -1}, []string{"training images per class", "Shots", "--shots"}},
		{SplitOptions{MaxTrain: -1}, []string{"cap on training images", "MaxTrain", "--max-train"}},
		{SplitOptions{ValPerClass: -1}, []string{"validation images per class", "ValPerClass", "--val-per-class"}},
		{SplitOptions{ValPerClass: 5}, []string{"add images", "validation images per class (ValPerClass, lqf's --val-per-class)"}},
	} {
		_, err := SplitSet(s, 0.3, tc.opts)
		wantError(t, fmt.Sprintf("%+v", tc.opts), err, tc.want...)
	}
}
