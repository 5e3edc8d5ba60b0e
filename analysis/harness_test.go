package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestReproduceCachesSeeds: a rerun with more seeds computes only the new
// ones, a failed seed leaves nothing cached, and the summary sees every
// seed's result in order.
func TestReproduceCachesSeeds(t *testing.T) {
	dir := t.TempDir()
	runs := 0
	fail := false
	var seen []int
	x := Experiment{ID: "fig99", Title: "t", Claim: "c",
		Run: func(env *Env, seed uint64) (any, error) {
			if fail {
				return nil, errors.New("boom")
			}
			runs++
			return map[string]int{"seed": int(seed)}, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) {
			r, err := Decode[map[string]int](raw)
			if err != nil {
				return nil, err
			}
			seen = seen[:0]
			for _, v := range r {
				seen = append(seen, v["seed"])
			}
			return &Summary{Finding: "ok"}, nil
		}}
	if _, err := Reproduce(nil, x, dir, 2, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Reproduce(nil, x, dir, 3, true, nil); err != nil {
		t.Fatal(err)
	}
	if runs != 3 || len(seen) != 3 || seen[0] != 1 || seen[2] != 3 {
		t.Fatalf("runs %d, summary saw %v; want 3 runs and seeds [1 2 3]", runs, seen)
	}
	if _, err := os.Stat(filepath.Join(dir, "fig99-quick", "summary.json")); err != nil {
		t.Error(err)
	}
	fail = true
	if _, err := Reproduce(nil, x, dir, 4, true, nil); err == nil || !strings.Contains(err.Error(), "seed 4") {
		t.Errorf("a failing seed gave %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fig99-quick", "seed-4.json")); !os.IsNotExist(err) {
		t.Errorf("a failed seed left a cache file: %v", err)
	}
	if _, err := Reproduce(nil, x, dir, 0, true, nil); err == nil {
		t.Error("Reproduce accepted 0 seeds")
	}
}

// TestCellResumesASeed: a seed interrupted after its first cell reruns
// only the cells not yet computed, a failed cell is not cached, and the
// cells are removed once the seed's result is written.
func TestCellResumesASeed(t *testing.T) {
	dir := t.TempDir()
	computed := map[string]int{}
	failAt := "b (2)"
	x := Experiment{ID: "fig98", Title: "t", Claim: "c",
		Run: func(env *Env, seed uint64) (any, error) {
			var out []int
			for i, name := range []string{"a/1", "b (2)", "b__2_"} {
				v, err := Cell(env, seed, name, func() (int, error) {
					if name == failAt {
						return 0, errors.New("interrupted")
					}
					computed[name]++
					return 10*int(seed) + i, nil
				})
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) {
			r, err := Decode[[]int](raw)
			if err != nil {
				return nil, err
			}
			if len(r) != 1 || len(r[0]) != 3 || r[0][0] != 10 || r[0][1] != 11 || r[0][2] != 12 {
				t.Errorf("seed result %v, want [[10 11 12]]", r)
			}
			return &Summary{Finding: "ok"}, nil
		}}
	if _, err := Reproduce(nil, x, dir, 1, true, nil); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("interrupted run: error %v", err)
	}
	cells, _ := filepath.Glob(filepath.Join(dir, "fig98-quick", "cells", "seed-1", "*.json"))
	if len(cells) != 1 || computed["a/1"] != 1 {
		t.Fatalf("after the interruption: cells %v, computed %v; want the first cell only", cells, computed)
	}
	failAt = ""
	if _, err := Reproduce(nil, x, dir, 1, true, nil); err != nil {
		t.Fatal(err)
	}
	if computed["a/1"] != 1 || computed["b (2)"] != 1 || computed["b__2_"] != 1 {
		t.Errorf("computed %v: want every cell once (names that map to the same characters must not collide)", computed)
	}
	if _, err := os.Stat(filepath.Join(dir, "fig98-quick", "cells")); !os.IsNotExist(err) {
		t.Errorf("cells left after the seed was written: %v", err)
	}
	if st, err := Cached(dir, "fig98", true); err != nil || st.String() != "seed 1" {
		t.Errorf("Cached after the seed: %q, %v; want \"seed 1\"", st, err)
	}

	// A second seed interrupted after its first cell.
	failAt = "b (2)"
	if _, err := Reproduce(nil, x, dir, 2, true, nil); err == nil {
		t.Fatal("interrupted second seed: no error")
	}
	if st, err := Cached(dir, "fig98", true); err != nil || st.String() != "seed 1; 1 cell of seed 2" {
		t.Errorf("Cached: %q, %v; want \"seed 1; 1 cell of seed 2\"", st, err)
	}
	if st, err := Cached(dir, "fig98", false); err != nil || st.String() != "nothing" {
		t.Errorf("Cached in full mode: %q, %v; want \"nothing\"", st, err)
	}
}

// TestSummarizeFig7 aggregates two hand-made seeds.
func TestSummarizeFig7(t *testing.T) {
	env := &Env{Dir: t.TempDir()}
	seeds := []fig7Result{
		{Task: "fashion-5-9", Points: []fig7Point{{2, "ce", 0.5, 0.01}, {2, "mse", 0.4, 0.01}, {10, "ce", 0.3, 0.01}, {10, "mse", 0.3, 0.01}}},
		{Task: "fashion-5-9", Points: []fig7Point{{2, "ce", 0.7, 0.01}, {2, "mse", 0.4, 0.01}, {10, "ce", 0.1, 0.01}, {10, "mse", 0.2, 0.01}}},
	}
	var raw []json.RawMessage
	for _, s := range seeds {
		b, _ := json.Marshal(s)
		raw = append(raw, b)
	}
	s, err := summarizeFig7(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rows) != 2 || !strings.HasPrefix(s.Rows[0][1], "0.6000 ± 0.1414") || s.Rows[1][3] != "+0.0500" {
		t.Errorf("rows %v", s.Rows)
	}
	// Mean over shots of (mse - ce): ((0.4-0.6) + (0.25-0.2)) / 2.
	if v := s.Values["mean_mse_minus_ce"]; v < -0.0751 || v > -0.0749 {
		t.Errorf("mean_mse_minus_ce %v, want -0.075", v)
	}
	for _, f := range s.Figures {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
}

// TestResultsMarkdown renders a summary whose directory was moved after the
// run: figures are linked next to summary.json, experiments without
// results say so.
func TestResultsMarkdown(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "fig7-quick")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	rep := Report{ID: "fig7", Quick: true, Seeds: []uint64{1}, Summary: &Summary{
		Header: []string{"shots", "error"}, Rows: [][]string{{"2", "0.5"}},
		Figures: []string{"/elsewhere/fig7-quick/fig7.png"}, Finding: "measured something"}}
	write := func(sub string, rep Report) {
		raw, _ := json.Marshal(rep)
		if err := os.WriteFile(filepath.Join(sub, "summary.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(sub, rep)
	if _, err := ResultsMarkdown(dir, dir); err == nil || !strings.Contains(err.Error(), "mean_mse_minus_ce") {
		t.Errorf("summary without the verdict's numbers: error %v, want one naming mean_mse_minus_ce", err)
	}
	rep.Summary.Values = map[string]float64{"mean_mse_minus_ce": -0.05}
	write(sub, rep)
	full := filepath.Join(dir, "fig6")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	write(full, Report{ID: "fig6", Seeds: []uint64{1, 2, 3}, Summary: &Summary{Finding: "dropped", Values: map[string]float64{"mean_most_minus_least": -0.03}}})
	part := filepath.Join(dir, "fig5")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	write(part, Report{ID: "fig5", Seeds: []uint64{1}, Summary: &Summary{Finding: "one seed",
		Values: map[string]float64{"max_dw_rel_diff": 1e-9, "exact_incremental_minus_retrained": 0, "nlft_incremental_minus_paragon": 0.05}}})
	other := filepath.Join(dir, "results", "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, SectionFile), []byte("no heading\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ResultsMarkdown(dir, dir); err == nil || !strings.Contains(err.Error(), SectionFile) {
		t.Errorf("section without a heading: error %v, want one naming the file", err)
	}
	if err := os.WriteFile(filepath.Join(other, SectionFile), []byte("## A network from elsewhere\n\nits table\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md, err := ResultsMarkdown(dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| [A network from elsewhere](#a-network-from-elsewhere) | beyond the paper |", "\n## A network from elsewhere\n\nits table\n", "| full mode, 1 seed of 3 | provisionally ", "**Verdict** (provisional: 1 seed of the 3 planned).", "## fig7:", "measured something", "| 2 | 0.5 |", "](fig7-quick/fig7.png)", "quick mode, 1 seed", "lqf reproduce --fig 7 --quick --seeds 1", "Not run yet",
		"| quick mode only | not tested |", "Not tested yet (quick mode). The criteria, read on the quick sizes: reproduced:",
		"| full mode, 3 seeds | not reproduced |", "**Verdict.** not reproduced: dropping the most informative"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestReproduceSeedsSubset: seeds spread over two runs (machines) are
// summarized only once all are cached, and each seed keeps the record of
// the run that computed it.
func TestReproduceSeedsSubset(t *testing.T) {
	dir := t.TempDir()
	var ran []uint64
	x := Experiment{ID: "fig98", Title: "t", Claim: "c",
		Run: func(env *Env, seed uint64) (any, error) {
			ran = append(ran, seed)
			return map[string]int{"seed": int(seed)}, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) {
			return &Summary{Finding: fmt.Sprintf("%d seeds", len(raw))}, nil
		}}
	rep, err := ReproduceSeeds(nil, x, dir, 3, []uint64{2}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary != nil || !slices.Equal(rep.Missing, []uint64{1, 3}) || !slices.Equal(ran, []uint64{2}) {
		t.Fatalf("run of seed 2 of 3: summary %v, missing %v, ran %v; want no summary, missing [1 3], ran [2]", rep.Summary, rep.Missing, ran)
	}
	if _, err := os.Stat(filepath.Join(dir, "fig98-quick", "summary.json")); !os.IsNotExist(err) {
		t.Errorf("a partial run wrote a summary: %v", err)
	}
	rep, err = ReproduceSeeds(nil, x, dir, 3, []uint64{1, 3}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary == nil || rep.Summary.Finding != "3 seeds" || len(rep.Missing) != 0 || !slices.Equal(ran, []uint64{2, 1, 3}) {
		t.Fatalf("second run: summary %v, missing %v, ran %v", rep.Summary, rep.Missing, ran)
	}
	if len(rep.Runs) != 3 || rep.Runs["2"].CPUs != runtime.NumCPU() || rep.Runs["2"].Finished.IsZero() {
		t.Errorf("run records %+v: want one per seed, from this host", rep.Runs)
	}
	if _, err := ReproduceSeeds(nil, x, dir, 3, []uint64{4}, true, nil); err == nil {
		t.Error("a seed outside 1..3 was accepted")
	}
}

func TestComputedOn(t *testing.T) {
	cpu := SeedRun{Backend: "SimpleGo (go)", Device: "device#0", CPUs: 2}
	gpu := SeedRun{Backend: "xla", Device: `id=0, process_index=0, device_kind="NVIDIA H200", compute_capability=9.0`, CPUs: 16}
	rep := Report{Seeds: []uint64{1, 2, 3, 4}, Runs: map[string]SeedRun{"1": cpu, "2": gpu, "3": gpu}}
	want := "seed 1 on SimpleGo (go), 2 CPUs; seeds 2, 3 on xla on NVIDIA H200, 16 CPUs; seed 4 on an unrecorded machine"
	if got := computedOn(rep); got != want {
		t.Errorf("computedOn = %q, want %q", got, want)
	}
	if got := computedOn(Report{Seeds: []uint64{1}}); got != "" {
		t.Errorf("no records gave %q", got)
	}
}

// TestCellHostsInRunRecord: a seed whose cells were partly computed on
// another machine names that machine in its run record; a seed computed in
// one go names none.
func TestCellHostsInRunRecord(t *testing.T) {
	dir := t.TempDir()
	interrupt := true
	x := Experiment{ID: "fig97", Title: "t", Claim: "c",
		Run: func(env *Env, seed uint64) (any, error) {
			var out []int
			for i, name := range []string{"a", "b"} {
				v, err := Cell(env, seed, name, func() (int, error) {
					if name == "b" && interrupt {
						return 0, errors.New("interrupted")
					}
					return i, nil
				})
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) { return &Summary{Finding: "ok"}, nil }}
	if _, err := Reproduce(nil, x, dir, 1, true, nil); err == nil {
		t.Fatal("interrupted run: no error")
	}
	// Cell "a" came from a GPU machine: its copy of the cells directory.
	gpu := "xla on NVIDIA H200, 16 CPUs"
	hosts := filepath.Join(dir, "fig97-quick", "cells", "seed-1", cellHostsFile)
	if err := os.WriteFile(hosts, []byte(gpu+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	interrupt = false
	rep, err := Reproduce(nil, x, dir, 2, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2 := rep.Runs["1"], rep.Runs["2"]
	if len(r1.CellsAlsoOn) != 1 || r1.CellsAlsoOn[0] != gpu {
		t.Errorf("seed 1 cells also on %q, want [%q]", r1.CellsAlsoOn, gpu)
	}
	if want := r1.host() + " (some cells on " + gpu + ")"; r1.Machine() != want {
		t.Errorf("seed 1 machine %q, want %q", r1.Machine(), want)
	}
	if len(r2.CellsAlsoOn) != 0 || r2.Machine() != r2.host() {
		t.Errorf("seed 2, computed in one go: cells also on %q, machine %q", r2.CellsAlsoOn, r2.Machine())
	}
	// The record on disk carries the hosts too (a later summary reads it).
	rep, err = Reproduce(nil, x, dir, 2, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Runs["1"].CellsAlsoOn; len(got) != 1 || got[0] != gpu {
		t.Errorf("seed 1 from its run record: cells also on %q", got)
	}
}

func TestNvidiaGPUModel(t *testing.T) {
	dir := t.TempDir()
	write := func(gpu, model string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, gpu), 0o755); err != nil {
			t.Fatal(err)
		}
		info := "Model: \t\t " + model + "\nIRQ:   \t\t 42\nGPU UUID: \t GPU-1\n"
		if err := os.WriteFile(filepath.Join(dir, gpu, "information"), []byte(info), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := nvidiaGPUModel(dir); got != "" {
		t.Errorf("no GPUs: %q", got)
	}
	write("0000:19:00.0", "NVIDIA H200")
	write("0000:3b:00.0", "NVIDIA H200")
	if got := nvidiaGPUModel(dir); got != "NVIDIA H200" {
		t.Errorf("two H200: %q", got)
	}
	r := SeedRun{Backend: "xla", Device: "NVIDIA H200, cuda:0 [processId=0]", CPUs: 16}
	if got, want := r.Machine(), "xla on NVIDIA H200, 16 CPUs"; got != want {
		t.Errorf("Machine() = %q, want %q", got, want)
	}
	write("0000:5d:00.0", "NVIDIA H100 80GB HBM3")
	if got := nvidiaGPUModel(dir); got != "" {
		t.Errorf("mixed models: %q, want none", got)
	}
}

// seedExperiment returns an experiment whose seed K's result is {"seed": K,
// "v": *version}, counting its runs.
func seedExperiment(version *int, runs *int) Experiment {
	return Experiment{ID: "fig96", Title: "t", Claim: "c",
		Run: func(env *Env, seed uint64) (any, error) {
			*runs++
			return map[string]int{"seed": int(seed), "v": *version}, nil
		},
		Summarize: func(env *Env, raw []json.RawMessage) (*Summary, error) { return &Summary{Finding: "ok"}, nil }}
}

// TestSeedKilledBetweenItsWrites simulates lqf reproduce killed between
// a seed's run record and its result: the seed is not cached, and the next
// run computes it and writes a record that matches. A record beside a
// result of another run (copied without it) is refused, not reported as
// that result's machine; a record from before the hash was kept is used.
func TestSeedKilledBetweenItsWrites(t *testing.T) {
	dir := t.TempDir()
	version, runs := 1, 0
	x := seedExperiment(&version, &runs)
	sub := filepath.Join(dir, "fig96-quick")
	result, record := filepath.Join(sub, "seed-1.json"), filepath.Join(sub, "runs", "seed-1.json")

	orig := writeResultFile
	writeResultFile = func(string, []byte) error { return errors.New("killed") }
	_, err := Reproduce(nil, x, dir, 1, true, nil)
	writeResultFile = orig
	if err == nil {
		t.Fatal("the killed run reported no error")
	}
	if _, err := os.Stat(record); err != nil {
		t.Fatalf("the killed run wrote no run record: %v", err)
	}
	if st, _ := Cached(dir, "fig96", true); len(st.Seeds) != 0 {
		t.Fatalf("a seed without its result counts as cached: %v", st)
	}

	version = 2
	rep, err := Reproduce(nil, x, dir, 1, true, nil)
	if err != nil || runs != 2 {
		t.Fatalf("rerun: %v after %d runs; want the seed computed again", err, runs)
	}
	raw, _ := os.ReadFile(result)
	var rec SeedRun
	if b, err := os.ReadFile(record); err != nil || json.Unmarshal(b, &rec) != nil || rec.ResultSHA256 != sha256Hex(raw) || rep.Runs["1"].ResultSHA256 != rec.ResultSHA256 {
		t.Fatalf("after the rerun the record %+v does not match the result %s (%v)", rec, raw, err)
	}

	// Another run's record beside this result: refused, and said so.
	foreign := rec
	foreign.ResultSHA256 = sha256Hex([]byte(`{"seed": 1, "v": 3}`))
	foreign.Device = "another machine"
	writeRecord := func(r SeedRun) {
		if err := writeJSON(record, r); err != nil {
			t.Fatal(err)
		}
	}
	writeRecord(foreign)
	var log strings.Builder
	rep, err = Reproduce(nil, x, dir, 1, true, &log)
	if err != nil || runs != 2 {
		t.Fatalf("cached run: %v, %d runs", err, runs)
	}
	if _, ok := rep.Runs["1"]; ok || !strings.Contains(log.String(), "records another run") {
		t.Errorf("a foreign run record was used: runs %+v, log %q", rep.Runs, log.String())
	}
	// A record written before results were hashed is taken as it is.
	legacy := rec
	legacy.ResultSHA256 = ""
	writeRecord(legacy)
	if rep, err = Reproduce(nil, x, dir, 1, true, nil); err != nil || rep.Runs["1"].CPUs != rec.CPUs {
		t.Errorf("legacy record: %+v, %v", rep.Runs, err)
	}
}

// TestDamagedCacheIsAnError: a cached seed result, run record or cell that
// cannot be read (not JSON, more than one value, above its size limit) is
// an error naming the file, from ReproduceSeeds, Cell and CheckCache
// alike, and nothing is recomputed over it.
func TestDamagedCacheIsAnError(t *testing.T) {
	version, runs := 1, 0
	x := seedExperiment(&version, &runs)
	for _, c := range []struct {
		name, file string
		content    []byte
		size       int64 // > 0: a sparse file of this size instead
		want       string
	}{
		{"result not JSON", "seed-1.json", []byte(`{"seed": 1,`), 0, "not valid JSON"},
		{"result two values", "seed-1.json", []byte(`{} {}`), 0, "more than one JSON value"},
		{"result empty", "seed-1.json", []byte{}, 0, "not valid JSON"},
		{"result above the limit", "seed-1.json", nil, maxCachedResultBytes + 1, "larger than the limit"},
		{"result is a directory", "seed-1.json/", nil, 0, "is a directory"},
		{"record not JSON", "runs/seed-1.json", []byte(`<html>`), 0, "not valid JSON"},
		{"record of another type", "runs/seed-1.json", []byte(`{"cpus": "many"}`), 0, "not valid JSON"},
		{"record above the limit", "runs/seed-1.json", nil, maxRunRecordBytes + 1, "larger than the limit"},
		{"cell not JSON", "cells/seed-1/" + cellFile("a"), []byte(`[1, 2`), 0, "not valid JSON"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			sub := filepath.Join(dir, "fig96-quick")
			if strings.HasPrefix(c.file, "runs/") || strings.HasPrefix(c.file, "cells/") {
				// A valid result beside the damaged record; none beside the cell.
				if !strings.HasPrefix(c.file, "cells/") {
					if _, err := Reproduce(nil, x, dir, 1, true, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			path := filepath.Join(sub, filepath.FromSlash(c.file))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasSuffix(c.file, "/"):
				if err := os.MkdirAll(path, 0o755); err != nil {
					t.Fatal(err)
				}
			case c.size > 0:
				f, err := os.Create(path)
				if err != nil {
					t.Fatal(err)
				}
				f.Truncate(c.size)
				f.Close()
			default:
				if err := os.WriteFile(path, c.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := runs
			name := filepath.Clean(path)
			for what, call := range map[string]func() error{
				"CheckCache": func() error { return CheckCache(dir, "fig96", true, 1) },
				"Reproduce":  func() error { _, err := Reproduce(nil, x, dir, 1, true, nil); return err },
			} {
				if what == "Reproduce" && strings.HasPrefix(c.file, "cells/") {
					continue // the experiment takes no cells: Cell below
				}
				if err := call(); err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "delete it") {
					t.Errorf("%s: error %v; want one naming %s, saying %q and the fix", what, err, name, c.want)
				}
			}
			if strings.HasPrefix(c.file, "cells/") {
				env := &Env{Dir: sub}
				_, err := Cell(env, 1, "a", func() (int, error) { runs++; return 1, nil })
				if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "delete the file") {
					t.Errorf("Cell: error %v; want one naming %s and the fix", err, name)
				}
			}
			if runs != before {
				t.Errorf("something was recomputed over the damaged file")
			}
		})
	}
}

// FuzzReadSeedCache: no content of a cached seed result or run record
// makes the readers of ReproduceSeeds (readSeed, readSeedRun, CheckCache)
// panic, and each error names the file it comes from.
func FuzzReadSeedCache(f *testing.F) {
	rec, _ := json.Marshal(SeedRun{Backend: "SimpleGo (go)", CPUs: 2, ResultSHA256: sha256Hex([]byte(`{"seed":1}`))})
	for _, c := range [][2]string{
		{`{"seed":1}`, string(rec)},
		{`{"seed":1}`, `{"backend": "xla", "cpus": 16, "finished": "2025-01-01T00:00:00Z"}`},
		{`{"seed": 1,`, `{}`},
		{`[1, 2] [3]`, `{"cpus": "many"}`},
		{``, `{"finished": "yesterday"}`},
		{`"\ud800"`, `null`},
		{`{"a": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}`, `{"result_sha256": "00"}`},
		{`1e999`, `{"cells_also_on": [1]}`},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, result, record []byte) {
		dir := t.TempDir()
		sub := filepath.Join(dir, "fig96-quick")
		os.MkdirAll(filepath.Join(sub, "runs"), 0o755)
		resultPath, recordPath := filepath.Join(sub, "seed-1.json"), filepath.Join(sub, "runs", "seed-1.json")
		os.WriteFile(resultPath, result, 0o644)
		os.WriteFile(recordPath, record, 0o644)
		env := &Env{Dir: sub}
		raw, err := readSeed(env, 1)
		if err != nil {
			if !strings.Contains(err.Error(), resultPath) {
				t.Fatalf("error %v does not name %s", err, resultPath)
			}
			return
		}
		if _, _, err := readSeedRun(env, 1, raw); err != nil && !strings.Contains(err.Error(), recordPath) {
			t.Fatalf("error %v does not name %s", err, recordPath)
		}
		if err := CheckCache(dir, "fig96", true, 1); err != nil && !strings.Contains(err.Error(), recordPath) {
			t.Fatalf("CheckCache: %v", err)
		}
	})
}

// TestCommittedResultsLoad: the seed results and run records committed in
// results/reproduce read through the limited readers of ReproduceSeeds
// (records written before results were hashed are used as they are);
// nothing is computed or written.
func TestCommittedResultsLoad(t *testing.T) {
	dir := filepath.Join("..", "results", "reproduce")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no committed results: %v", err)
	}
	for _, x := range Experiments() {
		for _, quick := range []bool{false, true} {
			st, err := Cached(dir, x.ID, quick)
			if err != nil || len(st.Seeds) == 0 {
				t.Errorf("%s (quick %v): cached %v, %v", x.ID, quick, st, err)
				continue
			}
			if err := CheckCache(dir, x.ID, quick, st.Seeds[len(st.Seeds)-1]); err != nil {
				t.Error(err)
			}
			sub := x.ID
			if quick {
				sub += "-quick"
			}
			env := &Env{Dir: filepath.Join(dir, sub)}
			for _, s := range st.Seeds {
				raw, err := readSeed(env, uint64(s))
				if err != nil || raw == nil {
					t.Errorf("%s seed %d: %v", sub, s, err)
					continue
				}
				_, statErr := os.Stat(env.runPath(uint64(s)))
				if _, ok, err := readSeedRun(env, uint64(s), raw); err != nil || ok != (statErr == nil) {
					t.Errorf("%s seed %d: run record used %v, error %v (file: %v)", sub, s, ok, err, statErr)
				}
			}
		}
	}
}
