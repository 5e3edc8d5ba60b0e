package data

import (
	"fmt"
	"strconv"
	"strings"
)

// Geometry is the shape [Height, Width, Channels] of one NHWC image.
// Channels is 1 (grayscale) or 3 (RGB, in R, G, B order). The zero value
// stands for the built-in geometry, 28x28x1 (the constants Height, Width and
// Channels); any other value must have positive sizes and 1 or 3 channels.
type Geometry struct {
	Height, Width, Channels int
}

// builtinGeometry is the geometry of the built-in MNIST and Fashion-MNIST
// tasks, 28x28x1; the zero Geometry means the same.
var builtinGeometry = Geometry{Height: Height, Width: Width, Channels: Channels}

// orDefault returns g, or builtinGeometry for the zero value.
func (g Geometry) orDefault() Geometry {
	if g == (Geometry{}) {
		return builtinGeometry
	}
	return g
}

// ImageLen returns the number of values of one image, Height*Width*Channels
// (784 for the zero value).
func (g Geometry) ImageLen() int {
	g = g.orDefault()
	return g.Height * g.Width * g.Channels
}

// String formats g as "HxWxC", for example "48x48x3" (the zero value
// formats as "28x28x1").
func (g Geometry) String() string {
	g = g.orDefault()
	return fmt.Sprintf("%dx%dx%d", g.Height, g.Width, g.Channels)
}

// validate reports whether g (after the zero-value default) has positive
// sizes and 1 or 3 channels.
func (g Geometry) validate() error {
	g = g.orDefault()
	if g.Height <= 0 || g.Width <= 0 {
		return fmt.Errorf("data: image geometry %dx%dx%d (HxWxC): height and width must be positive",
			g.Height, g.Width, g.Channels)
	}
	if g.Channels != 1 && g.Channels != 3 {
		return fmt.Errorf("data: image geometry %dx%dx%d (HxWxC): %d channels are not supported; use 1 (grayscale) or 3 (RGB)",
			g.Height, g.Width, g.Channels, g.Channels)
	}
	return nil
}

// ParseGeometry parses "HxWxC" (for example "48x48x3") or "HxW" (one
// channel) into a Geometry with positive sizes and 1 or 3 channels.
func ParseGeometry(s string) (Geometry, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "x")
	if len(parts) == 2 {
		parts = append(parts, "1")
	}
	bad := fmt.Errorf("data: image geometry %q: want HxWxC (for example 48x48x3) or HxW", s)
	if len(parts) != 3 {
		return Geometry{}, bad
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return Geometry{}, bad
		}
		v[i] = n
	}
	g := Geometry{Height: v[0], Width: v[1], Channels: v[2]}
	if g == (Geometry{}) {
		return Geometry{}, fmt.Errorf("data: image geometry %q: height and width must be positive", s)
	}
	if err := g.validate(); err != nil {
		return Geometry{}, err
	}
	return g, nil
}
