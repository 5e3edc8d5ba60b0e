package analysis

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/finetune"
)

// table3Healthy is a Table 3 summary whose claim holds.
func table3Healthy() map[string]float64 {
	return map[string]float64{"mean_adam_minus_sgd/LQF": 0.01, "mean_adam_minus_sgd/GaF": -0.01}
}

// TestJudgeRefusesInvalidRuns: a summary that records a diverged run, or a
// run whose objective gap exceeds the experiment's bound, is not judged
// (InvalidRun, naming the run); one whose runs are healthy is judged as
// without records; one without records is judged with validity unknown.
func TestJudgeRefusesInvalidRuns(t *testing.T) {
	with := func(extra map[string]float64) map[string]float64 {
		v := table3Healthy()
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	healthy := with(map[string]float64{keyRunsRecorded: 1,
		"run_diverged/seed-1/near/LQF/SGD": 0, "run_gap/seed-1/near/LQF/SGD": 0.02,
		"run_diverged/seed-2/near/LQF/Adam": 0, "run_gap/seed-2/near/LQF/Adam": 0.9})
	cases := []struct {
		name    string
		values  map[string]float64
		outcome string
		known   bool
		says    string // in String()
	}{
		{"no records", table3Healthy(), Reproduced, false, ""},
		{"healthy", healthy, Reproduced, true, ""},
		{"diverged", with(map[string]float64{keyRunsRecorded: 1, "run_diverged/seed-2/near/NLFT/SGD": 1, "run_diverged/seed-1/near/NLFT/SGD": 0}),
			InvalidRun, true, "seed 2 near/NLFT/SGD diverged"},
		{"gap above bound", with(map[string]float64{keyRunsRecorded: 1, "run_diverged/seed-3/near/LQF/Adam": 0, "run_gap/seed-3/near/LQF/Adam": 5e4}),
			InvalidRun, true, "seed 3 near/LQF/Adam gap 5e+04 > 1"},
	}
	for _, c := range cases {
		v, err := Judge("table3", c.values)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if v.Outcome != c.outcome || v.Validity.Known != c.known {
			t.Errorf("%s: outcome %q (validity known %v), want %q (%v): %s", c.name, v.Outcome, v.Validity.Known, c.outcome, c.known, v)
		}
		if c.outcome == InvalidRun && len(v.Parts) != 0 {
			t.Errorf("%s: judged parts %v of an invalid run", c.name, v.Parts)
		}
		if !strings.Contains(v.String(), c.says) || !strings.Contains(validityCell(v.Validity), c.says) {
			t.Errorf("%s: %q / cell %q does not say %q", c.name, v, validityCell(v.Validity), c.says)
		}
	}
	// Healthy records leave the verdict as it was without them.
	a, _ := Judge("table3", table3Healthy())
	b, _ := Judge("table3", healthy)
	if a.String() != b.String() || !b.Validity.Valid() || b.Validity.Runs != 2 || b.Validity.MaxGap != 0.9 {
		t.Errorf("healthy runs changed the verdict: %q vs %q (validity %+v)", a, b, b.Validity)
	}
	// A gap just above the bound is invalid, at the bound valid.
	for gap, want := range map[float64]string{table3GapBound: Reproduced, table3GapBound * 1.001: InvalidRun, math.NaN(): InvalidRun} {
		v, _ := Judge("table3", with(map[string]float64{keyRunsRecorded: 1, "run_gap/seed-1/x": gap}))
		if v.Outcome != want {
			t.Errorf("gap %g: %s, want %s", gap, v.Outcome, want)
		}
	}
}

// TestRunHealthOf: a fine-tuning result's end state.
func TestRunHealthOf(t *testing.T) {
	ok := &finetune.Result{Grid: []finetune.GridPoint{{}}, TestError: 0.1, Objective: 3, ClosedFormObjective: 2, EpochLoss: []float64{5, 3}}
	if h := runHealthOf("a", ok, true); h.Diverged || h.Gap == nil || *h.Gap != 0.5 {
		t.Errorf("healthy run: %+v", h)
	}
	for name, r := range map[string]*finetune.Result{
		"every point diverged": {TestError: 0.8},
		"nan loss":             {Grid: []finetune.GridPoint{{}}, EpochLoss: []float64{1, math.NaN()}},
		"inf objective":        {Grid: []finetune.GridPoint{{}}, Objective: math.Inf(1), ClosedFormObjective: 1},
	} {
		if h := runHealthOf(name, r, true); !h.Diverged || h.Gap != nil {
			t.Errorf("%s: %+v, want diverged without a gap", name, h)
		}
	}
	// The closed form itself has an empty Grid only if not iterative.
	if h := runHealthOf("exact", &finetune.Result{TestError: 0.1}, false); h.Diverged || h.Gap != nil {
		t.Errorf("closed form: %+v", h)
	}
}

// TestReproduceRecordsRuns: the end states a Run notes reach the summary's
// Values through the seeds' run records (also for cached seeds), and a
// record without them (an older one) leaves validity unknown.
func TestReproduceRecordsRuns(t *testing.T) {
	dir := t.TempDir()
	x := Experiment{ID: "fig95", Title: "t", Claim: "c", RecordsRuns: true,
		Run: func(env *Env, seed uint64) (any, error) {
			te := 0.1
			if seed == 2 {
				te = math.NaN()
			}
			env.noteRun(seed, "LQF", &finetune.Result{Grid: []finetune.GridPoint{{}}, TestError: te, Objective: 2.5, ClosedFormObjective: 2}, true)
			return seed, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) { return &Summary{Finding: "ok"}, nil }}
	rep, err := Reproduce(nil, x, dir, 2, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{keyRunsRecorded: 1, "run_diverged/seed-1/LQF": 0, "run_gap/seed-1/LQF": 0.25, "run_diverged/seed-2/LQF": 1}
	check := func(what string, got map[string]float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: values %v, want %v", what, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s = %v, want %v", what, k, got[k], w)
			}
		}
	}
	check("computed", rep.Summary.Values)
	if v := validityOf(rep.Summary.Values, 1); v.Valid() || len(v.Problems) != 1 || !strings.Contains(v.Problems[0], "seed 2 LQF diverged") {
		t.Errorf("validity %+v", v)
	}
	rep, err = Reproduce(nil, x, dir, 2, true, nil) // cached seeds
	if err != nil {
		t.Fatal(err)
	}
	check("cached", rep.Summary.Values)
	// An older record of seed 2 (no end states): unknown, not invalid.
	path := filepath.Join(dir, "fig95-quick", "runs", "seed-2.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	delete(rec, "runs_recorded")
	delete(rec, "health")
	if raw, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err = Reproduce(nil, x, dir, 2, true, nil); err != nil {
		t.Fatal(err)
	}
	if v := validityOf(rep.Summary.Values, 1); v.Known || !strings.HasPrefix(v.String(), "unknown") {
		t.Errorf("older record: validity %+v (%s), want unknown", v, v)
	}
}
