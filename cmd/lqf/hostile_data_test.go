package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// idxBytes encodes an idx stream: magic, big-endian uint32 dims, data.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(data)
	return b.Bytes()
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// idx file names of the official splits, as package data reads them.
const (
	trainImages = "train-images-idx3-ubyte.gz"
	trainLabels = "train-labels-idx1-ubyte.gz"
	testImages  = "t10k-images-idx3-ubyte.gz"
	testLabels  = "t10k-labels-idx1-ubyte.gz"
)

// idxDir writes a directory of four valid idx files (two 28x28 images per
// split, labelled 5 and 9, gzipped), with the files in replace swapped in.
func idxDir(t *testing.T, replace map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	images := gzipped(t, idxBytes(0x803, []uint32{2, 28, 28}, make([]byte, 2*28*28)))
	labels := gzipped(t, idxBytes(0x801, []uint32{2}, []byte{5, 9}))
	files := map[string][]byte{trainImages: images, trainLabels: labels, testImages: images, testLabels: labels}
	for name, b := range replace {
		files[name] = b
	}
	for name, b := range files {
		if b == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hostilePNG returns a 1x1 PNG whose header claims w x h pixels.
func hostilePNG(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	p := b.Bytes()
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// hostileJPEG returns an 8x8 JPEG whose frame header claims w x h pixels.
func hostileJPEG(t *testing.T, w, h uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	p := b.Bytes()
	i := bytes.Index(p, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(p[i+5:], h)
	binary.BigEndian.PutUint16(p[i+7:], w)
	return p
}

// imageTree writes 28x28 PNG files (paths ending in .png) and directories
// (paths ending in /) under a new folder, with the given files' contents
// swapped in, and returns the folder.
func imageTree(t *testing.T, files map[string][]byte, paths ...string) string {
	t.Helper()
	root := t.TempDir()
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 28, 28)))
	write := func(p string, data []byte) {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		write(p, b.Bytes())
	}
	for p, data := range files {
		write(p, data)
	}
	return root
}

// classes returns n image paths in each of the class folders, under
// prefix.
func classes(prefix string, n int, names ...string) []string {
	var out []string
	for _, c := range names {
		for i := range n {
			out = append(out, prefix+c+"/"+string(rune('a'+i))+".png")
		}
	}
	return out
}

// TestHostileData feeds crafted idx files and image folders to lqf
// finetune: each must fail fast (before any training, with no results
// table), with exit status 2 (bad input, like a bad flag) and exactly one line on stderr that names the
// offending file or folder and holds no panic trace.
func TestHostileData(t *testing.T) {
	good := classes("", 6, "cat", "dog")
	type hostile struct {
		name string
		env  map[string]string // environment variables to set
		args []string
		code int
		want []string // substrings of the stderr line; paths included
	}
	var cases []hostile
	add := func(c hostile) { cases = append(cases, c) }

	// idx files, found through LQF_MNIST_DIR and LQF_FASHION_MNIST_DIR.
	mnist := func(name string, replace map[string][]byte, file string, want ...string) {
		dir := idxDir(t, replace)
		add(hostile{name, map[string]string{"LQF_MNIST_DIR": dir},
			[]string{"finetune", "--task", "mnist-5-9", "--method", "fc", "--quiet"},
			2, append([]string{filepath.Join(dir, file)}, want...)})
	}
	images := gzipped(t, idxBytes(0x803, []uint32{2, 28, 28}, make([]byte, 2*28*28)))
	mnist("idx bad magic", map[string][]byte{trainImages: []byte("<html>404 Not Found</html>")}, trainImages, "wrong magic number", "not an idx file")
	mnist("idx float type code", map[string][]byte{trainImages: idxBytes(0xd03, []uint32{2, 28, 28}, make([]byte, 4*2*28*28))}, trainImages, "unsupported data type code 0x0d")
	mnist("idx huge dim", map[string][]byte{trainImages: idxBytes(0x803, []uint32{0xffffffff, 28, 28}, nil)}, trainImages, "4294967295", "limit")
	mnist("idx dims product overflows", map[string][]byte{trainImages: idxBytes(0x804, []uint32{1 << 30, 1 << 30, 1 << 30, 1 << 30}, nil)}, trainImages, "limit")
	mnist("idx truncated data", map[string][]byte{trainImages: idxBytes(0x803, []uint32{60000, 28, 28}, make([]byte, 1000))}, trainImages, "truncated", "47040000")
	mnist("idx truncated gzip", map[string][]byte{trainLabels: gzipped(t, idxBytes(0x801, []uint32{2}, []byte{5, 9}))[:20]}, trainLabels, "truncated")
	mnist("idx trailing data", map[string][]byte{testLabels: idxBytes(0x801, []uint32{2}, []byte{5, 9, 9, 9})}, testLabels, "2 unexpected bytes")
	mnist("idx gzip trailing garbage", map[string][]byte{trainImages: append(images, "garbage"...)}, trainImages, "trailing garbage", "7 more bytes")
	mnist("idx images 2x2", map[string][]byte{trainImages: idxBytes(0x803, []uint32{2, 2, 2}, make([]byte, 8))}, trainImages, "2x2", "28x28")
	mnist("idx count mismatch", map[string][]byte{trainLabels: idxBytes(0x801, []uint32{3}, []byte{5, 9, 9})}, trainLabels, "2 images", "3 labels")
	mnist("idx label out of range", map[string][]byte{trainLabels: idxBytes(0x801, []uint32{2}, []byte{5, 200})}, trainLabels, "label 200")
	mnist("idx no images", map[string][]byte{trainImages: idxBytes(0x803, []uint32{0, 28, 28}, nil), trainLabels: idxBytes(0x801, []uint32{0}, nil)}, trainImages, "no images")
	mnist("idx missing labels file", map[string][]byte{trainLabels: nil}, trainLabels, "no such file")
	mnist("idx gzip claims 47 MB", map[string][]byte{trainImages: gzipped(t, idxBytes(0x803, []uint32{60000, 28, 28}, nil))}, trainImages, "decompresses to at most")
	fashion := idxDir(t, map[string][]byte{testImages: append(gzipped(t, idxBytes(0x803, []uint32{2, 28, 28}, make([]byte, 2*28*28))), 0, 0, 0, 0)})
	add(hostile{"fashion gzip trailing zeros", map[string]string{"LQF_FASHION_MNIST_DIR": fashion},
		[]string{"finetune", "--task", "fashion-5-9", "--method", "fc", "--quiet"},
		2, []string{filepath.Join(fashion, testImages), "trailing garbage", "4 more bytes"}})

	// Image folders for lqf finetune --images.
	folder := func(name string, root string, want ...string) {
		add(hostile{name, nil, []string{"finetune", "--images", root, "--method", "fc", "--quiet"}, 2, want})
	}
	for _, h := range []struct {
		name string
		png  []byte
		want string
	}{
		{"png claims 100000x100000", hostilePNG(t, 100000, 100000), "side limit"},
		{"png claims 16384x16384", hostilePNG(t, 16384, 16384), "67108864-pixel limit"},
		{"png claims 8192x8192 in 70 bytes", hostilePNG(t, 8192, 8192), "cannot hold"},
		{"jpeg claims 65535x65535", hostileJPEG(t, 65535, 65535), "side limit"},
		{"png holds text", []byte("not an image"), "not a PNG or JPEG file"},
		{"png is empty", []byte{}, "empty file"},
	} {
		root := imageTree(t, map[string][]byte{"dog/evil.png": h.png}, good...)
		folder(h.name, root, filepath.Join(root, "dog", "evil.png"), h.want)
	}
	one := imageTree(t, nil, classes("", 6, "cat")...)
	folder("one class", one, one, "one class folder, cat", "at least two classes")
	oneSplit := imageTree(t, nil, classes("train/", 6, "cat")...)
	for _, p := range classes("test/", 2, "cat") {
		os.MkdirAll(filepath.Dir(filepath.Join(oneSplit, p)), 0o755)
		os.WriteFile(filepath.Join(oneSplit, p), hostilePNG(t, 1, 1), 0o644)
	}
	folder("one class in train/", oneSplit, filepath.Join(oneSplit, "train"), "one class folder")
	broken := imageTree(t, nil, good...)
	if err := os.Symlink(filepath.Join(broken, "missing"), filepath.Join(broken, "fish")); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
	folder("broken symlink class folder", broken, filepath.Join(broken, "fish"), "symbolic link")
	// A symlinked class folder is followed: a bad image inside it is found.
	outside := imageTree(t, map[string][]byte{"bird/bad.png": []byte("GIF89a")}, classes("", 6, "bird")...)
	linked := imageTree(t, nil, good...)
	os.Symlink(filepath.Join(outside, "bird"), filepath.Join(linked, "bird"))
	folder("symlinked class folder with a bad image", linked, filepath.Join(linked, "bird", "bad.png"), "not a PNG or JPEG file")
	upDir := imageTree(t, nil, append(good, "cat/up.png/")...)
	folder("directory named up.png", upDir, filepath.Join(upDir, "cat", "up.png"), "is a directory")
	onlyTrain := imageTree(t, nil, classes("train/", 6, "cat", "dog")...)
	folder("train without test", onlyTrain, onlyTrain, "train/ but no test/", filepath.Join(onlyTrain, "test"))
	onlyTest := imageTree(t, nil, classes("test/", 6, "cat", "dog")...)
	folder("test without train", onlyTest, onlyTest, "test/ but no train/")
	mismatch := imageTree(t, nil, append(classes("train/", 6, "cat", "dog"), classes("test/", 2, "cat", "cow")...)...)
	folder("train and test classes differ", mismatch, filepath.Join(mismatch, "test"), "[cat cow]")
	emptyClass := imageTree(t, nil, append(good, "cow/")...)
	folder("empty class folder", emptyClass, filepath.Join(emptyClass, "cow"), "no .png")
	noClasses := imageTree(t, nil, "a.png", "b.png")
	folder("images but no class folders", noClasses, noClasses, "no class sub-directories")
	file := filepath.Join(imageTree(t, nil, "x.png"), "x.png")
	folder("--images is a file", file, file, "not a directory")
	folder("--images does not exist", filepath.Join(one, "nothing"), filepath.Join(one, "nothing"), "does not exist")

	if len(cases) < 20 {
		t.Fatalf("%d cases, want at least 20", len(cases))
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			start := time.Now()
			code, stdout, stderr := runCLI(c.args...)
			elapsed := time.Since(start)
			t.Logf("exit %d in %v: %s", code, elapsed.Round(time.Millisecond), strings.TrimSpace(stderr))
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr is not exactly one line: %q", stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr holds a panic trace: %q", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty (training ran?): %q", stdout)
			}
			if elapsed > 10*time.Second {
				t.Errorf("took %v; a bad input must fail before any training", elapsed)
			}
		})
	}
}
