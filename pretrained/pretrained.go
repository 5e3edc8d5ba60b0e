// Package pretrained embeds the backbones lqf ships: a small ResNet-style
// network pretrained by `lqf pretrain` on the source task (Fashion-MNIST
// classes 0-4 and MNIST digits 0-4; the paper's ResNet-50 on ImageNet,
// Sec. 4 and Appendix A.2), once with ReLU and once more after one further
// epoch with Leaky-ReLU (paper Sec. 3.3, Appendix A.2). record.json says
// how they were made: command, seed, wall time and source test accuracy.
//
// NLFT, FC and GaF start from the ReLU backbone; LQF starts from the
// Leaky-ReLU one, whose Jacobian has no dead units (Sec. 3.3). It holds
// none of the paper's equations: it holds the weights w0 that eq. 1
// linearizes around.
package pretrained

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/model"
)

var (
	//go:embed relu.ckpt
	reluCheckpoint []byte
	//go:embed leaky.ckpt
	leakyCheckpoint []byte
	//go:embed record.json
	recordJSON []byte
)

// Load returns a fresh copy of the embedded backbone with the given
// activation (model.ReLU or model.LeakyReLU), with its source-task head.
func Load(be backends.Backend, act model.Activation) (*model.Network, error) {
	var raw []byte
	switch act {
	case model.ReLU:
		raw = reluCheckpoint
	case model.LeakyReLU:
		raw = leakyCheckpoint
	default:
		return nil, fmt.Errorf("no embedded backbone with activation %q (want %q or %q)", act, model.ReLU, model.LeakyReLU)
	}
	n, err := model.ReadCheckpoint(be, bytes.NewReader(raw), nil)
	if err != nil {
		return nil, fmt.Errorf("embedded %s backbone: %w", act, err)
	}
	return n, nil
}

// Record returns how the embedded backbones were pretrained.
func Record() (model.PretrainRecord, error) {
	var r model.PretrainRecord
	err := json.Unmarshal(recordJSON, &r)
	return r, err
}
