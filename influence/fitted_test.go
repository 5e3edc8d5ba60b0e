package influence

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/linalg"
)

// retrainedOutputs are f0 + J(x) dw of the closed form retrained from
// scratch on the samples keep (same rho), on test: the brute-force
// reference of unlearning and leave-one-out.
func retrainedOutputs(t *testing.T, m *Fitted, keep []int, jx []float32, f0 []float32) []float64 {
	t.Helper()
	dw, err := m.Problem().Retrain(keep)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Problem().P
	out := make([]float64, len(f0))
	for r := range out {
		s := float64(f0[r])
		for j, w := range dw {
			s += float64(jx[r*p+j]) * w
		}
		out[r] = s
	}
	return out
}

// TestFittedAgainstRetraining: Fitted's outputs after Unlearn and the
// leave-one-out effect of Explain's top proponent equal retraining the
// closed form without those samples.
func TestFittedAgainstRetraining(t *testing.T) {
	be := backendtest.Shared(t)
	net, sp, err := lqftest.Setup(be, 12, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit(be, net, sp.Train, FitOptions{Lambda: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	_, jx, err := m.Problem().TestKernel(be, sp.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	f0, err := m.Problem().Net.Logits(be, sp.Test)
	if err != nil {
		t.Fatal(err)
	}
	all := m.Kept
	full, err := m.Outputs(be, sp.Test)
	if err != nil {
		t.Fatal(err)
	}
	if e := linalg.MaxRelError(full, retrainedOutputs(t, m, all, jx, f0)); !(e < 1e-6) {
		t.Errorf("outputs vs the closed form solved again: %.3g", e)
	}
	removed := []int{3, 7}
	u, err := m.Unlearn(removed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.Outputs(be, sp.Test)
	if err != nil {
		t.Fatal(err)
	}
	keep := []int{0, 1, 2, 4, 5, 6, 8, 9, 10, 11}
	if e := linalg.MaxRelError(got, retrainedOutputs(t, m, keep, jx, f0)); !(e < 1e-6) {
		t.Errorf("unlearned outputs vs retraining without %v: %.3g", removed, e)
	}
	why, err := m.Explain(be, sp.Test, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Problem().C
	for ti, e := range why {
		i := e.Proponents[0].Train
		var rest []int
		for _, j := range all {
			if j != i {
				rest = append(rest, j)
			}
		}
		without := retrainedOutputs(t, m, rest, jx, f0)
		want := full[ti*c+e.Predicted] - without[ti*c+e.Predicted]
		if d := e.Proponents[0].DeltaPredicted - want; d*d > 1e-12*want*want+1e-20 {
			t.Errorf("image %d, proponent %d: leave-one-out %.8g, retraining %.8g", ti, i, e.Proponents[0].DeltaPredicted, want)
		}
		if !(e.Proponents[0].DeltaPredicted >= e.Opponents[0].DeltaPredicted) {
			t.Errorf("image %d: proponent %+v below opponent %+v", ti, e.Proponents[0], e.Opponents[0])
		}
	}
	// After Unlearn, attributions name samples of Train and never removed ones.
	why2, err := u.Explain(be, sp.Test, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range why2 {
		for _, a := range append(e.Proponents, e.Opponents...) {
			if a.Train == 3 || a.Train == 7 {
				t.Errorf("unlearned sample %d is still attributed", a.Train)
			}
		}
	}
	if _, err := u.Unlearn([]int{3}); err == nil {
		t.Error("unlearning a removed sample: no error")
	}
}

// TestFitCache: a second Fit with the same inputs loads the kernel set-up
// from the cache (same outputs); a corrupted cache file is recomputed.
func TestFitCache(t *testing.T) {
	be := backendtest.Shared(t)
	net, sp, err := lqftest.Setup(be, 6, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fit := func() (*Fitted, string) {
		var log bytes.Buffer
		m, err := Fit(be, net, sp.Train, FitOptions{Lambda: 1e-3, CacheDir: dir, Progress: &log})
		if err != nil {
			t.Fatal(err)
		}
		return m, log.String()
	}
	m1, log1 := fit()
	m2, log2 := fit()
	if strings.Contains(log1, "loaded") || !strings.Contains(log2, "loaded") {
		t.Errorf("first fit: %q; second fit: %q", log1, log2)
	}
	a, _ := m1.Outputs(be, sp.Test)
	b, _ := m2.Outputs(be, sp.Test)
	if e := linalg.MaxRelError(b, a); e != 0 {
		t.Errorf("cached fit differs by %g", e)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "kernel-*.bin"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	if err := os.WriteFile(files[0], raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	m3, log3 := fit()
	if !strings.Contains(log3, "recomputing") {
		t.Errorf("truncated cache: %q", log3)
	}
	c, _ := m3.Outputs(be, sp.Test)
	if e := linalg.MaxRelError(c, a); e != 0 {
		t.Errorf("recomputed fit differs by %g", e)
	}
}

// TestFittedEmptySet: questions about no images have empty answers.
func TestFittedEmptySet(t *testing.T) {
	be := backendtest.Shared(t)
	net, sp, err := lqftest.Setup(be, 6, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit(be, net, sp.Train, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	empty := sp.Test.Subset(nil)
	if out, err := m.Outputs(be, empty); err != nil || len(out) != 0 {
		t.Errorf("outputs of no images: %v, %v", out, err)
	}
	if why, err := m.Explain(be, empty, 2); err != nil || len(why) != 0 {
		t.Errorf("explanations of no images: %v, %v", why, err)
	}
}
