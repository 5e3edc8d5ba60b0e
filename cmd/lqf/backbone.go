package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/onnx"
	"github.com/lqf-go/lqf/pretrained"
)

// backboneFlags are the flags that choose the pretrained network and adapt
// it: --backbone, --cut (where an ONNX network is cut for the new
// classifier) and --leaky (ReLU swapped for Leaky-ReLU before linearizing,
// paper Sec. 3.3).
type backboneFlags struct {
	name  *string
	cut   *string
	leaky *float64
}

// Help texts of the backbone flags, shared by every command.
const (
	backboneHelp = "embedded backbone (relu or leaky), a checkpoint file from lqf pretrain or an ONNX file"
	cutHelp      = "ONNX backbone: the tensor (a node output) whose value feeds the new classifier (default: the input of the last Gemm/MatMul; see lqf inspect)"
	leakyHelp    = "checkpoint or ONNX backbone: swap every ReLU for Leaky-ReLU of this slope before linearizing (paper Sec. 3.3; the embedded leaky backbone already has one); 0: as given"
)

// addBackboneFlags registers --backbone (default def), --cut and --leaky.
func addBackboneFlags(fs *flag.FlagSet, def, help string) *backboneFlags {
	if help == "" {
		help = backboneHelp
	}
	return &backboneFlags{
		name:  fs.String("backbone", def, help),
		cut:   fs.String("cut", "", cutHelp),
		leaky: fs.Float64("leaky", 0, leakyHelp),
	}
}

// check validates the flags' values against each other (usage errors),
// before any work.
func (b *backboneFlags) check() error {
	if *b.cut != "" && !isONNX(*b.name) {
		return usagef("--cut %q: applies to an ONNX --backbone only", *b.cut)
	}
	if !(*b.leaky >= 0 && *b.leaky < 1) || (*b.leaky > 0 && !isFile(*b.name)) {
		return usagef("--leaky %g: give a slope in (0, 1) with a checkpoint or ONNX --backbone (the embedded leaky backbone already has one)", *b.leaky)
	}
	return nil
}

// load reads the backbone named name (the flag's value when name is "")
// with --cut, and, when swap is set and --leaky > 0, swaps its ReLUs. orig
// is the network before the swap (nil without one).
func (b *backboneFlags) load(be backends.Backend, name string, swap bool) (n, orig *model.Network, err error) {
	if name == "" {
		name = *b.name
	}
	if n, err = loadBackboneWith(be, name, onnx.Options{Cut: *b.cut}); err != nil {
		return nil, nil, err
	}
	if !swap || *b.leaky == 0 {
		return n, nil, nil
	}
	s, err := n.WithLeakySlope(model.LeakyReLU, *b.leaky)
	if err != nil {
		return nil, nil, fmt.Errorf("--leaky %g: %w", *b.leaky, err)
	}
	return s, n, nil
}

// reportSwap measures and prints (to progress, when not nil) the effect of
// --leaky on the features of the training images: relative RMS change from
// orig to n. It returns 0 without a swap (orig nil).
func reportSwap(be backends.Backend, label string, orig, n *model.Network, train *data.Set, progress io.Writer) (float64, error) {
	if orig == nil {
		return 0, nil
	}
	change, err := relativeFeatureChange(be, orig, n, train)
	if err != nil {
		return 0, err
	}
	if progress != nil {
		fmt.Fprintf(progress, "%s: swapping ReLU for Leaky-ReLU changes the features of the training images by %.3g (relative RMS)\n", label, change)
	}
	return change, nil
}

// isONNX reports whether a --backbone value names an ONNX file.
func isONNX(s string) bool { return strings.EqualFold(filepath.Ext(s), ".onnx") }

// isFile reports whether a --backbone value names a file rather than an
// embedded backbone.
func isFile(s string) bool {
	switch s {
	case "", "relu", "leaky", "leaky-relu":
		return false
	}
	return true
}

// relativeFeatureChange is ||F1 - F0|| / ||F0|| over the features of set
// under networks a (F0) and b (F1).
func relativeFeatureChange(be backends.Backend, a, b *model.Network, set *data.Set) (float64, error) {
	f0, err := a.Features(be, set)
	if err != nil {
		return 0, err
	}
	f1, err := b.Features(be, set)
	if err != nil {
		return 0, err
	}
	var num, den float64
	for i := range f0 {
		d := float64(f1[i]) - float64(f0[i])
		num += d * d
		den += float64(f0[i]) * float64(f0[i])
	}
	if den == 0 {
		return math.Inf(1), nil
	}
	return math.Sqrt(num / den), nil
}

// loadBackboneWith resolves a --backbone value: "relu" or "leaky"
// (embedded), a checkpoint or an ONNX file, imported with opts.
func loadBackboneWith(be backends.Backend, s string, opts onnx.Options) (*model.Network, error) {
	switch s {
	case "relu":
		return pretrained.Load(be, model.ReLU)
	case "leaky", "leaky-relu":
		return pretrained.Load(be, model.LeakyReLU)
	}
	if _, err := os.Stat(s); err != nil {
		return nil, usagef("--backbone %q: not relu, leaky, a readable checkpoint or ONNX file (%v)", s, err)
	}
	if isONNX(s) {
		n, _, err := model.LoadONNX(be, s, opts)
		if err != nil {
			return nil, usagef("--backbone %v", err)
		}
		return n, nil
	}
	n, err := model.LoadCheckpoint(be, s, nil)
	if err != nil {
		return nil, usagef("--backbone %v", err)
	}
	return n, nil
}

// inputGeometry is the image geometry network n takes: what --images
// folders are resized and cropped to.
func inputGeometry(n *model.Network) data.Geometry {
	in := n.Input()
	return data.Geometry{Height: in.Height, Width: in.Width, Channels: in.Channels}
}

// embeddedBackbone is the flags' value for a command that always uses the
// embedded backbone name.
func embeddedBackbone(name string) *backboneFlags {
	cut, leaky := "", 0.0
	return &backboneFlags{name: &name, cut: &cut, leaky: &leaky}
}

// record adds the backbone flags to a JSON document m: "backbone", and
// "cut", "leaky" and "leaky_feature_change" (the measured effect of the
// swap, relative RMS) when they are set.
func (b *backboneFlags) record(m map[string]any, leakyChange float64) {
	m["backbone"] = *b.name
	if *b.cut != "" {
		m["cut"] = *b.cut
	}
	if *b.leaky > 0 {
		m["leaky"] = *b.leaky
		m["leaky_feature_change"] = leakyChange
	}
}
