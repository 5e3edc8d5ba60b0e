package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/image/draw"
)

// LoadImageFolder loads a folder with one sub-directory per class. Class
// names are the sorted sub-directory names (hidden ones, starting with '.',
// are skipped); each class folder must hold at least one PNG or JPEG file
// (.png, .jpg, .jpeg, any case; other files are ignored). Images are
// converted to grayscale (luma), resized to 28x28 with Catmull-Rom
// resampling and scaled to [0, 1]. Origin[i] is the index of sample i in the
// folder's enumeration order (classes sorted, files sorted within a class).
func LoadImageFolder(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("data: image folder %s does not exist; pass a directory with one sub-directory of images per class", dir)
		}
		return nil, fmt.Errorf("data: reading image folder: %w", err)
	}
	s := &Set{}
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
			img, err := readImage28(path)
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

// readImage28 decodes the image at path and returns it as ImageSize
// grayscale values in [0, 1].
func readImage28(path string) ([]float32, error) {
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
	// Convert to grayscale at full resolution, then resample.
	gray := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			gray.SetGray(x-b.Min.X, y-b.Min.Y, color.GrayModel.Convert(src.At(x, y)).(color.Gray))
		}
	}
	small := gray
	if b.Dx() != Width || b.Dy() != Height {
		small = image.NewGray(image.Rect(0, 0, Width, Height))
		draw.CatmullRom.Scale(small, small.Bounds(), gray, gray.Bounds(), draw.Src, nil)
	}
	out := make([]float32, ImageSize)
	for i, p := range small.Pix[:ImageSize] {
		out[i] = float32(p) / 255
	}
	return out, nil
}
