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
