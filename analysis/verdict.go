package analysis

import (
	"fmt"
	"math"
	"sort"
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
	// Outcome is Reproduced if every part holds, NotReproduced if none
	// does, InvalidRun (no parts) if a run behind the summary diverged or
	// ended above the experiment's objective-gap bound.
	Outcome string
	Parts   []ClaimPart // the tests, with the numbers that decided them
	// Validity says whether the runs behind the summary may be judged
	// (validity.go).
	Validity Validity
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
	if v.Outcome == InvalidRun {
		return InvalidRun + ": not judged (" + strings.Join(v.Validity.Problems, "; ") + ")."
	}
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

// Measured is a summary's Values as an experiment's judge reads them (the
// Judge field of Experiment): Get records the keys the summary lacks, so
// that a judge fails loudly on a summary without a number rather than
// reading 0.
type Measured struct {
	values  map[string]float64
	missing *[]string
}

// Get returns the value of key (NaN, recorded as missing, if absent).
func (m Measured) Get(key string) float64 {
	x, ok := m.values[key]
	if !ok {
		if m.missing != nil {
			*m.missing = append(*m.missing, key)
		}
		return math.NaN()
	}
	return x
}

// Has reports whether the summary holds key, for parts of a claim that
// only some modes measure.
func (m Measured) Has(key string) bool {
	_, ok := m.values[key]
	return ok
}

// Keys returns the summary's keys, sorted.
func (m Measured) Keys() []string {
	keys := make([]string, 0, len(m.values))
	for k := range m.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pct formats a ratio r as a relative change, e.g. 1.12 as "+12%".
func pct(r float64) string { return fmt.Sprintf("%+.0f%%", 100*(r-1)) }

// Judge tests experiment id's claim on a summary's Values with the
// criteria registered with the experiment (Experiment.Judge). It returns
// an error naming the keys the summary lacks (a summary from an older
// version: rerun the experiment's command, which re-summarizes cached
// seeds). It does not judge, and returns Outcome InvalidRun, when a run
// the summary records diverged or ended with an objective gap above the
// experiment's GapBound; a summary that records no runs is judged, with
// its Validity unknown.
func Judge(id string, values map[string]float64) (Verdict, error) {
	x, ok := experiments[id]
	if !ok || x.Judge == nil {
		return Verdict{}, fmt.Errorf("analysis: no criteria for experiment %q", id)
	}
	validity := validityOf(values, x.GapBound)
	if validity.Known && !validity.Valid() {
		return Verdict{Outcome: InvalidRun, Validity: validity}, nil
	}
	var missing []string
	verdict := x.Judge(Measured{values: values, missing: &missing})
	verdict.Validity = validity
	if len(missing) > 0 {
		return Verdict{}, fmt.Errorf("analysis: %s summary lacks %s; rerun `lqf reproduce --%s` to re-summarize", id, strings.Join(missing, ", "), idFlag(id))
	}
	return verdict, nil
}
