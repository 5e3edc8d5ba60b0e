package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// fakeTable1 returns a Table 1 seed result on two tasks where method k of
// comparedMethods has test error (k+1) * base on the near task and
// 2 (k+1) * base on the far one.
func fakeTable1(base float64) comparisonResult {
	var r comparisonResult
	for _, t := range []struct {
		name  string
		rank  int
		scale float64
	}{{farTask, 7, 2}, {nearTask, 1, 1}} { // out of rank order on purpose
		for k, m := range comparedMethods {
			r.Cells = append(r.Cells, comparisonCell{Task: t.name, Rank: t.rank, Method: string(m), Solver: "sgd",
				TestError: float64(k+1) * base * t.scale, TrainSize: 40, TestSize: 200})
		}
	}
	return r
}

func table1RawResults(t *testing.T, vs ...any) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	for _, v := range vs {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

func table1CheckFigures(t *testing.T, s *Summary, want ...string) {
	t.Helper()
	if len(s.Figures) != len(want) {
		t.Fatalf("figures %v, want %v", s.Figures, want)
	}
	for i, f := range s.Figures {
		if filepath.Base(f) != want[i] {
			t.Errorf("figure %d is %s, want %s", i, f, want[i])
		}
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s missing or empty (%v)", f, err)
		}
	}
}

func TestSummarizeTable1(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	s, err := summarizeTable1(env, table1RawResults(t, fakeTable1(0.1), fakeTable1(0.05)))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 3 || s.Rows[0][0] != nearTask || s.Rows[1][0] != farTask {
		t.Fatalf("rows %v: want fashion-5-9, mnist-rot90 (by rank), median", s.Rows)
	}
	// Near task, LQF (k = 1): errors 0.2 and 0.1, mean 0.15.
	if got := s.Values["fashion-5-9/lqf"]; math.Abs(got-0.15) > 1e-12 {
		t.Errorf("fashion-5-9 LQF mean %g, want 0.15", got)
	}
	if got := s.Rows[0][3]; got != "0.1500 ± 0.0707" {
		t.Errorf("fashion-5-9 LQF cell %q", got)
	}
	// Far task, FC (k = 4): 2 * 5 * (0.1, 0.05) -> mean 0.75.
	if got := s.Values["mnist-rot90/fc"]; math.Abs(got-0.75) > 1e-12 {
		t.Errorf("mnist-rot90 FC mean %g, want 0.75", got)
	}
	for k, m := range comparedMethods {
		if got := s.Values["median_relative/"+string(m)]; math.Abs(got-float64(k+1)) > 1e-12 {
			t.Errorf("%s: median relative error %g, want %d", m, got, k+1)
		}
	}
	table1CheckFigures(t, s, "table1.png")
	if s.Finding == "" {
		t.Error("no finding")
	}
	if strings.Contains(s.Finding, "low-data regime") {
		t.Errorf("LQF above NLFT, yet the finding explains why LQF leads: %s", s.Finding)
	}
}

// When LQF's median error is below NLFT's, the finding says why: these tasks
// train on few images, and names the training-set cap.
func TestSummarizeTable1LQFBelowNLFT(t *testing.T) {
	r := fakeTable1(0.1)
	for i := range r.Cells {
		if r.Cells[i].Method == string(finetune.LQF) {
			r.Cells[i].TestError /= 4 // 0.5x NLFT's error
		}
	}
	s, err := summarizeTable1(&Env{Dir: t.TempDir(), Quick: true}, table1RawResults(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Values["median_relative/"+string(finetune.LQF)]; math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("LQF median relative error %g, want 0.5", got)
	}
	want := fmt.Sprintf("at most %d images, the low-data regime", comparisonSettings(true).MaxTrain)
	if !strings.Contains(s.Finding, want) {
		t.Errorf("finding lacks %q: %s", want, s.Finding)
	}
}

func TestSummarizeTable1MissingCell(t *testing.T) {
	r := fakeTable1(0.1)
	r2 := fakeTable1(0.1)
	r2.Cells = r2.Cells[1:]
	if _, err := summarizeTable1(&Env{Dir: t.TempDir()}, table1RawResults(t, r, r2)); err == nil {
		t.Fatal("a seed without NLFT on one task was accepted")
	}
}

func TestRelativeSkipsZeroNLFT(t *testing.T) {
	st := &comparisonStats{Tasks: []string{"a", "b"}, Err: map[string]map[string][]float64{
		"a": {"nlft": {0, 0}, "lqf": {0.1, 0.2}},
		"b": {"nlft": {0.1, 0.2}, "lqf": {0.2, 0.2}},
	}}
	r, skipped := st.relative(finetune.LQF)
	if skipped != 1 || len(r) != 1 || math.Abs(r[0]-1.5) > 1e-12 {
		t.Errorf("relative %v, skipped %d; want [1.5], 1", r, skipped)
	}
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median %g, want 2.5", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

func TestTable1Targets(t *testing.T) {
	ts := targetTasks()
	if len(ts) == 0 || ts[0].Name != nearTask {
		t.Fatalf("targets %v", ts)
	}
	for i, x := range ts {
		if x.Role != data.Target || (i > 0 && x.Rank < ts[i-1].Rank) {
			t.Errorf("target %d: %s role %v rank %d", i, x.Name, x.Role, x.Rank)
		}
	}
	if got := len(comparisonSettings(false).Tasks); got != len(ts) {
		t.Errorf("full mode has %d tasks, want every target (%d)", got, len(ts))
	}
}

// TestSiblingTable1 checks that table1 and fig1 reuse each other's cached
// Table 1 errors in the same mode only.
func TestSiblingTable1(t *testing.T) {
	root := t.TempDir()
	quick := &Env{Quick: true, Dir: filepath.Join(root, "table1-quick")}
	cfg := comparisonSettings(true)
	r := comparisonResult{}
	for _, task := range cfg.Tasks {
		for _, m := range comparedMethods {
			r.Cells = append(r.Cells, comparisonCell{Task: task, Method: string(m), TestError: 0.3})
		}
	}
	if _, ok := cachedComparison(quick, "fig1", 1); ok {
		t.Fatal("reused a result that does not exist")
	}
	dir := filepath.Join(root, "fig1-quick")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(fig1Result{Table1: &r})
	if err := os.WriteFile(filepath.Join(dir, "seed-1.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	got, ok := cachedComparison(quick, "fig1", 1)
	if !ok || len(got.Cells) != len(r.Cells) {
		t.Fatalf("fig1's Table 1 errors not reused: %v %v", ok, got)
	}
	if _, ok := cachedComparison(quick, "fig1", 2); ok {
		t.Error("reused another seed's result")
	}
	if _, ok := cachedComparison(&Env{Dir: filepath.Join(root, "table1")}, "fig1", 1); ok {
		t.Error("full mode reused a quick result")
	}
	// table1's own seed file, seen from fig1.
	if err := os.MkdirAll(quick.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(r)
	if err := os.WriteFile(filepath.Join(quick.Dir, "seed-1.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := cachedComparison(&Env{Quick: true, Dir: dir}, "table1", 1); !ok {
		t.Error("table1's result not reused by fig1")
	}
}

type table1FakeCurvature struct{ id int }

func (table1FakeCurvature) Preconditioner(float64) (model.Preconditioner, error) { return nil, nil }

func TestMemoCurvature(t *testing.T) {
	calls := 0
	f := memoCurvature(func(backends.Backend, *model.Network, *data.Set) (model.Curvature, error) {
		calls++
		if calls == 3 {
			return nil, fmt.Errorf("failed")
		}
		return table1FakeCurvature{calls}, nil
	})
	a, b := &data.Set{}, &data.Set{}
	c1, _ := f(nil, nil, a)
	c2, _ := f(nil, nil, a)
	if calls != 1 || c1 != c2 {
		t.Fatalf("%d calls for the same set", calls)
	}
	c3, _ := f(nil, nil, b)
	if calls != 2 || c3 == c1 {
		t.Fatalf("a new training set did not recompute the curvature (%d calls)", calls)
	}
	if _, err := f(nil, nil, a); err == nil {
		t.Fatal("error not passed on")
	}
	if c, err := f(nil, nil, a); err != nil || c.(table1FakeCurvature).id != 4 {
		t.Fatalf("after an error: %v %v", c, err)
	}
}

// TestFinetuneEachPointSkipsDivergence: a grid point whose training
// overflows is counted and skipped, the others still select the best
// point, and a grid that diverges everywhere is ErrDiverged.
func TestFinetuneEachPointSkipsDivergence(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	base, err := pretrained.Load(be, model.LeakyReLU)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := data.TaskByName(nearTask)
	splits, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 10, ValPerClass: 2, MaxTest: 10})
	if err != nil {
		t.Fatal(err)
	}
	o := finetune.DefaultOptions(finetune.LQF)
	o.Epochs, o.BatchSize, o.Lambdas = 2, 5, []float64{1e-4}
	o.LearningRates = []float64{1e6, 1e-3}
	r, diverged, err := finetuneEachPoint(be, base, splits, o)
	if err != nil || diverged != 1 || len(r.Grid) != 1 || r.LearningRate != 1e-3 {
		t.Fatalf("lr 1e6 and 1e-3: diverged %d, err %v, result %+v; want lr 1e6 skipped", diverged, err, r)
	}
	o.LearningRates = []float64{1e6}
	if _, diverged, err := finetuneEachPoint(be, base, splits, o); !errors.Is(err, model.ErrDiverged) || diverged != 1 {
		t.Errorf("lr 1e6 alone: diverged %d, err %v; want ErrDiverged", diverged, err)
	}
}
