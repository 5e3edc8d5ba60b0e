// Package layerstest holds layer graphs unlike lqf's default backbone, for
// the tests of every package that takes a layers.Net (layers' own rules,
// K-FAC, influence): networks as data must work on any graph, not only on
// the ResNet that model.Config builds.
//
// It holds none of the paper's equations: its graphs are where the
// linearization of eq. 1, K-FAC (Sec. 3.2) and the attribution of
// eq. 7-8 are tested beyond the default backbone.
package layerstest

import "github.com/lqf-go/lqf/layers"

// Nets returns, freshly built (callers may modify them), three layer graphs
// unlike lqf's default backbone, by name:
//
//   - "maxpool": a 12x11x2 input; a convolution with a batch norm, Leaky-ReLU,
//     overlapping 3x3 max pooling with stride 2 and padding 1, a convolution
//     c2 with its own bias and no batch norm, 2x2 average pooling with
//     stride 2, global average pooling and the classifier (3 classes);
//   - "flatten": a 10x10x1 input; strided convolutions without bias, each
//     with a batch norm (c1 without padding), a flatten, a hidden dense layer
//     fc with biases and Leaky-ReLU, and the classifier (4 classes);
//   - "rgb32": a 32x32x3 input with per-channel normalization (Mean, Std), a
//     strided stem, a residual block (two convolutions with batch norms and a
//     sum with the stem's output), average pooling that does not count
//     padding, global average pooling and the classifier (5 classes).
//
// Every activation is Leaky-ReLU with slope 0.1.
func Nets() map[string]*layers.Net {
	leaky := func() layers.Op { return &layers.Activation{Fn: layers.LeakyReLU, Slope: 0.1} }
	in := layers.InputName
	return map[string]*layers.Net{
		"maxpool": {Input: layers.Input{Height: 12, Width: 11, Channels: 2}, Layers: []layers.Layer{
			{Name: "c1", Inputs: []string{in}, Op: &layers.Conv2D{Filters: 4, Kernel: 3, Stride: 1, Padding: 1}},
			{Name: "c1/bn", Inputs: []string{"c1"}, Op: &layers.BatchNorm{}},
			{Name: "a1", Inputs: []string{"c1/bn"}, Op: leaky()},
			{Name: "mp", Inputs: []string{"a1"}, Op: &layers.MaxPool2D{Window: 3, Stride: 2, Padding: 1}},
			{Name: "c2", Inputs: []string{"mp"}, Op: &layers.Conv2D{Filters: 5, Kernel: 3, Stride: 1, Padding: 1, Bias: true}},
			{Name: "a2", Inputs: []string{"c2"}, Op: leaky()},
			{Name: "ap", Inputs: []string{"a2"}, Op: &layers.AvgPool2D{Window: 2, Stride: 2, CountPad: true}},
			{Name: "gap", Inputs: []string{"ap"}, Op: &layers.GlobalAvgPool{}},
			{Name: "head", Inputs: []string{"gap"}, Op: &layers.Dense{Units: 3, Bias: true}},
		}},
		"flatten": {Input: layers.Input{Height: 10, Width: 10, Channels: 1}, Layers: []layers.Layer{
			{Name: "c1", Inputs: []string{in}, Op: &layers.Conv2D{Filters: 3, Kernel: 3, Stride: 2}},
			{Name: "c1/bn", Inputs: []string{"c1"}, Op: &layers.BatchNorm{}},
			{Name: "a1", Inputs: []string{"c1/bn"}, Op: leaky()},
			{Name: "c2", Inputs: []string{"a1"}, Op: &layers.Conv2D{Filters: 4, Kernel: 3, Stride: 2, Padding: 1}},
			{Name: "c2/bn", Inputs: []string{"c2"}, Op: &layers.BatchNorm{}},
			{Name: "a2", Inputs: []string{"c2/bn"}, Op: leaky()},
			{Name: "flat", Inputs: []string{"a2"}, Op: &layers.Flatten{}},
			{Name: "fc", Inputs: []string{"flat"}, Op: &layers.Dense{Units: 6, Bias: true}},
			{Name: "a3", Inputs: []string{"fc"}, Op: leaky()},
			{Name: "head", Inputs: []string{"a3"}, Op: &layers.Dense{Units: 4, Bias: true}},
		}},
		"rgb32": {Input: layers.Input{Height: 32, Width: 32, Channels: 3, Mean: []float64{0.5, 0.4, 0.3}, Std: []float64{0.25, 0.2, 0.3}}, Layers: []layers.Layer{
			{Name: "stem", Inputs: []string{in}, Op: &layers.Conv2D{Filters: 4, Kernel: 3, Stride: 2, Padding: 1}},
			{Name: "stem/bn", Inputs: []string{"stem"}, Op: &layers.BatchNorm{}},
			{Name: "stem/act", Inputs: []string{"stem/bn"}, Op: leaky()},
			{Name: "r1", Inputs: []string{"stem/act"}, Op: &layers.Conv2D{Filters: 4, Kernel: 3, Stride: 1, Padding: 1}},
			{Name: "r1/bn", Inputs: []string{"r1"}, Op: &layers.BatchNorm{}},
			{Name: "r1/act", Inputs: []string{"r1/bn"}, Op: leaky()},
			{Name: "r2", Inputs: []string{"r1/act"}, Op: &layers.Conv2D{Filters: 4, Kernel: 3, Stride: 1, Padding: 1}},
			{Name: "r2/bn", Inputs: []string{"r2"}, Op: &layers.BatchNorm{}},
			{Name: "sum", Inputs: []string{"r2/bn", "stem/act"}, Op: &layers.Sum{}},
			{Name: "sum/act", Inputs: []string{"sum"}, Op: leaky()},
			{Name: "ap", Inputs: []string{"sum/act"}, Op: &layers.AvgPool2D{Window: 3, Stride: 2, Padding: 1}},
			{Name: "gap", Inputs: []string{"ap"}, Op: &layers.GlobalAvgPool{}},
			{Name: "head", Inputs: []string{"gap"}, Op: &layers.Dense{Units: 5, Bias: true}},
		}},
	}
}
