package model

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/layers"
)

// Network is a layer graph with its parameters. The parameters live in a
// GoMLX context: trainable ones under layers.ScopeBackbone and
// layers.ScopeHead, batch-norm running statistics beside them (not
// trainable), and optimizer state under ScopeOptimizer (never saved).
type Network struct {
	Arch *layers.Net
	Ctx  *context.Context
}

// Scope names (see package layers).
const (
	ScopeBackbone = layers.ScopeBackbone
	ScopeHead     = layers.ScopeHead
	ScopeTangent  = layers.ScopeTangent
)

// Mode selects how batch normalization behaves (layers.Eval or
// layers.TrainBatchStats).
type Mode = layers.Mode

// The batch-norm modes.
const (
	Eval            = layers.Eval
	TrainBatchStats = layers.TrainBatchStats
)

// NumClasses is the number of outputs.
func (n *Network) NumClasses() int { return n.Arch.NumClasses() }

// FeatureDim is the width of the classifier's input.
func (n *Network) FeatureDim() int { return n.Arch.FeatureDim() }

// Input is the images the network takes.
func (n *Network) Input() layers.Input { return n.Arch.Input }

// CheckSet returns nil if the images of set have the network's input
// geometry (Input().Height x Width x Channels), and otherwise one error
// naming both geometries. Every entry point of lqf that feeds a set to a
// network calls it before any work starts.
func (n *Network) CheckSet(set *data.Set) error {
	in := n.Arch.Input
	return set.CheckGeometry(in.Height, in.Width, in.Channels)
}

// ImageBatch returns images [start, start+count) of set as one tensor
// [count, H, W, C] of the set's geometry (which CheckSet matched to the
// network's input). It copies the images.
func ImageBatch(set *data.Set, start, count int) *tensors.Tensor {
	h, w, c := set.Geometry()
	m := h * w * c
	return tensors.FromFlatDataAndDimensions(set.Images[start*m:(start+count)*m], count, h, w, c)
}

// ScopeOptimizer holds optimizer state (momentum); checkpoints skip it.
const ScopeOptimizer = "optimizer"

// NewNetwork returns lqf's ResNet-style backbone cfg with freshly
// initialized parameters; seed makes the initialization repeatable.
func NewNetwork(be backends.Backend, cfg Config, seed uint64) (*Network, error) {
	arch, err := cfg.Net()
	if err != nil {
		return nil, err
	}
	return New(be, arch, seed)
}

// New returns the network arch with freshly initialized parameters; seed
// makes the initialization repeatable.
func New(be backends.Backend, arch *layers.Net, seed uint64) (*Network, error) {
	if err := arch.Validate(); err != nil {
		return nil, err
	}
	ctx := context.New().Checked(false)
	ctx.SetParam(context.ParamInitialSeed, int64(seed|1))
	n := &Network{Arch: arch, Ctx: ctx}
	if err := n.materialize(be); err != nil {
		return nil, err
	}
	return n, nil
}

// materialize creates (or checks) every variable by building the graph
// once; initializers run here.
func (n *Network) materialize(be backends.Backend) error {
	arch := n.Arch
	return TryCatch(func() {
		e := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x *Node) *Node {
			return arch.Logits(ctx, x, Eval)
		})
		defer e.Finalize()
		in := arch.Input
		x := tensors.FromShape(shapes.Make(dtypes.Float32, 1, in.Height, in.Width, in.Channels))
		e.MustExec(x)
	})
}

// TryCatch runs fn and returns a GoMLX panic (graph building and execution
// report errors that way) as an error.
func TryCatch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

// Variables returns the network's parameters and statistics (not optimizer
// state), in a stable order.
func (n *Network) Variables() []*context.Variable {
	var vars []*context.Variable
	for v := range n.Ctx.IterVariables() {
		if isModelScope(v.Scope()) {
			vars = append(vars, v)
		}
	}
	sortVariables(vars)
	return vars
}

func isModelScope(scope string) bool { return inScopes(scope, []string{ScopeBackbone, ScopeHead}) }

// NumParameters counts trainable scalars under the given scopes (all model
// scopes when none is given).
func (n *Network) NumParameters(scopes ...string) int {
	total := 0
	for _, v := range n.Variables() {
		if v.Trainable && (len(scopes) == 0 || inScopes(v.Scope(), scopes)) {
			total += v.Shape().Size()
		}
	}
	return total
}

func inScopes(scope string, scopes []string) bool {
	for _, s := range scopes {
		p := context.ScopeSeparator + s
		if scope == p || strings.HasPrefix(scope, p+context.ScopeSeparator) {
			return true
		}
	}
	return false
}

// Clone returns an independent copy of the parameters (optimizer state is
// not copied).
func (n *Network) Clone() (*Network, error) {
	ctx := context.New().Checked(false)
	for _, v := range n.Variables() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		t, err = t.LocalClone()
		if err != nil {
			return nil, err
		}
		nv := ctx.InAbsPath(v.Scope()).VariableWithValue(v.Name(), t)
		nv.SetTrainable(v.Trainable)
	}
	return &Network{Arch: n.Arch.Clone(), Ctx: ctx}, nil
}

// WithActivation returns a copy (same weights) whose ReLU and Leaky-ReLU
// layers all compute act, Leaky-ReLU with layers.DefaultLeakySlope: how the
// ReLU-pretrained backbone becomes the Leaky-ReLU one (paper Sec. 3.3).
func (n *Network) WithActivation(act Activation) (*Network, error) {
	return n.WithLeakySlope(act, layers.DefaultLeakySlope)
}

// WithLeakySlope is WithActivation with the Leaky-ReLU slope given.
func (n *Network) WithLeakySlope(act Activation, slope float64) (*Network, error) {
	c, err := n.Clone()
	if err != nil {
		return nil, err
	}
	c.Arch, err = n.Arch.WithActivation(act, slope)
	return c, err
}

// WithPooling returns a copy that pools with p (same weights): the pooling
// layer before the classifier becomes global average or bilinear pooling.
// The head's input size changes with the pooling, so replace the head
// afterwards.
func (n *Network) WithPooling(p Pooling) (*Network, error) {
	var op layers.Op
	switch p {
	case AvgPooling, "":
		op = &layers.GlobalAvgPool{}
	case BilinearPooling:
		op = &layers.BilinearPool{}
	default:
		return nil, fmt.Errorf("unknown pooling %q (want %q or %q)", p, AvgPooling, BilinearPooling)
	}
	c, err := n.Clone()
	if err != nil {
		return nil, err
	}
	c.Arch, err = n.Arch.WithFeaturePooling(op)
	return c, err
}

// ReplaceHead returns a copy whose classifier is new, randomly initialized,
// with numClasses outputs: how a pretrained backbone is prepared for a target
// task. The head is random (not zero) because with a zero head the tangent of
// every backbone weight vanishes in the linearized network.
func (n *Network) ReplaceHead(be backends.Backend, numClasses int, seed uint64) (*Network, error) {
	c, err := n.Clone()
	if err != nil {
		return nil, err
	}
	if err := c.Ctx.InAbsPath(context.ScopeSeparator + ScopeHead).DeleteVariablesInScope(); err != nil {
		return nil, err
	}
	if c.Arch, err = n.Arch.WithClasses(numClasses); err != nil {
		return nil, err
	}
	c.Ctx.SetParam(context.ParamInitialSeed, int64(seed|1))
	return c, c.materialize(be)
}
