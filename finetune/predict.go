package finetune

import (
	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// Predictor gives the outputs [set.Len(), C] (row-major) of a fine-tuned
// model.
type Predictor interface {
	Predict(be backends.Backend, set *data.Set) ([]float32, error)
}

// PredictError is the error rate of p on set.
func PredictError(be backends.Backend, p Predictor, set *data.Set) (float64, error) {
	out, err := p.Predict(be, set)
	if err != nil {
		return 0, err
	}
	return model.ErrorRate(out, set.Labels), nil
}
