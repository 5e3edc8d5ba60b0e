package model

import (
	"fmt"

	"github.com/lqf-go/lqf/layers"
)

// Activation is the backbone's non-linearity: layers.ReLU or
// layers.LeakyReLU.
type Activation = string

// The activations of Config.
const (
	ReLU      Activation = layers.ReLU
	LeakyReLU Activation = layers.LeakyReLU
)

// Pooling is how the backbone turns its last feature map into a vector.
type Pooling string

const (
	// AvgPooling is global average pooling: [B, H, W, C] -> [B, C].
	AvgPooling Pooling = "avg"
	// BilinearPooling is square-root-normalized bilinear pooling (B-LQF,
	// paper Sec. 4.2, Appendix A.2): see layers.BilinearPool.
	BilinearPooling Pooling = "bilinear"
)

// Config describes lqf's family of ResNet-style backbones: a 3x3 stem, one
// residual block per stage with stride-2 downsampling (3x3 conv, BN, act,
// 3x3 conv, BN, plus a 1x1 strided projection shortcut with BN), global
// average (or bilinear) pooling and a dense classifier. Net builds it as a
// layer graph; input images are [B, H, W, C] float32.
type Config struct {
	Height, Width, Channels int
	StemWidth               int
	StageWidths             []int
	NumClasses              int
	Activation              Activation
	LeakySlope              float64 // slope of Leaky-ReLU for negative inputs
	BNMomentum              float64 // running statistics: r <- m*r + (1-m)*batch
	BNEpsilon               float64
	// Pooling is AvgPooling (default, also when empty) or BilinearPooling.
	Pooling Pooling `json:",omitempty"`
}

// DefaultConfig is lqf's backbone for 28x28 grayscale images: about 78k
// parameters, small enough to train on two CPU cores.
func DefaultConfig(numClasses int) Config {
	return Config{
		Height: 28, Width: 28, Channels: 1,
		StemWidth:   16,
		StageWidths: []int{16, 32, 64},
		NumClasses:  numClasses,
		Activation:  ReLU,
		LeakySlope:  layers.DefaultLeakySlope,
		BNMomentum:  0.9,
		BNEpsilon:   1e-5,
	}
}

// Validate reports a configuration that cannot build a network.
func (c Config) Validate() error {
	switch {
	case c.Height < 1 || c.Width < 1 || c.Channels < 1:
		return fmt.Errorf("backbone input %dx%dx%d must be positive", c.Height, c.Width, c.Channels)
	case c.StemWidth < 1 || len(c.StageWidths) == 0:
		return fmt.Errorf("backbone needs a stem width and at least one stage, got %d and %v", c.StemWidth, c.StageWidths)
	case c.NumClasses < 1:
		return fmt.Errorf("backbone needs at least one class, got %d", c.NumClasses)
	case c.Activation != ReLU && c.Activation != LeakyReLU:
		return fmt.Errorf("unknown activation %q (want %q or %q)", c.Activation, ReLU, LeakyReLU)
	case c.Pooling != "" && c.Pooling != AvgPooling && c.Pooling != BilinearPooling:
		return fmt.Errorf("unknown pooling %q (want %q or %q)", c.Pooling, AvgPooling, BilinearPooling)
	case c.BNMomentum < 0 || c.BNMomentum >= 1:
		return fmt.Errorf("batch-norm momentum %g must be in [0, 1)", c.BNMomentum)
	}
	for _, w := range c.StageWidths {
		if w < 1 {
			return fmt.Errorf("stage widths must be positive, got %v", c.StageWidths)
		}
	}
	return nil
}

// Net builds the backbone as a layer graph. Parameters live at the scopes
// /backbone/stem, /backbone/stem/bn, /backbone/stageK/{conv1,conv2,shortcut}
// (each with /bn) and /head, as in every lqf checkpoint.
func (c Config) Net() (*layers.Net, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	net := &layers.Net{Input: layers.Input{Height: c.Height, Width: c.Width, Channels: c.Channels}}
	add := func(name string, op layers.Op, inputs ...string) string {
		net.Layers = append(net.Layers, layers.Layer{Name: name, Inputs: inputs, Op: op})
		return name
	}
	act := &layers.Activation{Fn: c.Activation}
	if c.Activation == LeakyReLU {
		act.Slope = c.LeakySlope
	}
	activate := func(name, in string) string {
		a := *act
		return add(name, &a, in)
	}
	convBN := func(name, in string, width, k, stride, pad int) string {
		add(name, &layers.Conv2D{Filters: width, Kernel: k, Stride: stride, Padding: pad}, in)
		return add(name+"/bn", &layers.BatchNorm{Epsilon: c.BNEpsilon, Momentum: c.BNMomentum}, name)
	}
	h := activate("stem/act", convBN("stem", layers.InputName, c.StemWidth, 3, 1, 1))
	for i, width := range c.StageWidths {
		s := fmt.Sprintf("stage%d", i+1)
		r := activate(s+"/act1", convBN(s+"/conv1", h, width, 3, 2, 1))
		r = convBN(s+"/conv2", r, width, 3, 1, 1)
		sc := convBN(s+"/shortcut", h, width, 1, 2, 0)
		h = activate(s+"/act", add(s+"/add", &layers.Sum{}, r, sc))
	}
	if c.Pooling == BilinearPooling {
		h = add("pool", &layers.BilinearPool{}, h)
	} else {
		h = add("pool", &layers.GlobalAvgPool{}, h)
	}
	add("head", &layers.Dense{Units: c.NumClasses, Bias: true}, h)
	return net, net.Validate()
}

// MustNet is Net for configurations known to be valid; it panics otherwise.
func (c Config) MustNet() *layers.Net {
	n, err := c.Net()
	if err != nil {
		panic(err)
	}
	return n
}
