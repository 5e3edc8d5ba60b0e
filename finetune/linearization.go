package finetune

import (
	"fmt"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
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
	// LinearizeJVP runs the modified forward pass (layers.Net.LinearizedLogits)
	// on every batch: memory of one batch, works with augmentation, and costs
	// about three backbone passes per image and step.
	LinearizeJVP Linearization = "jvp"
	// LinearizeJacobian computes each training image's Jacobian rows
	// J(x_i) [C, P] and outputs f0(x_i) once (C backward passes per image,
	// model.Network.JacobianRows), then trains the linear model on them: a step
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
		if bytes > model.MaxJacobianBytes {
			return "", fmt.Errorf("the Jacobian rows of %d images x %d classes x %d parameters need %d MiB (limit %d MiB): use jvp", n, c, p, bytes>>20, model.MaxJacobianBytes>>20)
		}
		return l, nil
	}
	if aug == data.NoAugmentation && bytes <= MaxJacobianFeatureBytes {
		return LinearizeJacobian, nil
	}
	return LinearizeJVP, nil
}

// JacobianCache shares the Jacobian features of LinearizeJacobian between
// Run calls on the same pretrained network, training set and seed (the
// new head's initialization), such as the points of a learning-rate sweep
// run one call at a time. It keeps the most recent features only, to bound
// memory (N*C*P*4 bytes). Not safe for concurrent use.
type JacobianCache struct {
	key      jacobianKey
	features *model.JacobianFeatures
}

type jacobianKey struct {
	pretrained *model.Network
	set        *data.Set
	seed       uint64
}

// features returns the cached features for the key, or computes and keeps
// them.
func (c *JacobianCache) get(key jacobianKey, compute func() (*model.JacobianFeatures, error)) (*model.JacobianFeatures, error) {
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
