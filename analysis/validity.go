package analysis

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/lqf-go/lqf/finetune"
)

// This file holds the validity of a run (paper-independent): before a
// claim is judged, every run behind it must have ended in a state the
// claim is about. A run that diverged, or an iterative solver of LQF that
// stopped far from the closed form it approaches, would otherwise decide a
// verdict by its protocol (too large a step, too few steps) rather than by
// the method: Judge then returns InvalidRun instead of judging.
//
// Runs record their end state as Summary.Values keys:
//
//	runs_recorded                1 when the seeds' runs recorded their end state
//	run_diverged/seed-K/<run>    1 if run <run> of seed K diverged, else 0
//	run_gap/seed-K/<run>         its final relative objective gap (L - L*) / L*
//	                             to LQF's closed form L* at the same lambda
//
// Experiments record runs through Env.noteRun (fine-tuning runs, merged
// into the summary by ReproduceSeeds from the seeds' run records) or write
// the keys in their Summarize (runs whose gap is in the seed's result).
// A summary without runs_recorded (older, or an experiment that does not
// train iteratively) is judged, with validity "unknown".

// Value keys of run validity.
const (
	keyRunsRecorded = "runs_recorded"
	keyRunDiverged  = "run_diverged/"
	keyRunGap       = "run_gap/"
)

// InvalidRun is the Outcome of a Verdict not judged because a run behind
// it diverged or ended with an objective gap above the experiment's bound
// (Experiment.GapBound).
const InvalidRun = "invalid run"

// RunHealth is the end state of one run of a seed: whether it diverged
// and, for LQF's iterative solvers, its final relative objective gap to the
// closed form.
type RunHealth struct {
	Run      string `json:"run"`
	Diverged bool   `json:"diverged,omitempty"`
	// Gap is (L - L*) / L* (finetune.Result.ObjectiveGap); nil when the run
	// has no closed form or diverged.
	Gap *float64 `json:"gap,omitempty"`
}

// runHealthOf reads a fine-tuning result's end state: diverged when every
// grid point of an iterative run diverged (ftRunCell then reports chance
// level with an empty Grid), or when its errors or objective are not
// finite.
func runHealthOf(name string, r *finetune.Result, iterative bool) RunHealth {
	h := RunHealth{Run: name}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if (iterative && len(r.Grid) == 0) || !finite(r.TrainError) || !finite(r.TestError) || !finite(r.Objective) {
		h.Diverged = true
		return h
	}
	for _, l := range r.EpochLoss {
		if !finite(l) {
			h.Diverged = true
			return h
		}
	}
	if g := r.ObjectiveGap(); finite(g) {
		h.Gap = &g
	}
	return h
}

// runHealthLog collects the runs' end states of the seeds an Env computes.
type runHealthLog struct {
	mu   sync.Mutex
	runs map[uint64][]RunHealth
}

// noteRun records the end state of run name of seed (see runHealthOf).
func (e *Env) noteRun(seed uint64, name string, r *finetune.Result, iterative bool) {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	if e.health.runs == nil {
		e.health.runs = map[uint64][]RunHealth{}
	}
	for i, h := range e.health.runs[seed] {
		if h.Run == name { // a cell read again
			e.health.runs[seed][i] = runHealthOf(name, r, iterative)
			return
		}
	}
	e.health.runs[seed] = append(e.health.runs[seed], runHealthOf(name, r, iterative))
}

// seedHealth returns the end states recorded for seed.
func (e *Env) seedHealth(seed uint64) []RunHealth {
	e.health.mu.Lock()
	defer e.health.mu.Unlock()
	return append([]RunHealth(nil), e.health.runs[seed]...)
}

// addRunHealth writes the runs' end states of seed into values (the keys
// above).
func addRunHealth(values map[string]float64, seed uint64, runs []RunHealth) {
	for _, h := range runs {
		d := 0.0
		if h.Diverged {
			d = 1
		}
		values[fmt.Sprintf("%sseed-%d/%s", keyRunDiverged, seed, h.Run)] = d
		if h.Gap != nil {
			values[fmt.Sprintf("%sseed-%d/%s", keyRunGap, seed, h.Run)] = *h.Gap
		}
	}
}

// Validity says whether the runs behind a summary may be judged.
type Validity struct {
	// Known is false when the summary records no end state of its runs.
	Known bool
	// Problems lists the runs that diverged or ended above the gap bound,
	// e.g. "seed 2 LQF diverged", "seed 3 LQF/Adam gap 5e+04 > 1".
	Problems []string
	// Runs and MaxGap describe the recorded runs (MaxGap: NaN if none has
	// a gap).
	Runs   int
	MaxGap float64
}

// Valid reports whether every recorded run is healthy (false when
// unknown).
func (v Validity) Valid() bool { return v.Known && len(v.Problems) == 0 }

// String is the validity column of RESULTS.md: "valid (12 runs, largest
// gap 0.003 <= 1)", "invalid: seed 2 LQF diverged", "unknown: ...".
func (v Validity) String() string {
	switch {
	case !v.Known:
		return "unknown: the summary records no end state of its runs (an older summary, or an experiment that records none); judged as is"
	case len(v.Problems) > 0:
		return "invalid: " + strings.Join(v.Problems, "; ")
	case math.IsNaN(v.MaxGap):
		return fmt.Sprintf("valid (%s, none diverged)", plural(v.Runs, "run"))
	}
	return fmt.Sprintf("valid (%s, none diverged, largest objective gap %.3g)", plural(v.Runs, "run"), v.MaxGap)
}

// validityOf reads the run keys of values against the gap bound (0: gaps
// are shown, not bounded).
func validityOf(values map[string]float64, bound float64) Validity {
	v := Validity{MaxGap: math.NaN()}
	if _, ok := values[keyRunsRecorded]; !ok {
		return v
	}
	v.Known = true
	var keys []string
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	where := func(k, prefix string) string {
		rest := strings.TrimPrefix(k, prefix)
		seed, run, _ := strings.Cut(rest, "/")
		return strings.Replace(seed, "seed-", "seed ", 1) + " " + run
	}
	for _, k := range keys {
		x := values[k]
		switch {
		case strings.HasPrefix(k, keyRunDiverged):
			v.Runs++
			if x != 0 {
				v.Problems = append(v.Problems, where(k, keyRunDiverged)+" diverged")
			}
		case strings.HasPrefix(k, keyRunGap):
			if math.IsNaN(v.MaxGap) || x > v.MaxGap {
				v.MaxGap = x
			}
			if bound > 0 && !(x <= bound) {
				v.Problems = append(v.Problems, fmt.Sprintf("%s gap %.3g > %g", where(k, keyRunGap), x, bound))
			}
		}
	}
	return v
}
