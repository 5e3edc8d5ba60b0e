package analysis

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/kfac"
)

// fig3Spectrum builds a spectrum with Ritz values lambda, 1 and top.
func fig3Spectrum(lambda, top float64) *kfac.Spectrum {
	return &kfac.Spectrum{Values: []float64{lambda, 1, top}, Weights: []float64{0.9, 0.05, 0.05}, Min: lambda, Max: top}
}

func TestSummarizeFig3(t *testing.T) {
	var raw []json.RawMessage
	for _, top := range []float64{100, 300} {
		r := fig3Result{Task: nearTask, SpectraReport: &kfac.SpectraReport{
			W0: fig3Spectrum(1e-4, top), NLFT: fig3Spectrum(1e-4, top/10), Preconditioned: fig3Spectrum(0.5, top/100),
			Lambda: 1e-4, Steps: 3, TrainSize: 30}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	env := &Env{Dir: t.TempDir()}
	s, err := summarizeFig3(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	// kappa at w0: (100/1e-4 + 300/1e-4) / 2 = 2e6; after NLFT 2e5;
	// preconditioned (1 + 3) / 2 / 0.5 = 4; range kappa top/1.
	for key, want := range map[string]float64{"kappa_w0": 2e6, "kappa_nlft": 2e5, "kappa_preconditioned": 4,
		"max_eigenvalue_w0": 200, "range_kappa_w0": 200, "range_kappa_nlft": 20} {
		if got := s.Values[key]; math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	if len(s.Rows) != 3 || !strings.HasPrefix(s.Rows[0][3], "2e+06 ± ") || s.Rows[0][1] != "200 ± 141.4" {
		t.Errorf("rows %q", s.Rows)
	}
	if !strings.Contains(s.Finding, "NLFT lowers kappa") {
		t.Errorf("finding %q", s.Finding)
	}
	for _, f := range s.Figures {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s: %v", f, err)
		}
	}
	if len(s.Figures) != 1 {
		t.Errorf("figures %q", s.Figures)
	}
	if _, err := summarizeFig3(env, []json.RawMessage{json.RawMessage(`{"task":"x"}`)}); err == nil {
		t.Error("a result without spectra was accepted")
	}
}

// TestFig3Density checks that the smoothed density integrates to the
// weight of the positive Ritz values and peaks at them.
func TestFig3Density(t *testing.T) {
	s := &kfac.Spectrum{Values: []float64{-1, 1e-2, 10}, Weights: []float64{0.2, 0.5, 0.3}, Min: -1, Max: 10}
	var ts []float64
	for x := -6.0; x <= 5; x += 0.001 {
		ts = append(ts, x)
	}
	d, err := fig3Density(s, ts, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	integral, peak := 0.0, 0
	for i, v := range d {
		integral += v * 0.001
		if v > d[peak] {
			peak = i
		}
	}
	if math.Abs(integral-0.8) > 1e-3 {
		t.Errorf("integral %g, want 0.8", integral)
	}
	if math.Abs(ts[peak]-(-2)) > 0.01 {
		t.Errorf("peak at %g, want -2", ts[peak])
	}
	if k := fig3RangeKappa(s, 1e-4); k != 10/1e-2 {
		t.Errorf("range kappa %g", k)
	}
	if k := fig3RangeKappa(s, 10); !math.IsNaN(k) {
		t.Errorf("range kappa without values above 10 lambda: %g", k)
	}
	if _, err := fig3Density(&kfac.Spectrum{}, ts, 0.1); err == nil {
		t.Error("empty spectrum accepted")
	}
}
