package data

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxCase is a crafted idx input: want are substrings of ReadIDXFile's
// error ("" for none: the input is valid), and unwanted must not appear.
type idxCase struct {
	name     string
	in       []byte
	want     []string
	unwanted []string
}

// gzipConcat gzips each part as its own member, concatenated.
func gzipConcat(t testing.TB, parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, gzipBytes(t, p)...)
	}
	return out
}

// hostileIDX returns crafted idx inputs, valid and invalid, for the table
// test and as seeds of FuzzReadIDX.
func hostileIDX(t testing.TB) []idxCase {
	labels := makeIDX(0x00000801, []int{4}, []byte{1, 2, 3, 4})
	gz := gzipBytes(t, labels)
	badCRC := slices.Clone(gz)
	badCRC[len(badCRC)-8] ^= 0xff // CRC-32 of the member
	corrupt := slices.Clone(gz)
	corrupt[12] ^= 0x55 // inside the deflate data
	trunc := []string{"truncated"}
	return []idxCase{
		{"valid labels", labels, nil, nil},
		{"valid images", makeIDX(0x00000803, []int{2, 2, 2}, make([]byte, 8)), nil, nil},
		{"valid gzip", gz, nil, nil},
		{"valid two gzip members", gzipConcat(t, labels[:6], labels[6:]), nil, nil},
		{"valid zero dim", makeIDX(0x00000803, []int{0, 1 << 30, 1 << 30}, nil), nil, nil},
		{"empty", nil, trunc, nil},
		{"bad magic", makeIDX(0x12340803, []int{2}, []byte{1, 2}), []string{"wrong magic number 0x12340803", "not an idx file"}, nil},
		{"text file", []byte("hello, this is not an idx file\n"), []string{"wrong magic number", "not an idx file"}, nil},
		{"float type code", makeIDX(0x00000d03, []int{1, 1, 1}, make([]byte, 4)), []string{"unsupported data type code 0x0d"}, nil},
		{"int type code", makeIDX(0x00000c01, []int{1}, make([]byte, 4)), []string{"unsupported data type code 0x0c"}, nil},
		{"zero dims", makeIDX(0x00000800, nil, nil), []string{"0 dims"}, nil},
		{"17 dims", makeIDX(0x00000811, make([]int, 17), nil), []string{"17 dims", "1 to 16"}, nil},
		{"huge dim", makeIDX(0x00000801, []int{0xffffffff}, nil), []string{"dim 0 is 4294967295", "limit"}, nil},
		{"huge product", makeIDX(0x00000803, []int{60000, 280, 280}, nil), []string{"[60000 280 280]", "limit"}, nil},
		{"product overflows int64", makeIDX(0x00000804, []int{1 << 30, 1 << 30, 1 << 30, 1 << 30}, nil), []string{"[1073741824 1073741824]", "limit"}, nil},
		{"truncated header", makeIDX(0x00000803, []int{2}, nil), trunc, nil},
		{"truncated data", makeIDX(0x00000803, []int{60000, 28, 28}, make([]byte, 100)), []string{"truncated", "47040000 data bytes", "100"}, nil},
		{"trailing data", makeIDX(0x00000801, []int{1}, []byte{1, 2, 3}), []string{"2 unexpected bytes"}, trunc},
		{"gzip truncated", gz[:len(gz)-12], trunc, nil},
		{"gzip header only", gz[:5], []string{"truncated", "gzip header"}, nil},
		{"gzip trailing garbage", append(slices.Clone(gz), "junk"...), []string{"trailing garbage", "4 more bytes", "is complete"}, trunc},
		{"gzip trailing zeros", append(slices.Clone(gz), make([]byte, 512)...), []string{"trailing garbage", "512 more bytes", "first"}, trunc},
		{"gzip trailing bad member", append(slices.Clone(gz), 0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), []string{"bad gzip header"}, trunc},
		{"gzip bad checksum", badCRC, []string{"checksum"}, nil},
		{"gzip corrupt deflate", corrupt, []string{"idx file"}, nil},
		{"gzip short content", gzipBytes(t, makeIDX(0x00000801, []int{5}, []byte{1, 2})), []string{"ends cleanly after 2 of the 5"}, trunc},
		{"gzip short content and garbage", append(gzipBytes(t, makeIDX(0x00000801, []int{5}, []byte{1, 2})), "xx"...), []string{"after 2 of the 5", "trailing garbage"}, nil},
		{"gzip claims too much", gzipBytes(t, makeIDX(0x00000803, []int{60000, 28, 28}, nil)), []string{"decompresses to at most"}, nil},
	}
}

func TestReadIDXHostile(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range hostileIDX(t) {
		path := writeFile(t, filepath.Join(dir, "f"+string(rune('a'+i))), tc.in)
		_, err := ReadIDXFile(path)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !wantError(t, tc.name, err, append(tc.want, path)...) {
			continue
		}
		for _, w := range tc.unwanted {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q contains %q", tc.name, err, w)
			}
		}
	}
}

// TestParseIDXNoOverAllocation checks that a header claiming 47 MB (or
// 1 GiB) with no data behind it is refused without allocating that much:
// from the header with a known length, and after at most 4 MiB from a
// stream of unknown length.
func TestParseIDXNoOverAllocation(t *testing.T) {
	mnist := makeIDX(0x00000803, []int{60000, 28, 28}, nil)
	huge := makeIDX(0x00000801, []int{1 << 30}, nil)
	for _, tc := range []struct {
		name  string
		r     func() io.Reader
		limit uint64
	}{
		{"plain, known length", func() io.Reader { return bytes.NewReader(mnist) }, 64 << 10},
		{"gzip, known length", func() io.Reader { return bytes.NewReader(gzipBytes(t, mnist)) }, 256 << 10},
		{"plain 1 GiB, known length", func() io.Reader { return bytes.NewReader(huge) }, 64 << 10},
		{"plain, unknown length", func() io.Reader { return io.MultiReader(bytes.NewReader(mnist)) }, 5 << 20},
		{"gzip 1 GiB, unknown length", func() io.Reader { return io.MultiReader(bytes.NewReader(gzipBytes(t, huge))) }, 5 << 20},
	} {
		r := tc.r()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ParseIDX(r)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > tc.limit {
			t.Errorf("%s: allocated %d bytes, want at most %d (%v)", tc.name, got, tc.limit, err)
		}
	}
}

// TestDeflateMaxRatio checks the bound the size checks rely on: even the
// most compressible data (zeros) stays below 1032:1 in gzip.
func TestDeflateMaxRatio(t *testing.T) {
	const n = 16 << 20
	for _, level := range []int{gzip.BestCompression, gzip.DefaultCompression, gzip.BestSpeed} {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, level)
		w.Write(make([]byte, n))
		w.Close()
		if n > deflateMaxRatio*b.Len() {
			t.Errorf("level %d: %d zeros gzip to %d bytes, more than %d:1", level, n, b.Len(), deflateMaxRatio)
		}
	}
}

// FuzzReadIDX reads crafted idx files through ReadIDXFile (length known)
// and ParseIDX on a stream of unknown length: neither may panic, both must
// agree on whether the input is valid and on its contents, errors must
// name the file, and a valid result must hold prod(Dims) bytes.
func FuzzReadIDX(f *testing.F) {
	for _, tc := range hostileIDX(f) {
		f.Add(tc.in)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		path := filepath.Join(dir, "fuzz.idx")
		if err := os.WriteFile(path, in, 0o644); err != nil {
			t.Fatal(err)
		}
		idx, err := ReadIDXFile(path)
		streamed, serr := ParseIDX(io.MultiReader(bytes.NewReader(in)))
		if (err == nil) != (serr == nil) {
			t.Fatalf("file and stream disagree: %v vs %v", err, serr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not name %s on one line", err, path)
			}
			return
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if len(idx.Data) != n || cap(idx.Data) > max(n+n/16+8192, 512) {
			t.Fatalf("dims %v hold %d bytes but Data has %d (cap %d)", idx.Dims, n, len(idx.Data), cap(idx.Data))
		}
		if !slices.Equal(idx.Dims, streamed.Dims) || !bytes.Equal(idx.Data, streamed.Data) {
			t.Fatalf("file and stream give different results")
		}
	})
}
