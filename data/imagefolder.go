package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadImageFolder loads a folder with one sub-directory per class as a
// 28x28x1 set (Images [N, 28, 28, 1]): it is LoadImageFolderAs(dir,
// Geometry{}).
func LoadImageFolder(dir string) (*Set, error) {
	return LoadImageFolderAs(dir, Geometry{})
}

// Limits on the image files LoadImageFolderAs reads. Each file's size is
// read from its header (image.DecodeConfig) and checked before the image is
// decoded, so a file that claims a huge size is refused without allocating
// it.
const (
	// MaxImageSide is the largest width or height accepted, in pixels.
	MaxImageSide = 16384
	// MaxImagePixels is the largest width*height accepted: 2^26 (64 Mi)
	// pixels, for example 8192x8192, more than a 48-megapixel photo.
	// Decoding an image at the limit takes up to 512 MiB (16-bit RGBA).
	MaxImagePixels = 1 << 26
)

// LoadImageFolderAs loads a folder with one sub-directory per class as a set
// of geometry g (the zero Geometry is 28x28x1): Images [N, g.Height,
// g.Width, g.Channels]. Class names are the sorted sub-directory names; each
// class folder must hold at least one PNG or JPEG file (.png, .jpg, .jpeg,
// any case). Origin[i] is the index of sample i in the folder's enumeration
// order (classes sorted, files sorted within a class).
//
// The folder is read by these rules:
//   - names starting with '.' (hidden, such as .DS_Store or macOS's ._x.png
//     files) are skipped, in dir and in the class folders;
//   - symbolic links are followed, wherever they point: a link to a
//     directory is a class folder, a link to a file is a file; a broken link
//     is an error, and so is an image name that is not a regular file
//     (a named pipe, a device);
//   - other files in dir, and files in class folders without an image
//     extension, are ignored, as are sub-directories of class folders, except
//     that a directory with an image extension (such as "up.png/") is an
//     error;
//   - every image file must be PNG or JPEG data (told by its leading bytes,
//     whatever its extension; other formats are refused even if a decoder
//     for them is registered with package image), be at most MaxImageSide
//     pixels wide and high and hold at most MaxImagePixels pixels (checked
//     from its header before decoding), and a PNG file must be large enough
//     to hold the pixels its header claims.
//
// The class folders and their files are listed and checked before any
// image is decoded. One class is accepted (LoadImageFolderSplitsAs, which
// builds a classification task, needs two).
//
// Each image is read at full resolution as RGB (g.Channels 3, in R, G, B
// order) or as grayscale luma (g.Channels 1: 0.299 R + 0.587 G + 0.114 B),
// with transparent pixels composited on black, and scaled to [0, 1] (8-bit
// values v become exactly v/255). It is then scaled by s = max(g.Height/h,
// g.Width/w) so that it covers the target (for a square target: its
// shorter side becomes the target's side), and the centre g.Height x
// g.Width is cropped: output pixel (y, x) samples the source at
// ((y+0.5-g.Height/2)/s + h/2 - 0.5, (x+0.5-g.Width/2)/s + w/2 - 0.5) with
// bilinear interpolation, widened into a tent filter over 1/s source pixels
// when shrinking (this package's implementation of the
// golang.org/x/image/draw.BiLinear kernel, in float32). An image of the
// target's size is copied unchanged. g must have positive sizes and 1 or 3
// channels; errors name the offending file or folder.
func LoadImageFolderAs(dir string, g Geometry) (*Set, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	classes, err := listClasses(dir)
	if err != nil {
		return nil, err
	}
	return loadClasses(classes, g.orDefault())
}

// classFolder is a class's name and its image files, sorted.
type classFolder struct {
	name, dir string
	files     []string
}

// listClasses lists the class folders of dir and their image files by the
// rules of LoadImageFolderAs, without decoding any image.
func listClasses(dir string) ([]classFolder, error) {
	st, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return nil, fmt.Errorf("data: image folder %s does not exist; pass a directory with one sub-directory of images per class", dir)
	case err != nil:
		return nil, fmt.Errorf("data: image folder: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("data: image folder %s is a file, not a directory; pass a directory with one sub-directory of images per class", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: reading image folder: %w", err)
	}
	var classes []classFolder
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		typ, err := followType(path, e)
		if err != nil {
			return nil, err
		}
		if !typ.IsDir() {
			continue
		}
		c := classFolder{name: e.Name(), dir: path}
		if c.files, err = listImages(path); err != nil {
			return nil, err
		}
		classes = append(classes, c)
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: image folder %s has no class sub-directories; put each class's images in its own sub-directory", dir)
	}
	return classes, nil
}

// followType returns the type bits of the entry e at path, following a
// symbolic link (fs.ModeDir for a directory, 0 for a regular file); a
// broken link is an error.
func followType(path string, e fs.DirEntry) (fs.FileMode, error) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Type(), nil
	}
	st, err := os.Stat(path)
	if err != nil {
		target, _ := os.Readlink(path)
		return 0, fmt.Errorf("data: %s is a symbolic link to %s, which cannot be read (%v); fix or remove the link", path, target, unwrapPath(err))
	}
	return st.Mode().Type(), nil
}

// unwrapPath drops the path from an *fs.PathError, which the caller names.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// listImages lists the image files of the class folder dir, sorted.
func listImages(dir string) ([]string, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: reading class folder: %w", err)
	}
	var paths []string
	for _, f := range files {
		if strings.HasPrefix(f.Name(), ".") || !isImageFile(f.Name()) {
			continue
		}
		path := filepath.Join(dir, f.Name())
		typ, err := followType(path, f)
		switch {
		case err != nil:
			return nil, err
		case typ.IsDir():
			return nil, fmt.Errorf("data: %s is a directory, not an image file; class folders hold image files only: move its images into %s or rename it", path, dir)
		case !typ.IsRegular():
			return nil, fmt.Errorf("data: %s is not a regular file (%v); replace it with a PNG or JPEG file or remove it", path, typ)
		}
		paths = append(paths, path)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("data: class folder %s is empty: it has no .png, .jpg or .jpeg images; add images or remove the folder", dir)
	}
	return paths, nil
}

// loadClasses decodes the images of classes into a set of geometry g.
func loadClasses(classes []classFolder, g Geometry) (*Set, error) {
	s := &Set{Height: g.Height, Width: g.Width, Channels: g.Channels}
	var rd imageReader
	for label, c := range classes {
		for _, path := range c.files {
			img, err := rd.read(path, g)
			if err != nil {
				return nil, err
			}
			s.Images = append(s.Images, img...)
			s.Labels = append(s.Labels, int32(label))
			s.Origin = append(s.Origin, int32(len(s.Origin)))
		}
		s.ClassNames = append(s.ClassNames, c.name)
	}
	s.NumClasses = len(s.ClassNames)
	return s, nil
}

func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// checkImageSize checks the size w x h that the header of the image file
// path (of format, size bytes long) claims against MaxImageSide and
// MaxImagePixels and, for PNG, against the file's length.
func checkImageSize(path, format string, w, h int, size int64) error {
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("data: image %s is empty (%dx%d); remove it or replace it with a valid image", path, w, h)
	case w > MaxImageSide || h > MaxImageSide:
		return fmt.Errorf("data: image %s claims to be %dx%d pixels, more than the %d-pixel side limit; the file is corrupt or too large: shrink it", path, w, h, MaxImageSide)
	case w*h > MaxImagePixels:
		return fmt.Errorf("data: image %s claims to be %dx%d pixels (%d), more than the %d-pixel limit; the file is corrupt or too large: shrink it", path, w, h, w*h, MaxImagePixels)
	}
	// A PNG's pixels are deflate data of at least h*(1+ceil(w/8)) bytes
	// (1 bit per pixel plus a filter byte per row), which n bytes of file
	// cannot exceed 1032*n of.
	if raw := int64(h) * int64(1+(w+7)/8); format == "png" && size >= 0 && raw > deflateMaxRatio*size {
		return fmt.Errorf("data: image %s claims to be %dx%d pixels, which its %d bytes cannot hold; the file is truncated or corrupt: replace it", path, w, h, size)
	}
	return nil
}

// imageReader decodes image files into geometry g, reusing its buffers.
type imageReader struct {
	row, tmp []float32
}

// read decodes the image at path, after checking the size its header
// claims (see checkImageSize), and returns it as g.ImageLen() values in
// [0, 1], [g.Height, g.Width, g.Channels] (see LoadImageFolderAs).
func (rd *imageReader) read(path string, g Geometry) ([]float32, error) {
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
		return nil, fmt.Errorf("data: %s is a directory, not an image file; move its images up a level or rename it", path)
	}
	size := int64(-1)
	if st.Mode().IsRegular() {
		size = st.Size()
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(12)
	format, decodeConfig, decode := sniffImage(head)
	if format == "" {
		return nil, notImage(path, size, head)
	}
	cfg, err := decodeConfig(br)
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	if err := checkImageSize(path, format, cfg.Width, cfg.Height, size); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	br.Reset(f)
	src, err := decode(br)
	if err != nil {
		return nil, decodeError(path, format, err)
	}
	b := src.Bounds()
	if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("data: image %s decodes to %dx%d but its header says %dx%d; the file is corrupt: replace it", path, b.Dx(), b.Dy(), cfg.Width, cfg.Height)
	}
	h, w, c := b.Dy(), b.Dx(), g.Channels
	rz := newResizer(h, w, g.Height, g.Width)
	rd.row = grow(rd.row, w*c)
	if !rz.identity() {
		rd.tmp = grow(rd.tmp, h*g.Width*c)
	}
	rgba64, _ := src.(image.RGBA64Image)
	pixel := func(x, y int) (r, g, b uint32) {
		if rgba64 != nil {
			p := rgba64.RGBA64At(x, y)
			return uint32(p.R), uint32(p.G), uint32(p.B)
		}
		r, g, b, _ = src.At(x, y).RGBA()
		return r, g, b
	}
	row := func(y int) []float32 {
		out := rd.row[:w*c]
		for x := range w {
			r, gr, bl := pixel(b.Min.X+x, b.Min.Y+y)
			if c == 3 {
				out[3*x], out[3*x+1], out[3*x+2] = float32(r)/0xffff, float32(gr)/0xffff, float32(bl)/0xffff
			} else {
				// color.Gray16Model's luma: exact for gray inputs.
				out[x] = float32((19595*r+38470*gr+7471*bl+1<<15)>>16) / 0xffff
			}
		}
		return out
	}
	out := make([]float32, g.ImageLen())
	rz.apply(out, c, row, rd.tmp)
	return out, nil
}

// grow returns buf if it holds n values, else a new slice of n values.
// sniffImage returns the format ("png" or "jpeg", from the leading magic
// bytes head) and its decoders, or "" for other data. The decoders are
// called directly, so that what is read does not depend on the decoders
// other packages register with package image.
func sniffImage(head []byte) (format string, config func(io.Reader) (image.Config, error), decode func(io.Reader) (image.Image, error)) {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png", png.DecodeConfig, png.Decode
	case bytes.HasPrefix(head, []byte{0xff, 0xd8}):
		return "jpeg", jpeg.DecodeConfig, jpeg.Decode
	}
	return "", nil, nil
}

// notImage describes the image file path, of size bytes starting with
// head, which is not PNG or JPEG data.
func notImage(path string, size int64, head []byte) error {
	what := "unknown format"
	switch {
	case size == 0 || len(head) == 0:
		return fmt.Errorf("data: image %s is an empty file; remove it or replace it with a valid PNG or JPEG file", path)
	case bytes.HasPrefix(head, []byte("GIF8")):
		what = "a GIF file"
	case bytes.HasPrefix(head, []byte("BM")):
		what = "a BMP file"
	case bytes.HasPrefix(head, []byte("RIFF")) && bytes.HasPrefix(head[min(8, len(head)):], []byte("WEBP")):
		what = "a WebP file"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		what = "gzip data"
	}
	return fmt.Errorf("data: cannot decode image %s: it is not a PNG or JPEG file (%s); convert it or remove it", path, what)
}

// decodeError describes a failure to decode the image file path of format.
func decodeError(path, format string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("data: cannot decode image %s: the %s file is truncated; replace it with a complete file", path, strings.ToUpper(format))
	}
	return fmt.Errorf("data: cannot decode image %s: %v; replace it with a valid PNG or JPEG file", path, err)
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}
