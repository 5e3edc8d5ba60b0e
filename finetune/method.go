package finetune

import (
	"fmt"

	"github.com/lqf-go/lqf/model"
)

// Method is a fine-tuning method.
type Method string

const (
	// NLFT is ordinary (non-linear) fine-tuning of every layer with SGD and
	// momentum, batch statistics in batch norm; ReLU backbone.
	NLFT Method = "nlft"
	// FC is the linear probe: the pretrained backbone is frozen, features are
	// computed once and only a new classifier is trained (cross-entropy).
	FC Method = "fc"
	// LQF trains the linearized network f0(x) + J(x) dw over every layer's
	// dw with MSE on alpha-scaled targets and lambda/2 ||dw||^2 in the loss;
	// Leaky-ReLU backbone, frozen batch-norm statistics.
	LQF Method = "lqf"
	// LQFFC is LQF restricted to the classifier's dw.
	LQFFC Method = "lqf-fc"
	// GaF ("gradients as features") linearizes every layer like LQF but
	// trains with cross-entropy and plain SGD; ReLU backbone.
	GaF Method = "gaf"
)

// Methods lists the fine-tuning methods in the order of the paper's tables.
func Methods() []Method { return []Method{NLFT, LQF, LQFFC, GaF, FC} }

// ParseMethod accepts the names of the methods implemented by Run.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown method %q (want one of nlft, lqf, lqf-fc, gaf, fc)", s)
}

// Linear reports whether the method trains a linearized network.
func (m Method) Linear() bool { return m == LQF || m == LQFFC || m == GaF }

// Activation is the backbone activation the method starts from: Leaky-ReLU
// for LQF (a dead ReLU unit has a zero Jacobian), ReLU for the others.
func (m Method) Activation() model.Activation {
	if m == LQF || m == LQFFC {
		return model.LeakyReLU
	}
	return model.ReLU
}
