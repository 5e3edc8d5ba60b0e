package data

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Magic numbers of the idx files used by MNIST and Fashion-MNIST, and the
// limits ParseIDX enforces.
const (
	idxImagesMagic  = 0x00000803 // unsigned bytes, 3 dims [N, rows, cols]
	idxLabelsMagic  = 0x00000801 // unsigned bytes, 1 dim [N]
	idxUnsignedByte = 0x08
	maxIDXDims      = 16
	maxIDXSize      = 1 << 30 // largest payload ParseIDX accepts, in bytes

	// deflateMaxRatio bounds the expansion of deflate data (gzip files,
	// PNG image data): at best a 258-byte match costs 2 bits, so n
	// compressed bytes never decompress to more than 1032*n bytes.
	deflateMaxRatio = 1032
	// idxFirstAlloc is the most ParseIDX allocates for the data before any
	// of it has arrived, when the header's size cannot be checked against
	// the length of the input; the buffer then grows as data arrives.
	idxFirstAlloc = 4 << 20
)

// IDX is a parsed idx file of unsigned bytes
// (http://yann.lecun.com/exdb/mnist/): Data holds prod(Dims) bytes in
// row-major order.
type IDX struct {
	Dims []int
	Data []byte
}

// ParseIDX parses an idx stream of unsigned bytes (type code 0x08), either
// plain or gzip-compressed (detected by the gzip magic bytes 1f 8b). The
// header is a big-endian magic 0x0000TTDD (TT type code, DD number of dims)
// followed by DD big-endian uint32 dims and prod(dims) data bytes.
//
// Limits and rules, each failure an error that says what is wrong:
//   - the type code must be 0x08 and the number of dims 1 to 16;
//   - each dim, and the product of the dims, must be at most 1 GiB (2^30);
//   - the data must hold exactly prod(dims) bytes: a short file is
//     truncated, and any bytes after the data are refused;
//   - a gzip stream may hold several members (as gzip -c a b > c makes),
//     but nothing after its last member: bytes that are not gzip data are
//     refused as trailing garbage, not reported as truncation.
//
// When the length of r is known (r is a *bytes.Reader, *bytes.Buffer,
// *strings.Reader or a regular *os.File, as ReadIDXFile passes), the
// header's size is checked against it before anything of that size is
// allocated: a plain stream must hold exactly the header and prod(dims)
// bytes, and a gzip stream of n bytes cannot expand to more than 1032*n
// bytes. Otherwise at most 4 MiB is allocated before the data arrive, and
// the buffer grows with the data actually read, never beyond prod(dims).
func ParseIDX(r io.Reader) (*IDX, error) {
	return parseIDX(r, streamSize(r))
}

// streamSize returns the number of bytes left in r, or -1 if unknown.
func streamSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil || off > st.Size() {
			return -1
		}
		return st.Size() - off
	}
	return -1
}

// parseIDX is ParseIDX for a stream of size bytes (-1: unknown).
func parseIDX(r io.Reader, size int64) (*IDX, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	var src io.Reader = br
	var gz *gzipMembers
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, gzipHeaderError(0, err)
		}
		zr.Multistream(false)
		defer zr.Close()
		gz = &gzipMembers{zr: zr, br: br, cr: cr, size: size}
		src = gz
	}

	var header [4]byte
	if _, err := io.ReadFull(src, header[:]); err != nil {
		return nil, truncated("magic number", err)
	}
	magic := binary.BigEndian.Uint32(header[:])
	if header[0] != 0 || header[1] != 0 {
		return nil, fmt.Errorf("wrong magic number 0x%08x: not an idx file (want 0x%08x for images or 0x%08x for labels)",
			magic, idxImagesMagic, idxLabelsMagic)
	}
	if header[2] != idxUnsignedByte {
		return nil, fmt.Errorf("wrong magic number 0x%08x: unsupported data type code 0x%02x (only unsigned byte 0x08 is supported)",
			magic, header[2])
	}
	nd := int(header[3])
	if nd == 0 || nd > maxIDXDims {
		return nil, fmt.Errorf("wrong magic number 0x%08x: %d dims (want 1 to %d)", magic, nd, maxIDXDims)
	}

	dimBytes := make([]byte, 4*nd)
	if _, err := io.ReadFull(src, dimBytes); err != nil {
		return nil, truncated("dims", err)
	}
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d > maxIDXSize {
			return nil, fmt.Errorf("dim %d is %d: larger than the %d-byte limit; the header is corrupt", i, d, maxIDXSize)
		}
		dims[i] = int(d)
		// Both factors are at most 2^30, so the product cannot overflow.
		total *= dims[i]
		if total > maxIDXSize {
			return nil, fmt.Errorf("dims %v hold more than the %d-byte limit; the header is corrupt", dims[:i+1], maxIDXSize)
		}
	}

	// Check the claimed size against the input before allocating it.
	headerLen := int64(4 + 4*nd)
	firstAlloc := min(total, idxFirstAlloc)
	switch {
	case size < 0:
	case gz == nil && int64(total) > size-headerLen:
		return nil, fmt.Errorf("truncated: dims %v need %d data bytes but the file has only %d after its %d-byte header; the file is incomplete, download it again",
			dims, total, size-headerLen, headerLen)
	case gz == nil && int64(total) < size-headerLen:
		return nil, fmt.Errorf("%d unexpected bytes after the %d data bytes of dims %v; the file is corrupt or its header is wrong",
			size-headerLen-int64(total), total, dims)
	case gz == nil:
		firstAlloc = total // exactly what the file holds
	case headerLen+int64(total) > deflateMaxRatio*size:
		return nil, fmt.Errorf("truncated or corrupt: dims %v need %d data bytes but a %d-byte gzip file decompresses to at most %d bytes; download the file again",
			dims, total, size, deflateMaxRatio*size)
	}

	data, err := readAtMost(src, total, firstAlloc)
	if err != nil {
		var te *trailingGzipError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("the gzip data ends after %d of the %d data bytes that dims %v need, and %v", len(data), total, dims, te)
		case gz != nil && errors.Is(err, io.EOF):
			return nil, fmt.Errorf("the gzip stream ends cleanly after %d of the %d data bytes that dims %v need: the header is wrong or the data was cut before compression; download the file again",
				len(data), total, dims)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("truncated: dims %v need %d data bytes but only %d are present; the file is incomplete, download it again",
				dims, total, len(data))
		}
		return nil, fmt.Errorf("reading data: %w", describeGzip(err))
	}
	// Read one more byte: this detects trailing bytes and makes gzip verify
	// its checksum.
	var extra [1]byte
	if k, err := io.ReadFull(src, extra[:]); k > 0 {
		return nil, fmt.Errorf("unexpected bytes after the %d data bytes of dims %v; the file is corrupt or its header is wrong", total, dims)
	} else if !errors.Is(err, io.EOF) {
		var te *trailingGzipError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("the idx data (dims %v) is complete, but %v", dims, te)
		}
		return nil, truncated("end of data", err)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// readAtMost reads n bytes from r into a buffer of first bytes that grows
// (doubling, capped at n) only as data arrives. If r fails before n bytes,
// it returns the bytes read so far and r's error; an error that comes with
// the last bytes is left for the next read of r (r must repeat it).
func readAtMost(r io.Reader, n, first int) ([]byte, error) {
	buf := make([]byte, 0, max(first, min(n, 512)))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		k, err := r.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			return buf, err
		}
	}
	return buf, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gzipMembers decompresses a gzip stream of one or more members and refuses
// anything after the last member with a *trailingGzipError.
type gzipMembers struct {
	err  error // sticky error
	zr   *gzip.Reader
	br   *bufio.Reader
	cr   *countingReader
	size int64 // length of the compressed stream, -1 if unknown
}

// offset is the position in the compressed stream of the next unread byte.
func (g *gzipMembers) offset() int64 { return g.cr.n - int64(g.br.Buffered()) }

// Read reads decompressed data; its errors, other than io.EOF, are sticky.
func (g *gzipMembers) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.read(p)
	if err != nil && err != io.EOF {
		g.err = err
	}
	return n, err
}

func (g *gzipMembers) read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		// End of a member: the stream ends here, another member follows,
		// or trailing bytes do.
		next, perr := g.br.Peek(2)
		switch {
		case len(next) == 0 && errors.Is(perr, io.EOF):
			return n, io.EOF
		case len(next) == 2 && next[0] == 0x1f && next[1] == 0x8b:
			at := g.offset()
			if err := g.zr.Reset(g.br); err != nil {
				return n, gzipHeaderError(at, err)
			}
			g.zr.Multistream(false)
		case len(next) == 0:
			return n, perr
		default:
			at := g.offset()
			extra := g.size - at
			if g.size < 0 {
				// Count what follows, up to a bound.
				k, _ := io.Copy(io.Discard, io.LimitReader(g.br, 1<<20))
				extra = k
			}
			return n, &trailingGzipError{at: at, extra: extra, known: g.size >= 0}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// trailingGzipError reports bytes after the end of a gzip stream that are
// not another gzip member.
type trailingGzipError struct {
	at, extra int64 // offset of the first trailing byte, and their count
	known     bool  // extra is exact (else a lower bound when >= 1 MiB)
}

func (e *trailingGzipError) Error() string {
	more := fmt.Sprint(e.extra)
	if !e.known && e.extra >= 1<<20 {
		more = "at least " + more
	}
	return fmt.Sprintf("the gzip stream ends at byte %d and %s more bytes follow that are not gzip data (trailing garbage: the file is not cut short, it has extra bytes); cut the file to its first %d bytes or download it again",
		e.at, more, e.at)
}

// gzipHeaderError describes a bad gzip member header at offset at.
func gzipHeaderError(at int64, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: the file ends inside the gzip header at byte %d; the file is incomplete, download it again", at)
	}
	return fmt.Errorf("bad gzip header at byte %d: %w; the file is corrupt, download it again", at, err)
}

// describeGzip adds a fix to gzip and deflate errors.
func describeGzip(err error) error {
	var ce flate.CorruptInputError
	switch {
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: the decompressed data does not match the gzip checksum; the file is corrupt, download it again", err)
	case errors.As(err, &ce):
		return fmt.Errorf("%w: the compressed data is corrupt; download the file again", err)
	}
	return err
}

func truncated(what string, err error) error {
	var te *trailingGzipError
	switch {
	case errors.As(err, &te):
		return fmt.Errorf("the gzip data ends before the idx %s, and %v", what, te)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("truncated: file ends before its %s; the file is incomplete, download it again", what)
	}
	return fmt.Errorf("reading %s: %w", what, describeGzip(err))
}

// ReadIDXFile reads and parses the idx file at path (plain or gzip) by the
// rules of ParseIDX, checking the header against the file's length before
// allocating the data; errors name the path.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("data: idx file %s is a directory; point to the idx file itself", path)
	}
	idx, err := ParseIDX(f)
	if err != nil {
		return nil, fmt.Errorf("data: idx file %s: %w", path, err)
	}
	return idx, nil
}

// LoadIDXPair reads an images idx file ([N, 28, 28]) and a labels idx file
// ([N]) into a 28x28x1 Set (Images [N, 28, 28, 1]) with pixels scaled to
// [0, 1] and Origin[i] = i. Both files are read by ReadIDXFile's rules; N
// must be positive and the same in both, labels must be below numClasses,
// and classNames must have numClasses entries.
func LoadIDXPair(imagesPath, labelsPath string, numClasses int, classNames []string) (*Set, error) {
	if numClasses <= 0 || len(classNames) != numClasses {
		return nil, fmt.Errorf("data: loading %s: numClasses is %d but %d class names were given; pass one name per class",
			imagesPath, numClasses, len(classNames))
	}
	images, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: wrong magic number: %d dims, want 3 (magic 0x%08x, an images file)",
			imagesPath, len(images.Dims), idxImagesMagic)
	}
	if images.Dims[1] != Height || images.Dims[2] != Width {
		return nil, fmt.Errorf("data: %s: images are %dx%d, want %dx%d; resize them first",
			imagesPath, images.Dims[1], images.Dims[2], Height, Width)
	}
	labels, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: wrong magic number: %d dims, want 1 (magic 0x%08x, a labels file)",
			labelsPath, len(labels.Dims), idxLabelsMagic)
	}
	n := images.Dims[0]
	if n == 0 {
		return nil, fmt.Errorf("data: %s holds no images (dims %v); use a file with at least one image", imagesPath, images.Dims)
	}
	if labels.Dims[0] != n {
		return nil, fmt.Errorf("data: count mismatch: %s has %d images but %s has %d labels; use matching files",
			imagesPath, n, labelsPath, labels.Dims[0])
	}
	s := &Set{
		Images:     make([]float32, n*ImageSize),
		Height:     Height,
		Width:      Width,
		Channels:   Channels,
		Labels:     make([]int32, n),
		NumClasses: numClasses,
		ClassNames: append([]string(nil), classNames...),
		Origin:     make([]int32, n),
	}
	for i, b := range images.Data {
		s.Images[i] = float32(b) / 255
	}
	for i, l := range labels.Data {
		if int(l) >= numClasses {
			return nil, fmt.Errorf("data: %s: label %d of sample %d is not below the %d classes", labelsPath, l, i, numClasses)
		}
		s.Labels[i] = int32(l)
		s.Origin[i] = int32(i)
	}
	return s, nil
}
