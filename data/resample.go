package data

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Luma weights (ITU-R BT.601, as image/color's GrayModel) used to turn RGB
// into grayscale.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// tap is one source sample of an output sample along one axis.
type tap struct {
	i int     // source index along the axis
	w float32 // normalized weight
}

// axisTaps returns, for each of the m output samples along one axis of
// length n, the source samples and weights of the bilinear (tent) filter:
// output o sits at source coordinate
//
//	c = (o + 0.5 - m/2)*sigma + n/2 - 0.5
//
// (sigma source pixels per output pixel, centred on the source's centre),
// and source j gets weight 1 - |j-c|/r with r = max(1, sigma); weights of
// samples outside [0, n) are dropped and the rest normalized to sum 1. For
// sigma <= 1 this is plain bilinear interpolation with edge samples
// repeated; for sigma > 1 the tent widens to cover every source sample (as
// golang.org/x/image/draw.BiLinear does), which averages instead of
// aliasing.
func axisTaps(n, m int, sigma float64) [][]tap {
	r := max(1, sigma)
	out := make([][]tap, m)
	for o := range out {
		c := (float64(o)+0.5-float64(m)/2)*sigma + float64(n)/2 - 0.5
		lo := max(0, int(math.Ceil(c-r)))
		hi := min(n-1, int(math.Floor(c+r)))
		var taps []tap
		var ws []float64
		total := 0.0
		for j := lo; j <= hi; j++ {
			if w := 1 - math.Abs(float64(j)-c)/r; w > 0 {
				taps = append(taps, tap{i: j})
				ws = append(ws, w)
				total += w
			}
		}
		if total == 0 { // cannot happen for a centred crop; be safe
			out[o] = []tap{{i: min(n-1, max(0, int(math.Round(c)))), w: 1}}
			continue
		}
		for k := range taps {
			taps[k].w = float32(ws[k] / total)
		}
		out[o] = taps
	}
	return out
}

// resizer scales an h x w image by the factor s = max(H/h, W/w), so that
// it covers H x W (for a square target: its shorter side becomes the
// target's), and crops the centre H x W, with the filter of axisTaps, for
// any number of channels.
type resizer struct {
	h, w, H, W int
	xs, ys     [][]tap
	rows       []int // source rows read by ys, increasing
}

func newResizer(h, w, H, W int) *resizer {
	// sigma = 1/s, computed from the integers that give s.
	var sigma float64
	if H*w >= W*h { // H/h >= W/w
		sigma = float64(h) / float64(H)
	} else {
		sigma = float64(w) / float64(W)
	}
	r := &resizer{h: h, w: w, H: H, W: W, xs: axisTaps(w, W, sigma), ys: axisTaps(h, H, sigma)}
	seen := make([]bool, h)
	for _, taps := range r.ys {
		for _, t := range taps {
			seen[t.i] = true
		}
	}
	for y, ok := range seen {
		if ok {
			r.rows = append(r.rows, y)
		}
	}
	return r
}

// identity reports whether the resizer copies its input.
func (r *resizer) identity() bool { return r.h == r.H && r.w == r.W }

// apply writes into dst ([H, W, c]) the resized centre crop of the source
// image whose row y ([w, c], w*c values) row(y) returns. tmp must hold at
// least h*W*c values; it is overwritten.
func (r *resizer) apply(dst []float32, c int, row func(y int) []float32, tmp []float32) {
	W := r.W
	if r.identity() {
		for y := range r.h {
			copy(dst[y*W*c:(y+1)*W*c], row(y))
		}
		return
	}
	// Horizontal pass over the rows the vertical pass reads.
	for _, y := range r.rows {
		src := row(y)
		out := tmp[y*W*c : (y+1)*W*c]
		for x, taps := range r.xs {
			for k := range c {
				var a float32
				for _, t := range taps {
					a += t.w * src[t.i*c+k]
				}
				out[x*c+k] = a
			}
		}
	}
	// Vertical pass.
	for y, taps := range r.ys {
		out := dst[y*W*c : (y+1)*W*c]
		for j := range out {
			var a float32
			for _, t := range taps {
				a += t.w * tmp[t.i*W*c+j]
			}
			out[j] = a
		}
	}
}

// Resample returns a copy of s with every image converted to geometry g
// (the zero Geometry is 28x28x1): resized with bilinear filtering so that it
// covers g.Height x g.Width and centre-cropped (see LoadImageFolderAs; an
// image of the same height and width is copied), grayscale turned into RGB
// by repeating the gray value in R, G and B, RGB into grayscale by luma
// (0.299 R + 0.587 G + 0.114 B). The result has Images [N, g.Height,
// g.Width, g.Channels] and the labels, class names and origins of s. s must
// have 1 or 3 channels and Images consistent with its geometry.
func Resample(s *Set, g Geometry) (*Set, error) {
	if err := g.validate(); err != nil {
		return nil, err
	}
	g = g.orDefault()
	if err := s.checkLayout(); err != nil {
		return nil, err
	}
	h, w, c := s.Geometry()
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("data: Resample: the images have %d channels; it converts only 1 (grayscale) or 3 (RGB)", c)
	}
	out := &Set{
		Images:     make([]float32, s.Len()*g.ImageLen()),
		Height:     g.Height,
		Width:      g.Width,
		Channels:   g.Channels,
		Labels:     slices.Clone(s.Labels),
		NumClasses: s.NumClasses,
		ClassNames: slices.Clone(s.ClassNames),
		Origin:     slices.Clone(s.Origin),
	}
	r := newResizer(h, w, g.Height, g.Width)
	rc := min(c, g.Channels) // channels that are resized
	convert := func(i int, gray, small, tmp []float32) {
		src := s.Image(i)
		if c == 3 && rc == 1 {
			for p := range gray {
				gray[p] = lumaR*src[3*p] + lumaG*src[3*p+1] + lumaB*src[3*p+2]
			}
			src = gray
		}
		dst := out.Image(i)
		if rc == g.Channels {
			small = dst
		}
		r.apply(small, rc, func(y int) []float32 { return src[y*w*rc : (y+1)*w*rc] }, tmp)
		if rc == 1 && g.Channels == 3 {
			for p, v := range small {
				dst[3*p], dst[3*p+1], dst[3*p+2] = v, v, v
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), s.Len())
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			gray := make([]float32, h*w)
			small := make([]float32, g.Height*g.Width*rc)
			tmp := make([]float32, h*g.Width*rc)
			for i := k; i < s.Len(); i += workers {
				convert(i, gray, small, tmp)
			}
		})
	}
	wg.Wait()
	return out, nil
}
