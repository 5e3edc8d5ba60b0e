package influence

import "fmt"

// Targets of Validate. Exact leave-one-out and unlearning are exact up to
// float32 Jacobians and float64 solves, so they must agree with retraining
// almost perfectly; K-FAC attribution (paper eq. 8) and the linear
// datamodeling score of the LQF model have targets that say what a useful
// approximation reaches.
const (
	MinExactVsRetrainPearson      = 0.999
	MaxExactVsRetrainRelError     = 1e-3
	MaxUnlearnVsRetrainRelError   = 1e-6
	MinKFACVsExactPearson         = 0.95
	MinLDSLQF                     = 0.9
	targetReported                = "reported"
	formatPearson, formatRelError = "%.6f", "%.3g"
	formatCorrelation             = "%.4f"
)

// Target is one number of a Validation with its target.
type Target struct {
	Key    string  `json:"key"`
	Value  float64 `json:"value"`
	Target string  `json:"target"` // ">= 0.999", "<= 0.001" or "reported" (no target)
	Met    bool    `json:"met"`    // true for reported numbers
	format string
}

// Text is the value as printed.
func (t Target) Text() string { return fmt.Sprintf(t.format, t.Value) }

// Targets lists v's numbers with their targets (and whether each is met),
// in the order `lqf influence validate` prints them.
func (v *Validation) Targets() []Target {
	atLeast := func(key string, x, min float64, format string) Target {
		return Target{key, x, fmt.Sprintf(">= %g", min), x >= min, format}
	}
	atMost := func(key string, x, max float64) Target {
		return Target{key, x, fmt.Sprintf("<= %g", max), x <= max, formatRelError}
	}
	reported := func(key string, x float64) Target { return Target{key, x, targetReported, true, formatCorrelation} }
	out := []Target{
		atLeast("exact_vs_retrain_pearson", v.ExactVsRetrainPearson, MinExactVsRetrainPearson, formatPearson),
		atMost("exact_vs_retrain_max_rel_error", v.ExactVsRetrainMaxRelError, MaxExactVsRetrainRelError),
		atMost("unlearn_vs_retrain_max_rel_error", v.UnlearnVsRetrainMaxRelError, MaxUnlearnVsRetrainRelError),
		atLeast("kfac_vs_exact_pearson", v.KFACVsExactPearson, MinKFACVsExactPearson, formatCorrelation),
		reported("kfac_self_influence_pearson", v.KFACSelfPearson),
		reported("ceiling: exact per-layer blocks (K-FAC with exact factors)", v.CurvatureCeilingPearson["layer_blocks_exact_leverage"]),
		reported("ceiling: exact H, no leverage term", v.CurvatureCeilingPearson["exact_h_no_leverage"]),
		atLeast("lds_lqf (Banzhaf attribution)", v.LDSLQF, MinLDSLQF, formatCorrelation),
		reported("lds_lqf_loo (leave-one-out)", v.LDSLQFLOO),
	}
	if v.LDSNLFT != nil {
		out = append(out, reported("lds_nlft (Banzhaf attribution)", *v.LDSNLFT), reported("lds_nlft_loo (leave-one-out)", *v.LDSNLFTLOO))
	}
	return out
}
