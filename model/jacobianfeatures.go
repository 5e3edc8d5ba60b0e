package model

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
)

// Linearization selects how the linear methods (LQF, GaF) evaluate the
// linearized network f0(x) + J(x) dw while they train with SGD or Adam.
// Both give the same iterates (same batches, same updates) up to float32
// rounding; they differ in cost.
type Linearization string

const (
	// LinearizeAuto picks LinearizeJacobian when the Jacobian rows of the
	// training set fit in MaxJacobianFeatureBytes and the images are not
	// augmented, LinearizeJVP otherwise.
	LinearizeAuto Linearization = ""
	// LinearizeJVP runs the modified forward pass (Config.LinearizedLogits)
	// on every batch: memory of one batch, works with augmentation, and costs
	// about three backbone passes per image and step.
	LinearizeJVP Linearization = "jvp"
	// LinearizeJacobian computes each training image's Jacobian rows
	// J(x_i) [C, P] and outputs f0(x_i) once (C backward passes per image,
	// Network.JacobianRows), then trains the linear model on them: a step
	// costs two products with the batch's rows instead of backbone passes,
	// so every epoch and grid point after the first is nearly free. Needs
	// N*C*P*4 bytes and no augmentation.
	LinearizeJacobian Linearization = "jacobian"
)

// MaxJacobianFeatureBytes bounds the Jacobian rows LinearizeAuto keeps in
// memory (float32).
const MaxJacobianFeatureBytes = 2 << 30

// ParseLinearization accepts "auto", "jvp" and "jacobian".
func ParseLinearization(s string) (Linearization, error) {
	switch s {
	case "auto", "":
		return LinearizeAuto, nil
	case string(LinearizeJVP), string(LinearizeJacobian):
		return Linearization(s), nil
	}
	return "", fmt.Errorf("unknown linearization %q (want auto, jvp or jacobian)", s)
}

// resolve returns the linearization used for a training set of n images
// with c classes and p parameters.
func (l Linearization) resolve(n, c, p int, aug data.Augmentation) (Linearization, error) {
	bytes := int64(n) * int64(c) * int64(p) * 4
	switch l {
	case LinearizeJVP:
		return l, nil
	case LinearizeJacobian:
		if aug != data.NoAugmentation {
			return "", fmt.Errorf("the jacobian linearization needs fixed images, not augmentation %v: use jvp", aug)
		}
		if bytes > MaxJacobianBytes {
			return "", fmt.Errorf("the Jacobian rows of %d images x %d classes x %d parameters need %d MiB (limit %d MiB): use jvp", n, c, p, bytes>>20, MaxJacobianBytes>>20)
		}
		return l, nil
	}
	if aug == data.NoAugmentation && bytes <= MaxJacobianFeatureBytes {
		return LinearizeJacobian, nil
	}
	return LinearizeJVP, nil
}

// JacobianFeatures holds a training set's Jacobian rows at w0 and outputs
// f0, the features on which the linearized network is a linear model:
// f_lin(x_i) = f0(x_i) + J(x_i) dw.
type JacobianFeatures struct {
	set     *data.Set
	J       []float32 // [N*C, P], row i*C+c = grad_w f_c(x_i) (JacobianRows)
	f0      []float32 // [N, C]
	vars    []*context.Variable
	classes int
	p       int
}

// NewJacobianFeatures computes the Jacobian rows and outputs of net (frozen
// batch-norm statistics) on every image of set.
func NewJacobianFeatures(be backends.Backend, net *Network, set *data.Set, progress io.Writer) (*JacobianFeatures, error) {
	J, p, err := net.JacobianRows(be, set, progress)
	if err != nil {
		return nil, err
	}
	f0, err := net.Logits(be, set)
	if err != nil {
		return nil, err
	}
	return &JacobianFeatures{set: set, J: J, f0: f0, vars: net.TrainableVariables(), classes: net.Config.NumClasses, p: p}, nil
}

// Logits is the model function on the features: x [B, C, P+1] holds each
// sample's Jacobian rows with f0 appended, and the output [B, C] is
// x . [dw; 1] = f0 + J dw, with dw the variables under ScopeTangent (the
// ones Config.LinearizedLogits trains), flattened in the column order of J.
func (f *JacobianFeatures) Logits(ctx *context.Context, x *Node) *Node {
	g := x.Graph()
	parts := make([]*Node, 0, len(f.vars)+1)
	for _, v := range f.vars {
		parts = append(parts, Reshape(ConvertDType(tangentVariable(ctx, g, v), x.DType()), -1))
	}
	parts = append(parts, Ones(g, shapes.Make(x.DType(), 1)))
	return Einsum("bcp,p->bc", x, Concatenate(parts, 0))
}

// Batches returns the training batches of the features in the order
// ImageBatches(set, batchSize, data.NoAugmentation, seed) yields the
// images, so that training on them repeats the JVP path step by step.
func (f *JacobianFeatures) Batches(batchSize int, seed uint64) BatchSource {
	b := data.NewBatcher(f.set, batchSize, data.NoAugmentation, seed)
	width := f.p + 1
	return &jacobianSource{f: f, b: b, buf: make([]float32, b.BatchSize()*f.classes*width)}
}

type jacobianSource struct {
	f   *JacobianFeatures
	b   *data.Batcher
	buf []float32
}

func (s *jacobianSource) BatchSize() int       { return s.b.BatchSize() }
func (s *jacobianSource) BatchesPerEpoch() int { return s.b.BatchesPerEpoch() }
func (s *jacobianSource) Dims() []int          { return []int{s.f.classes, s.f.p + 1} }

func (s *jacobianSource) Next() ([]float32, []int32) {
	_, labels, idx := s.b.Next()
	c, p, width := s.f.classes, s.f.p, s.f.p+1
	for k, i := range idx {
		for j := range c {
			row := (k*c + j) * width
			copy(s.buf[row:row+p], s.f.J[(i*c+j)*p:(i*c+j+1)*p])
			s.buf[row+p] = s.f.f0[i*c+j]
		}
	}
	return s.buf, labels
}

// JacobianCache shares the Jacobian features of LinearizeJacobian between
// Finetune calls on the same pretrained network, training set and seed (the
// new head's initialization), such as the points of a learning-rate sweep
// run one call at a time. It keeps the most recent features only, to bound
// memory (N*C*P*4 bytes). Not safe for concurrent use.
type JacobianCache struct {
	key      jacobianKey
	features *JacobianFeatures
}

type jacobianKey struct {
	pretrained *Network
	set        *data.Set
	seed       uint64
}

// features returns the cached features for the key, or computes and keeps
// them.
func (c *JacobianCache) get(key jacobianKey, compute func() (*JacobianFeatures, error)) (*JacobianFeatures, error) {
	if c != nil && c.features != nil && c.key == key {
		return c.features, nil
	}
	f, err := compute()
	if err != nil {
		return nil, err
	}
	if c != nil {
		c.key, c.features = key, f
	}
	return f, nil
}
