// Package jsonfile reads the JSON files lqf caches between runs (the seed
// results, run records and cells of lqf reproduce, the manifests of file
// sets, the kernel cache's header) with a size limit stated by each
// caller: a file above it is refused before it is read, and every error
// names the file.
//
// It holds none of the paper's equations.
package jsonfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is wrapped by the error for a file above its limit.
var ErrTooLarge = errors.New("larger than the limit")

// ReadLimited returns the content of the file at path, refusing one of
// more than limit bytes before reading it (and one that grows past the
// limit while it is read). A missing file is an error satisfying
// errors.Is(err, os.ErrNotExist).
func ReadLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, %w of %d bytes for this file; it is not one lqf wrote", path, st.Size(), ErrTooLarge, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes for this file (it grew while read)", path, ErrTooLarge, limit)
	}
	return b, nil
}

// Decode unmarshals b, the content of the file path, into v: exactly one
// JSON value. The error names the file.
func Decode(path string, b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: not valid JSON of its kind: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: more than one JSON value", path)
	}
	return nil
}

// Read reads the file at path (at most limit bytes, ReadLimited) and
// unmarshals it into v (Decode).
func Read(path string, limit int64, v any) error {
	b, err := ReadLimited(path, limit)
	if err != nil {
		return err
	}
	return Decode(path, b, v)
}

// ReadRaw reads the file at path (at most limit bytes) and checks that it
// holds one valid JSON value, which it returns as is.
func ReadRaw(path string, limit int64) (json.RawMessage, error) {
	b, err := ReadLimited(path, limit)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := Decode(path, b, &raw); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadLine reads one line from br, without its end of line and
// surrounding space, refusing one longer than limit bytes before reading
// the rest: the JSON header line of a binary file (a checkpoint, a kernel
// cache), whose length the file itself claims by where it puts the
// newline.
func ReadLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit+1 {
			return nil, fmt.Errorf("header line longer than %d bytes", limit)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return bytes.TrimSpace(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil, errors.New("truncated header line (no end of line)")
		default:
			return nil, err
		}
	}
}
