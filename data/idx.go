package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Magic numbers of the idx files used by MNIST and Fashion-MNIST.
const (
	idxImagesMagic  = 0x00000803 // unsigned bytes, 3 dims [N, rows, cols]
	idxLabelsMagic  = 0x00000801 // unsigned bytes, 1 dim [N]
	idxUnsignedByte = 0x08
	maxIDXDims      = 16
	maxIDXSize      = 1 << 30 // largest payload ParseIDX accepts, in bytes
)

// IDX is a parsed idx file of unsigned bytes
// (http://yann.lecun.com/exdb/mnist/): Data holds prod(Dims) bytes in
// row-major order.
type IDX struct {
	Dims []int
	Data []byte
}

// ParseIDX parses an idx stream of unsigned bytes (type code 0x08), either
// plain or gzip-compressed (detected by the gzip magic bytes). The header is
// a big-endian magic 0x0000TTDD (TT type code, DD number of dims) followed by
// DD big-endian uint32 dims and prod(dims) data bytes. It rejects other type
// codes, truncated or trailing data, and payloads larger than 1 GiB.
func ParseIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bad gzip header: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}

	var header [4]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
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
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return nil, truncated("dims", err)
	}
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		if d > maxIDXSize {
			return nil, fmt.Errorf("dim %d is %d: larger than the %d-byte limit", i, d, maxIDXSize)
		}
		dims[i] = int(d)
		total *= dims[i]
		if total > maxIDXSize {
			return nil, fmt.Errorf("dims %v hold more than the %d-byte limit", dims[:i+1], maxIDXSize)
		}
	}

	// Grow the buffer as data arrives rather than trusting the header.
	var buf bytes.Buffer
	buf.Grow(min(total, 64<<20))
	n, err := io.CopyN(&buf, r, int64(total))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: dims %v need %d data bytes but only %d are present; the file is incomplete, download it again",
				dims, total, n)
		}
		return nil, fmt.Errorf("reading data: %w", err)
	}
	// Read one more byte: this detects trailing garbage and makes gzip verify
	// its checksum.
	var extra [1]byte
	if k, err := io.ReadFull(r, extra[:]); k > 0 {
		return nil, fmt.Errorf("unexpected bytes after the %d data bytes of dims %v; the file is corrupt or its header is wrong", total, dims)
	} else if !errors.Is(err, io.EOF) {
		return nil, truncated("end of data", err)
	}
	return &IDX{Dims: dims, Data: buf.Bytes()}, nil
}

func truncated(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: file ends before its %s; the file is incomplete, download it again", what)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

// ReadIDXFile reads and parses the idx file at path (plain or gzip); errors
// name the path.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	idx, err := ParseIDX(f)
	if err != nil {
		return nil, fmt.Errorf("data: idx file %s: %w", path, err)
	}
	return idx, nil
}

// LoadIDXPair reads an images idx file ([N, 28, 28]) and a labels idx file
// ([N]) into a 28x28x1 Set (Images [N, 28, 28, 1]) with pixels scaled to
// [0, 1] and Origin[i] = i. Labels
// must be below numClasses, and classNames must have numClasses entries.
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
