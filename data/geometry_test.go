package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// pixelValue is the value of channel k of pixel (y, x) of image i in
// hwcSet: distinct for every (i, y, x, k) up to 10 images of at most 10x10
// pixels and 10 channels, and nonzero.
func pixelValue(i, y, x, k int) float32 {
	return float32(1 + i*1000 + y*100 + x*10 + k)
}

// hwcSet returns n images of geometry h x w x c with pixelValue values,
// labels i%2 and origins 100+i.
func hwcSet(n, h, w, c int) *Set {
	s := &Set{Height: h, Width: w, Channels: c, NumClasses: 2, ClassNames: []string{"a", "b"}}
	for i := range n {
		for y := range h {
			for x := range w {
				for k := range c {
					s.Images = append(s.Images, pixelValue(i, y, x, k))
				}
			}
		}
		s.Labels = append(s.Labels, int32(i%2))
		s.Origin = append(s.Origin, int32(100+i))
	}
	return s
}

func TestSetGeometry(t *testing.T) {
	for _, tc := range []struct {
		name          string
		set           *Set
		h, w, c, size int
	}{
		{"zero value", &Set{}, 28, 28, 1, 784},
		{"built-in", &Set{Height: 28, Width: 28, Channels: 1}, 28, 28, 1, 784},
		{"5x7x3", hwcSet(1, 5, 7, 3), 5, 7, 3, 105},
		{"48x48x3", &Set{Height: 48, Width: 48, Channels: 3}, 48, 48, 3, 6912},
		{"partial", &Set{Height: 5}, 5, 0, 0, 0},
	} {
		h, w, c := tc.set.Geometry()
		if h != tc.h || w != tc.w || c != tc.c || tc.set.ImageLen() != tc.size {
			t.Errorf("%s: Geometry() = %d, %d, %d and ImageLen() = %d; want %d, %d, %d and %d",
				tc.name, h, w, c, tc.set.ImageLen(), tc.h, tc.w, tc.c, tc.size)
		}
	}
	if g := (Geometry{}); g.String() != "28x28x1" || g.ImageLen() != 784 {
		t.Errorf("zero Geometry: %s, %d values; want 28x28x1, 784", g, g.ImageLen())
	}
	if g := (Geometry{Height: 48, Width: 32, Channels: 3}); g.String() != "48x32x3" || g.ImageLen() != 4608 {
		t.Errorf("Geometry{48, 32, 3}: %s, %d values; want 48x32x3, 4608", g, g.ImageLen())
	}
}

// checkPixels reports the first pixel of img ([h, w, c]) that differs from
// pixelValue(i, ...).
func checkPixels(t *testing.T, what string, img []float32, i, h, w, c int) {
	t.Helper()
	if len(img) != h*w*c {
		t.Fatalf("%s: %d values, want %d", what, len(img), h*w*c)
	}
	for y := range h {
		for x := range w {
			for k := range c {
				if got, want := img[(y*w+x)*c+k], pixelValue(i, y, x, k); got != want {
					t.Fatalf("%s: pixel (%d,%d) channel %d = %v, want %v", what, y, x, k, got, want)
				}
			}
		}
	}
}

func TestSetHelpersHWC(t *testing.T) {
	s := hwcSet(5, 5, 7, 3)
	for i := range s.Len() {
		checkPixels(t, "Image", s.Image(i), i, 5, 7, 3)
	}
	sub := s.Subset([]int{3, 0})
	if sub.Height != 5 || sub.Width != 7 || sub.Channels != 3 || sub.Len() != 2 || !slices.Equal(sub.Origin, []int32{103, 100}) {
		t.Fatalf("Subset: geometry %dx%dx%d, len %d, origin %v", sub.Height, sub.Width, sub.Channels, sub.Len(), sub.Origin)
	}
	checkPixels(t, "Subset image 0", sub.Image(0), 3, 5, 7, 3)
	checkPixels(t, "Subset image 1", sub.Image(1), 0, 5, 7, 3)
	var starts []int
	for start, c := range s.Chunks(2) {
		starts = append(starts, start)
		if h, w, ch := c.Geometry(); h != 5 || w != 7 || ch != 3 {
			t.Fatalf("chunk at %d has geometry %dx%dx%d", start, h, w, ch)
		}
		for j := range c.Len() {
			checkPixels(t, "chunk image", c.Image(j), start+j, 5, 7, 3)
		}
	}
	if !slices.Equal(starts, []int{0, 2, 4}) {
		t.Errorf("Chunks(2) starts %v, want [0 2 4]", starts)
	}
	// A zero-geometry set keeps the built-in geometry through Subset.
	if h, w, c := testSet(3).Subset([]int{1}).Geometry(); h != 28 || w != 28 || c != 1 {
		t.Errorf("Subset of a zero-geometry set: %dx%dx%d, want 28x28x1", h, w, c)
	}
}

func TestCheckGeometry(t *testing.T) {
	rgb := &Set{Height: 48, Width: 48, Channels: 3, Images: make([]float32, 2*48*48*3), Labels: []int32{0, 1}, NumClasses: 2}
	zero := testSet(2)
	short := hwcSet(2, 5, 7, 3)
	short.Images = short.Images[:100]
	for _, tc := range []struct {
		name    string
		set     *Set
		h, w, c int
		want    string // "" for no error
	}{
		{"rgb vs builtin", rgb, 28, 28, 1,
			"data: the images are 48x48x3 (HxWxC) but the network takes 28x28x1; resize the images or pick a network for that input"},
		{"rgb match", rgb, 48, 48, 3, ""},
		{"zero match", zero, 28, 28, 1, ""},
		{"zero vs rgb", zero, 32, 32, 3,
			"data: the images are 28x28x1 (HxWxC) but the network takes 32x32x3; resize the images or pick a network for that input"},
		{"channels only", rgb, 48, 48, 1,
			"data: the images are 48x48x3 (HxWxC) but the network takes 48x48x1; resize the images or pick a network for that input"},
		{"short Images", short, 5, 7, 3,
			"data: the set has 2 labels of 5x7x3 (HxWxC) images, 210 values, but Images holds 100 values"},
		{"partial geometry", &Set{Height: 5}, 5, 0, 0,
			"data: the set's geometry 5x0x0 (HxWxC) is invalid: set Height, Width and Channels to positive sizes (all zero means 28x28x1)"},
	} {
		err := tc.set.CheckGeometry(tc.h, tc.w, tc.c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: got error %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// expectShift is the augmented value at (y, x, k) of image i of a
// h x w hwcSet shifted by (dx, dy) and optionally flipped, computed from
// pixelValue: the source column is w-1-x (flip) or x, plus dx; the source
// row y+dy; 0 outside.
func expectShift(i, h, w, y, x, k, dx, dy int, flip bool) float32 {
	sx := x
	if flip {
		sx = w - 1 - x
	}
	sx += dx
	sy := y + dy
	if sy < 0 || sy >= h || sx < 0 || sx >= w {
		return 0
	}
	return pixelValue(i, sy, sx, k)
}

func TestBatcherHWC(t *testing.T) {
	const h, w, c = 5, 7, 3
	s := hwcSet(6, h, w, c)
	b := NewBatcher(s, 4, NoAugmentation, 1)
	if bh, bw, bc := b.Geometry(); bh != h || bw != w || bc != c {
		t.Fatalf("Batcher geometry %dx%dx%d, want 5x7x3", bh, bw, bc)
	}
	images, labels, indices := b.Next()
	if len(images) != 4*h*w*c || len(labels) != 4 {
		t.Fatalf("batch holds %d values and %d labels, want %d and 4", len(images), len(labels), 4*h*w*c)
	}
	for k, i := range indices {
		checkPixels(t, "unaugmented batch image", images[k*h*w*c:(k+1)*h*w*c], i, h, w, c)
	}

	type form struct {
		dx, dy int
		flip   bool
	}
	seen := map[form]bool{}
	b = NewBatcher(s, 6, RandomCropFlip, 5)
	for range 60 {
		images, _, indices := b.Next()
		for k, i := range indices {
			got := images[k*h*w*c : (k+1)*h*w*c]
			found := false
			for dy := -2; dy <= 2 && !found; dy++ {
				for dx := -2; dx <= 2 && !found; dx++ {
					for _, flip := range []bool{false, true} {
						match := true
						for p := 0; p < h*w*c && match; p++ {
							y, x, ch := p/(w*c), p/c%w, p%c
							match = got[p] == expectShift(i, h, w, y, x, ch, dx, dy, flip)
						}
						if match {
							seen[form{dx, dy, flip}] = true
							found = true
							break
						}
					}
				}
			}
			if !found {
				t.Fatalf("augmented image of sample %d is not a whole-pixel shift/flip of it", i)
			}
		}
	}
	if len(seen) != 50 {
		t.Errorf("saw %d of the 50 shift/flip combinations", len(seen))
	}

	// A few pixels by hand, all three channels: a shift by dx=-2, dy=-1
	// moves pixel (0,0) to (1,2); a flip moves (0,0) to (0,6) and (4,6) to
	// (4,0).
	src := s.Image(0)
	dst := make([]float32, h*w*c)
	shiftFlipHWC(dst, src, h, w, c, -2, -1, false)
	for k := range c {
		if dst[(1*w+2)*c+k] != pixelValue(0, 0, 0, k) || dst[(0*w+0)*c+k] != 0 || dst[(4*w+6)*c+k] != pixelValue(0, 3, 4, k) {
			t.Errorf("shift channel %d: (1,2)=%v (0,0)=%v (4,6)=%v", k, dst[(1*w+2)*c+k], dst[k], dst[(4*w+6)*c+k])
		}
	}
	shiftFlipHWC(dst, src, h, w, c, 0, 0, true)
	for k := range c {
		if dst[(0*w+6)*c+k] != pixelValue(0, 0, 0, k) || dst[(4*w+0)*c+k] != pixelValue(0, 4, 6, k) {
			t.Errorf("flip channel %d: (0,6)=%v (4,0)=%v", k, dst[(0*w+6)*c+k], dst[(4*w+0)*c+k])
		}
	}
}

func TestRotate90Sizes(t *testing.T) {
	for n := 1; n <= 6; n++ {
		in := make([]float32, n*n)
		for i := range in {
			in[i] = float32(i + 1)
		}
		img := slices.Clone(in)
		Rotate90(img)
		for y := range n {
			for x := range n {
				if img[y*n+x] != in[(n-1-x)*n+y] {
					t.Fatalf("%dx%d: rotated (%d,%d) = %v, want in(%d,%d) = %v", n, n, y, x, img[y*n+x], n-1-x, y, in[(n-1-x)*n+y])
				}
			}
		}
		for range 3 {
			Rotate90(img)
		}
		if !slices.Equal(img, in) {
			t.Errorf("%dx%d: four rotations are not the identity", n, n)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "square") {
			t.Errorf("Rotate90 of 8 values: recovered %v, want a panic about a square image", r)
		}
	}()
	Rotate90(make([]float32, 8))
}

func TestParseGeometry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Geometry
		err  string
	}{
		{"48x48x3", Geometry{48, 48, 3}, ""},
		{"28x28", Geometry{28, 28, 1}, ""},
		{" 32X64x1 ", Geometry{32, 64, 1}, ""},
		{"48x48x2", Geometry{}, "use 1 (grayscale) or 3 (RGB)"},
		{"0x48x3", Geometry{}, "must be positive"},
		{"0x0x0", Geometry{}, "must be positive"},
		{"48", Geometry{}, "want HxWxC"},
		{"axbx3", Geometry{}, "want HxWxC"},
	} {
		got, err := ParseGeometry(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseGeometry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseGeometry(%q): error %v, want one containing %q", tc.in, err, tc.err)
		}
	}
}

func TestResampleByHand(t *testing.T) {
	// f holds the 2x2 image [[0, 1], [2, 7]] bilinearly upsampled to 4x4:
	// output samples sit at source coordinates -0.25, 0.25, 0.75, 1.25
	// (edges repeated), so the fractions are u, v in {0, 1/4, 3/4, 1} and
	// f = 0(1-u)(1-v) + 1u(1-v) + 2(1-u)v + 7uv = u + 2v + 4uv.
	f := []float32{
		0, 0.25, 0.75, 1,
		0.5, 1, 2, 2.5,
		1.5, 2.5, 4.5, 5.5,
		2, 3.25, 5.75, 7,
	}
	rgbOf := func(v []float32, scale ...float32) []float32 {
		var out []float32
		for _, x := range v {
			for _, s := range scale {
				out = append(out, s*x)
			}
		}
		return out
	}
	ramp := func(h, w int, dx, dy float32) []float32 {
		var out []float32
		for y := range h {
			for x := range w {
				out = append(out, dx*float32(x)+dy*float32(y))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		h, w, c int
		src     []float32
		g       Geometry
		want    []float32
	}{
		{"2x2 to 4x4", 2, 2, 1, []float32{0, 1, 2, 7}, Geometry{4, 4, 1}, f},
		// Cover 2x4 from 2x2: scale 2, rows at source -0.25.. cropped to the
		// centre rows 1 and 2 of the 4x4 upsampling.
		{"2x2 to 2x4", 2, 2, 1, []float32{0, 1, 2, 7}, Geometry{2, 4, 1}, f[4:12]},
		// Shrinking 4 -> 2: sample 0 sits at 0.5 with a tent of radius 2:
		// weights 3/7, 3/7, 1/7 on columns 0, 1, 2 (column -1 dropped):
		// (0 + 21 + 14)/7 = 5; sample 1 mirrors it: (7 + 42 + 63)/7 = 16.
		{"4x4 to 2x2", 4, 4, 1, ramp(4, 4, 7, 0), Geometry{2, 2, 1}, []float32{5, 16, 5, 16}},
		// Centre crops: a 2x6 image keeps columns 2 and 3, a 6x2 image rows
		// 2 and 3; a 2x5 image samples columns 1.5 and 2.5 (mean of two).
		{"wide crop", 2, 6, 1, ramp(2, 6, 10, 0), Geometry{2, 2, 1}, []float32{20, 30, 20, 30}},
		{"tall crop", 6, 2, 1, ramp(6, 2, 0, 10), Geometry{2, 2, 1}, []float32{20, 20, 30, 30}},
		{"odd crop", 2, 5, 1, ramp(2, 5, 10, 0), Geometry{2, 2, 1}, []float32{15, 25, 15, 25}},
		// 4x8 to 2x2: scale 1/2 (the height decides); columns 2.5 and 4.5,
		// centred on 3.5, each a tent over 4 columns of a linear ramp.
		{"scale and crop", 4, 8, 1, ramp(4, 8, 10, 0), Geometry{2, 2, 1}, []float32{25, 45, 25, 45}},
		{"rgb channels apart", 2, 2, 3, rgbOf([]float32{0, 1, 2, 7}, 1, 2, 3), Geometry{4, 4, 3}, rgbOf(f, 1, 2, 3)},
		{"gray to rgb", 2, 2, 1, []float32{0, 1, 2, 7}, Geometry{4, 4, 3}, rgbOf(f, 1, 1, 1)},
		{"rgb to gray", 2, 2, 3, []float32{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, Geometry{2, 2, 1},
			[]float32{0.299, 0.587, 0.114, 1}},
	} {
		s := &Set{Height: tc.h, Width: tc.w, Channels: tc.c, Images: tc.src, Labels: []int32{0}, NumClasses: 1, ClassNames: []string{"x"}}
		out, err := Resample(s, tc.g)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if h, w, c := out.Geometry(); h != tc.g.Height || w != tc.g.Width || c != tc.g.Channels {
			t.Errorf("%s: geometry %dx%dx%d, want %s", tc.name, h, w, c, tc.g)
		}
		if !near(out.Images, tc.want, 1e-5) {
			t.Errorf("%s: got %v\nwant %v", tc.name, out.Images, tc.want)
		}
	}
}

// near reports whether a and b have the same length and differ by at most
// tol everywhere.
func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol {
			return false
		}
	}
	return true
}

func TestResampleRoundTripAndErrors(t *testing.T) {
	gray := testSet(3)
	rgb, err := Resample(gray, Geometry{28, 28, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range gray.Len() {
		for p, v := range gray.Image(i) {
			if img := rgb.Image(i); img[3*p] != v || img[3*p+1] != v || img[3*p+2] != v {
				t.Fatalf("gray to RGB: image %d pixel %d is %v, want %v in every channel", i, p, img[3*p:3*p+3], v)
			}
		}
	}
	back, err := Resample(rgb, Geometry{})
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := back.Geometry(); h != 28 || w != 28 || c != 1 || !near(back.Images, gray.Images, 1e-6) {
		t.Errorf("gray -> RGB -> gray: geometry %dx%dx%d, images differ", h, w, c)
	}
	if !slices.Equal(back.Labels, gray.Labels) || !slices.Equal(back.Origin, gray.Origin) || !slices.Equal(back.ClassNames, gray.ClassNames) {
		t.Errorf("labels %v origin %v classes %v not kept", back.Labels, back.Origin, back.ClassNames)
	}
	back.Labels[0] = 2
	if gray.Labels[0] == 2 {
		t.Error("Resample shares labels with its input")
	}

	for _, tc := range []struct {
		name string
		set  *Set
		g    Geometry
		want string
	}{
		{"bad channels", gray, Geometry{28, 28, 4}, "4 channels are not supported"},
		{"bad size", gray, Geometry{0, 28, 3}, "must be positive"},
		{"two-channel set", hwcSet(1, 2, 2, 2), Geometry{2, 2, 1}, "2 channels"},
		{"short set", &Set{Images: make([]float32, 10), Labels: []int32{0}}, Geometry{}, "Images holds 10 values"},
	} {
		if _, err := Resample(tc.set, tc.g); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestTaskSetsGeometry(t *testing.T) {
	if _, err := MNISTDir(); err != nil {
		t.Skip(err)
	}
	sp := mustLoad(t, mustTask(t, "mnist-5-9"), SplitOptions{Seed: 1, Shots: 2, ValPerClass: 1, MaxTest: 5})
	for _, s := range []*Set{sp.Train, sp.Val, sp.Test} {
		if s.Height != 28 || s.Width != 28 || s.Channels != 1 || s.CheckGeometry(28, 28, 1) != nil {
			t.Errorf("task set geometry %dx%dx%d, want 28x28x1 set explicitly", s.Height, s.Width, s.Channels)
		}
	}
}
