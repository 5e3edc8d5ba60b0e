package data

import (
	"fmt"
	"image"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
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

// LoadImageFolderAs loads a folder with one sub-directory per class as a set
// of geometry g (the zero Geometry is 28x28x1): Images [N, g.Height,
// g.Width, g.Channels]. Class names are the sorted sub-directory names
// (hidden ones, starting with '.', are skipped); each class folder must hold
// at least one PNG or JPEG file (.png, .jpg, .jpeg, any case; other files
// are ignored). Origin[i] is the index of sample i in the folder's
// enumeration order (classes sorted, files sorted within a class).
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
// channels; errors name the offending file.
func LoadImageFolderAs(dir string, g Geometry) (*Set, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	g = g.orDefault()
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("data: image folder %s does not exist; pass a directory with one sub-directory of images per class", dir)
		}
		return nil, fmt.Errorf("data: reading image folder: %w", err)
	}
	s := &Set{Height: g.Height, Width: g.Width, Channels: g.Channels}
	var rd imageReader
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		label := int32(len(s.ClassNames))
		classDir := filepath.Join(dir, e.Name())
		files, err := os.ReadDir(classDir)
		if err != nil {
			return nil, fmt.Errorf("data: reading class folder: %w", err)
		}
		n := 0
		for _, f := range files {
			if f.IsDir() || !isImageFile(f.Name()) {
				continue
			}
			path := filepath.Join(classDir, f.Name())
			img, err := rd.read(path, g)
			if err != nil {
				return nil, err
			}
			s.Images = append(s.Images, img...)
			s.Labels = append(s.Labels, label)
			s.Origin = append(s.Origin, int32(len(s.Origin)))
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("data: class folder %s is empty: it has no .png, .jpg or .jpeg images; add images or remove the folder", classDir)
		}
		s.ClassNames = append(s.ClassNames, e.Name())
	}
	if len(s.ClassNames) == 0 {
		return nil, fmt.Errorf("data: image folder %s has no class sub-directories; put each class's images in its own sub-directory", dir)
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

// imageReader decodes image files into geometry g, reusing its buffers.
type imageReader struct {
	row, tmp []float32
}

// read decodes the image at path and returns it as g.ImageLen() values in
// [0, 1], [g.Height, g.Width, g.Channels] (see LoadImageFolderAs).
func (rd *imageReader) read(path string, g Geometry) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("data: cannot decode image %s: %v; use a valid PNG or JPEG file", path, err)
	}
	b := src.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("data: image %s is empty (%dx%d)", path, b.Dx(), b.Dy())
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
func grow(buf []float32, n int) []float32 {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]float32, n)
}
