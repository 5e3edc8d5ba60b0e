package data

// shiftFlip is shiftFlipHWC for 28x28x1 images (the built-in geometry).
func shiftFlip(dst, src []float32, dx, dy int, flip bool) {
	shiftFlipHWC(dst, src, Height, Width, Channels, dx, dy, flip)
}
