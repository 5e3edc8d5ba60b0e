package analysis

import (
	"fmt"
	"math"
	"strings"
)

// Outcomes of a Verdict.
const (
	Reproduced       = "reproduced"
	PartlyReproduced = "partly reproduced"
	NotReproduced    = "not reproduced"
)

// Verdict says whether a paper's claim reproduced: each part of the claim
// is tested against a criterion stated in advance, on the summary's Values.
type Verdict struct {
	Outcome string      // Reproduced if every part holds, NotReproduced if none does
	Parts   []ClaimPart // the tests, with the numbers that decided them
}

// ClaimPart is one testable part of a claim.
type ClaimPart struct {
	Holds bool
	// Test states the criterion with the measured numbers.
	Test string
}

// part is a ClaimPart from a condition and a formatted statement.
func part(holds bool, format string, args ...any) ClaimPart {
	return ClaimPart{Holds: holds, Test: fmt.Sprintf(format, args...)}
}

// verdictOf combines the parts: all hold, some hold or none.
func verdictOf(parts ...ClaimPart) Verdict {
	n := 0
	for _, p := range parts {
		if p.Holds {
			n++
		}
	}
	v := Verdict{Outcome: PartlyReproduced, Parts: parts}
	switch n {
	case len(parts):
		v.Outcome = Reproduced
	case 0:
		v.Outcome = NotReproduced
	}
	return v
}

// String renders the verdict for RESULTS.md: the outcome, then each part
// with yes or no.
func (v Verdict) String() string {
	var parts []string
	for _, p := range v.Parts {
		mark := "no"
		if p.Holds {
			mark = "yes"
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", p.Test, mark))
	}
	return v.Outcome + ": " + strings.Join(parts, "; ") + "."
}

// valueGetter returns a lookup of v that records missing keys, so that a
// judge fails loudly on a summary that lacks a number rather than reading 0.
func valueGetter(v map[string]float64, missing *[]string) func(string) float64 {
	return func(k string) float64 {
		x, ok := v[k]
		if !ok {
			*missing = append(*missing, k)
			return math.NaN()
		}
		return x
	}
}

// Judge tests experiment id's claim on a summary's Values. It returns an
// error naming the keys the summary lacks (a summary from an older
// version: rerun the experiment's command, which re-summarizes cached
// seeds).
func Judge(id string, values map[string]float64) (Verdict, error) {
	var missing []string
	v := valueGetter(values, &missing)
	var verdict Verdict
	pct := func(r float64) string { return fmt.Sprintf("%+.0f%%", 100*(r-1)) }
	switch id {
	case "fig1", "table1":
		lqf, gaf, fc := v("median_relative/lqf"), v("median_relative/gaf"), v("median_relative/fc")
		parts := []ClaimPart{part(lqf < gaf && lqf < fc,
			"LQF's median error relative to NLFT (%s) is below GaF's (%s) and FC's (%s)", pct(lqf), pct(gaf), pct(fc))}
		if id == "fig1" {
			l, n := v("mean_range/lqf"), v("mean_range/nlft")
			// The best ELR's spread over tasks needs at least two tasks
			// (full mode); quick mode runs one.
			if _, ok := values["best_elr_span/lqf"]; ok {
				ls, ns := v("best_elr_span/lqf"), v("best_elr_span/nlft")
				parts = append(parts, part(ls < ns, "LQF's best effective learning rate varies less over tasks than NLFT's (%.3gx vs %.3gx)", ls, ns))
			}
			parts = append(parts, part(l < n, "LQF's validation error varies less over the eta x batch grid than NLFT's (range %.3f vs %.3f)", l, n))
		}
		verdict = verdictOf(parts...)
	case "fig2":
		mse, kf, leaky := v("increase/-mse"), v("increase/-kfac"), v("increase/-leaky")
		verdict = verdictOf(
			part(mse > 0, "cross-entropy instead of MSE raises the error (%+.4f)", mse),
			part(kf > 0, "plain SGD instead of K-FAC raises the error (%+.4f)", kf),
			part(leaky > 0, "ReLU instead of Leaky-ReLU raises the error (%+.4f)", leaky),
			part(mse > kf && mse > leaky, "MSE matters the most"))
	case "fig3":
		w0, nlft, pre := v("kappa_w0"), v("kappa_nlft"), v("kappa_preconditioned")
		mw0, mnlft := v("max_eigenvalue_w0"), v("max_eigenvalue_nlft")
		verdict = verdictOf(
			part(nlft < w0, "NLFT ends better conditioned than w0 (kappa %.3g -> %.3g)", w0, nlft),
			part(mnlft < mw0, "NLFT lowers the largest eigenvalue (%.3g -> %.3g)", mw0, mnlft),
			part(pre <= w0/10, "K-FAC preconditioning lowers kappa at w0 at least tenfold (%.3g -> %.3g)", w0, pre))
	case "fig4":
		d := v("mean_lqf_minus_nlft_low_shot")
		verdict = verdictOf(part(d <= 0.02, "LQF's test error is at most 2 points above NLFT's in the few-shot cells (mean %+.4f)", d))
	case "fig5":
		rel, diff, nlft := v("max_dw_rel_diff"), v("exact_incremental_minus_retrained"), v("nlft_incremental_minus_paragon")
		verdict = verdictOf(
			part(rel <= 1e-6 && diff == 0, "incremental LQF equals retraining (weights to %.1g relative, test error %+.4f)", rel, diff),
			part(nlft > 0.01, "incremental NLFT is more than 1 point behind its retrained paragon (%+.4f)", nlft))
	case "fig6":
		d := v("mean_most_minus_least")
		verdict = verdictOf(part(d > 0, "dropping the most informative samples raises the test error more than dropping the least informative (most - least %+.4f)", d))
	case "fig7":
		d := v("mean_mse_minus_ce")
		verdict = verdictOf(part(d <= 0.02, "NLFT with MSE is at most 2 points worse than with cross-entropy (mean %+.4f)", d))
	case "fig8":
		lambdas := 0
		for k := range values {
			if strings.HasPrefix(k, "sgd_gap_warm_") {
				lambdas++
			}
		}
		lower, dErr, saved := v("sgd_warm_lower_objective"), v("sgd_warm_minus_scratch_test_error"), v("cg_fraction_saved")
		verdict = verdictOf(
			part(lambdas > 0 && lower == float64(lambdas), "warm-started SGD ends at a lower objective than from scratch at every lambda (%.0f of %d)", lower, lambdas),
			part(math.Abs(dErr) <= 0.02, "its test error is within 2 points of training from scratch (%+.4f)", dErr),
			part(saved >= 0.1, "warm-started conjugate gradients save at least 10%% of the iterations (%.0f%%)", 100*saved))
	case "table2":
		bl, bn := v("mean_blqf_minus_lqf"), v("mean_bnlft_minus_nlft")
		verdict = verdictOf(
			part(bl <= -0.01, "bilinear pooling lowers LQF's error by at least 1 point (%+.4f)", bl),
			part(math.Abs(bn) < math.Abs(bl), "it changes NLFT less (%+.4f)", bn))
	case "table3":
		l, g := v("mean_adam_minus_sgd/LQF"), v("mean_adam_minus_sgd/GaF")
		verdict = verdictOf(
			part(math.Abs(l) <= 0.02, "Adam is within 2 points of SGD+K-FAC for LQF (%+.4f)", l),
			part(math.Abs(g) <= 0.02, "Adam is within 2 points of SGD for GaF (%+.4f)", g))
	default:
		return Verdict{}, fmt.Errorf("analysis: no criteria for experiment %q", id)
	}
	if len(missing) > 0 {
		return Verdict{}, fmt.Errorf("analysis: %s summary lacks %s; rerun `lqf reproduce --%s` to re-summarize", id, strings.Join(missing, ", "), idFlag(id))
	}
	return verdict, nil
}
