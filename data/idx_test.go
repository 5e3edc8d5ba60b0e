package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeIDX encodes an idx stream with the given magic, dims and data.
func makeIDX(magic uint32, dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseIDXPlainAndGzip(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5, 6}
	raw := makeIDX(0x00000803, []int{1, 2, 3}, payload)
	for name, in := range map[string][]byte{"plain": raw, "gzip": gzipBytes(t, raw)} {
		idx, err := ParseIDX(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(idx.Dims, []int{1, 2, 3}) || !bytes.Equal(idx.Data, payload) {
			t.Errorf("%s: got dims %v data %v, want [1 2 3] %v", name, idx.Dims, idx.Data, payload)
		}
	}
}

func TestParseIDXErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		in         []byte
	}{
		{"wrong magic", "wrong magic number", makeIDX(0x12340803, []int{2}, []byte{1, 2})},
		{"unsupported type", "unsupported data type code 0x0d", makeIDX(0x00000d01, []int{2}, []byte{1, 2})},
		{"zero dims", "0 dims", makeIDX(0x00000800, nil, nil)},
		{"empty", "truncated", nil},
		{"truncated dims", "truncated", makeIDX(0x00000803, []int{2}, nil)},
		{"truncated data", "truncated", makeIDX(0x00000801, []int{5}, []byte{1, 2})},
		{"too large", "limit", makeIDX(0x00000803, []int{1 << 16, 1 << 16, 1}, nil)},
		{"trailing", "unexpected bytes", makeIDX(0x00000801, []int{1}, []byte{1, 2})},
	} {
		_, err := ParseIDX(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestReadIDXFileTruncatedGzip(t *testing.T) {
	full := gzipBytes(t, makeIDX(0x00000801, []int{1000}, bytes.Repeat([]byte{7}, 1000)))
	path := writeFile(t, filepath.Join(t.TempDir(), "labels.gz"), full[:len(full)-12])
	_, err := ReadIDXFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("got %v, want an error naming %s and saying truncated", err, path)
	}
	if _, err := ReadIDXFile(filepath.Join(t.TempDir(), "missing.gz")); err == nil || !strings.Contains(err.Error(), "missing.gz") {
		t.Errorf("missing file: got %v, want an error naming missing.gz", err)
	}
}

func TestLoadIDXPair(t *testing.T) {
	dir := t.TempDir()
	pixels := make([]byte, 2*ImageSize)
	pixels[0], pixels[ImageSize+5] = 255, 51
	images := writeFile(t, filepath.Join(dir, "images"), makeIDX(0x00000803, []int{2, 28, 28}, pixels))
	labels := writeFile(t, filepath.Join(dir, "labels.gz"), gzipBytes(t, makeIDX(0x00000801, []int{2}, []byte{1, 0})))
	s, err := LoadIDXPair(images, labels, 2, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || len(s.Images) != 2*ImageSize || !slices.Equal(s.Labels, []int32{1, 0}) || !slices.Equal(s.Origin, []int32{0, 1}) {
		t.Fatalf("got len %d labels %v origin %v", s.Len(), s.Labels, s.Origin)
	}
	if s.Images[0] != 1 || s.Image(1)[5] != 0.2 || s.Images[1] != 0 {
		t.Errorf("pixels not scaled by 1/255: %v %v %v", s.Images[0], s.Image(1)[5], s.Images[1])
	}

	three := writeFile(t, filepath.Join(dir, "labels3"), makeIDX(0x00000801, []int{3}, []byte{0, 1, 0}))
	_, err = LoadIDXPair(images, three, 2, []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "mismatch") || !strings.Contains(err.Error(), images) || !strings.Contains(err.Error(), three) {
		t.Errorf("count mismatch: got %v, want an error naming both files", err)
	}
	_, err = LoadIDXPair(labels, labels, 2, []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "wrong magic") || !strings.Contains(err.Error(), labels) {
		t.Errorf("labels as images: got %v, want a wrong magic error naming %s", err, labels)
	}
	small := writeFile(t, filepath.Join(dir, "small"), makeIDX(0x00000803, []int{1, 2, 2}, []byte{1, 2, 3, 4}))
	_, err = LoadIDXPair(small, labels, 2, []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "2x2") || !strings.Contains(err.Error(), "28x28") {
		t.Errorf("2x2 images: got %v, want an error about the 28x28 size", err)
	}
	_, err = LoadIDXPair(images, labels, 1, []string{"a"})
	if err == nil || !strings.Contains(err.Error(), "label 1") {
		t.Errorf("label out of range: got %v", err)
	}
}

func FuzzParseIDX(f *testing.F) {
	f.Add(makeIDX(0x00000803, []int{1, 2, 2}, []byte{1, 2, 3, 4}))
	f.Add(makeIDX(0x00000801, []int{3}, []byte{0, 1, 2}))
	f.Add(gzipBytes(f, makeIDX(0x00000801, []int{2}, []byte{9, 9})))
	f.Add(makeIDX(0x00000801, []int{5}, []byte{1}))
	f.Add(makeIDX(0x00000d01, []int{1}, []byte{1}))
	f.Add(makeIDX(0x00000803, []int{1 << 20, 1 << 20, 1}, nil))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		idx, err := ParseIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if len(idx.Data) != n {
			t.Fatalf("dims %v hold %d bytes but Data has %d", idx.Dims, n, len(idx.Data))
		}
	})
}
