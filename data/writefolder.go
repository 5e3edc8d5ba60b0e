package data

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// WriteImageFolder writes s (Images [N, H, W, C] with C 1 or 3) to dir as
// one sub-directory per class, named after ClassNames, of 8-bit PNG files:
// grayscale for C = 1, RGB for C = 3. Sample i is written to its class's
// folder as file i (zero-padded to the same width, for example
// "0042.png"); values are clamped to [0, 1] and rounded to v*255. dir is
// created if needed and must be empty.
//
// It is the inverse of LoadImageFolderAs at the same geometry, up to the
// 8-bit rounding (at most 0.5/255): loading dir gives the images of each
// class in order, with the class names; the labels are the same when the
// folder names sort in label order (LoadImageFolder numbers classes in
// sorted name order), and the set comes back sorted by class. In folder names, path separators, characters not allowed in
// Windows file names and control characters become '_', a leading '.'
// becomes '_', and an empty name becomes "class<label>"; names must stay
// distinct. Every class must have at least one sample, since LoadImageFolder
// rejects empty class folders.
func WriteImageFolder(dir string, s *Set) error {
	if err := s.checkLayout(); err != nil {
		return err
	}
	h, w, c := s.Geometry()
	if c != 1 && c != 3 {
		return fmt.Errorf("data: WriteImageFolder: the images have %d channels; PNG files hold 1 (grayscale) or 3 (RGB)", c)
	}
	if len(s.ClassNames) != s.NumClasses {
		return fmt.Errorf("data: WriteImageFolder: the set has %d classes but %d class names; pass one name per class", s.NumClasses, len(s.ClassNames))
	}
	for i, l := range s.Labels {
		if l < 0 || int(l) >= s.NumClasses {
			return fmt.Errorf("data: WriteImageFolder: label %d of sample %d is not in [0, %d)", l, i, s.NumClasses)
		}
	}
	dirs := make([]string, s.NumClasses)
	taken := map[string]string{}
	for k, name := range s.ClassNames {
		d := folderName(name, k)
		if prev, ok := taken[d]; ok {
			return fmt.Errorf("data: WriteImageFolder: classes %q and %q both map to folder %q; give the classes distinct names", prev, name, d)
		}
		taken[d] = name
		dirs[k] = filepath.Join(dir, d)
	}
	for k, n := range s.ClassCounts() {
		if n == 0 {
			return fmt.Errorf("data: WriteImageFolder: class %q has no samples; LoadImageFolder rejects empty class folders, so drop the class or add samples", s.ClassNames[k])
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("data: WriteImageFolder: %s is not empty; write into a new or empty directory", dir)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("data: WriteImageFolder: %w", err)
		}
	}

	width := len(strconv.Itoa(max(0, s.Len()-1)))
	rect := image.Rect(0, 0, w, h)
	var img image.Image
	var pix []uint8
	if c == 1 {
		g := image.NewGray(rect)
		img, pix = g, g.Pix
	} else {
		g := image.NewNRGBA(rect)
		for p := 3; p < len(g.Pix); p += 4 {
			g.Pix[p] = 255
		}
		img, pix = g, g.Pix
	}
	var buf bytes.Buffer
	for i := range s.Len() {
		src := s.Image(i)
		if c == 1 {
			for p, v := range src {
				pix[p] = to8(v)
			}
		} else {
			for p := range h * w {
				pix[4*p], pix[4*p+1], pix[4*p+2] = to8(src[3*p]), to8(src[3*p+1]), to8(src[3*p+2])
			}
		}
		buf.Reset()
		if err := png.Encode(&buf, img); err != nil {
			return fmt.Errorf("data: WriteImageFolder: encoding sample %d: %w", i, err)
		}
		path := filepath.Join(dirs[s.Labels[i]], fmt.Sprintf("%0*d.png", width, i))
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("data: WriteImageFolder: %w", err)
		}
	}
	return nil
}

// to8 clamps v to [0, 1] and rounds v*255 (NaN gives 0).
func to8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

// folderName turns a class name into a portable folder name (see
// WriteImageFolder).
func folderName(name string, label int) string {
	if name == "" {
		return "class" + strconv.Itoa(label)
	}
	out := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|`, r) {
			return '_'
		}
		return r
	}, name)
	if strings.HasPrefix(out, ".") {
		out = "_" + out[1:]
	}
	return out
}
