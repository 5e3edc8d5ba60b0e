package analysis

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/internal/jsonfile"
)

// Experiment is one figure or table of the paper, reproduced on lqf's
// tasks. Run computes one seed's result; Summarize aggregates every seed's
// results into a table and figures. Results are cached per seed (see
// Reproduce), so that a rerun resumes where a previous one stopped.
type Experiment struct {
	// ID names the experiment on the command line: "fig1", "table1", ...
	ID    string
	Title string
	// Claim is the paper's claim the experiment tests, in one sentence.
	Claim string
	// Run returns one seed's result, a value that encodes to JSON.
	Run func(env *Env, seed uint64) (any, error)
	// Summarize decodes the results of every seed (in seed order), writes
	// figures into env.Dir and returns the summary.
	Summarize func(env *Env, results []json.RawMessage) (*Summary, error)
	// Judge tests Claim on the summary's Values: each part of the claim
	// against a criterion stated in advance (verdictOf of parts). Judge,
	// the function, calls it.
	Judge func(v Measured) Verdict
	// RecordsRuns says that Run records the end state of its fine-tuning
	// runs (Env.noteRun), which ReproduceSeeds adds to the summary's
	// Values (validity.go).
	RecordsRuns bool
	// GapBound bounds the final relative objective gap (L - L*) / L* to
	// LQF's closed form of every run the summary records (run_gap/ keys):
	// above it Judge returns InvalidRun. 0: gaps are reported, not bounded.
	// Each experiment states its bound beside its criteria, with why.
	GapBound float64
}

// Summary is an experiment's aggregate over seeds.
type Summary struct {
	Header  []string   `json:"header"`
	Rows    [][]string `json:"rows"`
	Figures []string   `json:"figures"` // files written into Env.Dir
	// Finding states in one or two sentences what was measured against
	// the paper's claim.
	Finding string `json:"finding"`
	// Values holds the numbers behind the finding, for RESULTS.md and
	// tests.
	Values map[string]float64 `json:"values,omitempty"`
}

// Env is what experiments run in.
type Env struct {
	Backend backends.Backend
	// Quick selects small sizes that run in minutes (CI).
	Quick bool
	// Dir receives the experiment's cache, JSON and figures.
	Dir      string
	Progress io.Writer // nil: silent
	// health collects the end state of the runs of the seeds computed
	// (noteRun), kept in their run records (SeedRun.Health).
	health runHealthLog
}

// Logf writes a progress line.
func (e *Env) Logf(format string, args ...any) {
	if e.Progress != nil {
		fmt.Fprintf(e.Progress, format+"\n", args...)
	}
}

// Path returns a file name inside the experiment directory.
func (e *Env) Path(name string) string { return filepath.Join(e.Dir, name) }

// cellDir is where the cells of a seed's run are cached until the seed's
// result is written.
func (e *Env) cellDir(seed uint64) string {
	return filepath.Join(e.Dir, "cells", fmt.Sprintf("seed-%d", seed))
}

// Cell returns the result of one expensive unit of a seed's run (a
// fine-tuning grid search, say) named name, unique within the seed: cached
// in <Dir>/cells/seed-<seed>/ if an earlier, interrupted run computed it,
// else computed now and cached atomically. A seed that takes hours thus
// resumes where it stopped; Reproduce removes the cells once the seed's
// result is written. Like the seed cache, cells are not invalidated when
// an experiment's settings change: delete the directory then.
//
// A cached cell that cannot be read (larger than maxCachedResultBytes, not
// JSON of the cell's type) is an error naming the file: cells are written
// atomically, so such a file was damaged or edited, and recomputing it
// silently would hide that; delete it to recompute the cell.
func Cell[T any](env *Env, seed uint64, name string, compute func() (T, error)) (T, error) {
	var zero T
	path := filepath.Join(env.cellDir(seed), cellFile(name))
	var v T
	switch err := jsonfile.Read(path, maxCachedResultBytes, &v); {
	case err == nil:
		env.Logf("cell %q: cached in %s", name, path)
		return v, nil
	case !errors.Is(err, os.ErrNotExist):
		return zero, fmt.Errorf("cell %q: %w; delete the file to recompute the cell", name, err)
	}
	v, err := compute()
	if err != nil {
		return zero, err
	}
	if err := writeJSON(path, v); err != nil {
		return zero, fmt.Errorf("cell %q: %w", name, err)
	}
	if err := env.noteCellHost(seed); err != nil {
		return zero, fmt.Errorf("cell %q: %w", name, err)
	}
	return v, nil
}

// cellFile is a file name for a cell: its name with characters other than
// letters, digits, '.', '-' and '_' replaced, plus a hash of the exact name
// so that names differing only there do not collide.
func cellFile(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("%s-%08x.json", safe, h.Sum32())
}

var experiments = map[string]Experiment{}

// Register adds an experiment; IDs are unique.
func Register(x Experiment) {
	if _, dup := experiments[x.ID]; dup {
		panic("analysis: experiment " + x.ID + " registered twice")
	}
	experiments[x.ID] = x
}

// Experiments lists the registered experiments by ID.
func Experiments() []Experiment {
	out := make([]Experiment, 0, len(experiments))
	for _, x := range experiments {
		out = append(out, x)
	}
	sort.Slice(out, func(a, b int) bool { return idOrder(out[a].ID) < idOrder(out[b].ID) })
	return out
}

// idOrder sorts figures before tables, each by number.
func idOrder(id string) string {
	num := strings.TrimLeft(id, "abcdefghijklmnopqrstuvwxyz")
	kind := strings.TrimSuffix(id, num)
	return fmt.Sprintf("%s%04s", kind, num)
}

// ExperimentByID returns the experiment with that ID.
func ExperimentByID(id string) (Experiment, error) {
	x, ok := experiments[id]
	if !ok {
		var ids []string
		for _, e := range Experiments() {
			ids = append(ids, e.ID)
		}
		return Experiment{}, fmt.Errorf("no experiment %q (have %s)", id, strings.Join(ids, ", "))
	}
	return x, nil
}

// Report is what Reproduce writes to <dir>/<id>/summary.json.
type Report struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Claim   string   `json:"claim"`
	Quick   bool     `json:"quick"`
	Seeds   []uint64 `json:"seeds"`
	Summary *Summary `json:"summary"`
	// Seconds is the compute time of the seeds run now (cached ones: 0).
	Seconds map[string]float64 `json:"seconds"`
	// Runs records where each seed was computed (seeds cached before runs
	// were recorded have none).
	Runs map[string]SeedRun `json:"runs,omitempty"`
	// Missing lists the seeds of 1..K neither cached nor computed now
	// (ReproduceSeeds with a subset); Summary is nil then.
	Missing []uint64 `json:"missing,omitempty"`
}

// SeedRun records the machine a seed's result was computed on, in
// <Dir>/runs/seed-K.json beside the result: seeds of one experiment may be
// spread over machines and backends (see ReproduceSeeds).
type SeedRun struct {
	Backend  string    `json:"backend"` // GoMLX backend name, e.g. "xla"
	Device   string    `json:"device"`  // the backend's description of device 0
	CPUs     int       `json:"cpus"`    // logical CPUs of the host
	Seconds  float64   `json:"seconds,omitempty"`
	Finished time.Time `json:"finished"`
	// CellsAlsoOn lists, by Machine, the other machines that computed some
	// of the seed's cells: a seed interrupted on one machine and finished
	// on another.
	CellsAlsoOn []string `json:"cells_also_on,omitempty"`
	// ResultSHA256 is the SHA-256 of the seed's result file (seed-K.json)
	// this run wrote: a record whose hash differs from the result beside
	// it belongs to another run and is not used (see ReproduceSeeds).
	// Records written before the hash was kept have none and are taken as
	// they are.
	ResultSHA256 string `json:"result_sha256,omitempty"`
	// RunsRecorded says that Health lists the end state of every
	// fine-tuning run of the seed (see validity.go); records without it
	// predate that.
	RunsRecorded bool        `json:"runs_recorded,omitempty"`
	Health       []RunHealth `json:"health,omitempty"`
}

// Machine is a short description of the run's backend and host, e.g.
// "SimpleGo (go), 2 CPUs", followed by the machines of CellsAlsoOn.
func (r SeedRun) Machine() string {
	s := r.host()
	if len(r.CellsAlsoOn) > 0 {
		s += " (some cells on " + strings.Join(r.CellsAlsoOn, "; ") + ")"
	}
	return s
}

// host is Machine without CellsAlsoOn.
func (r SeedRun) host() string {
	s := r.Backend
	if d := shortDevice(r.Device); d != "" {
		s += " on " + d
	}
	return fmt.Sprintf("%s, %s", s, plural(r.CPUs, "CPU"))
}

// cellHostsFile lists, one per line, the machines (SeedRun.host) that
// computed cells of a seed, so that the seed's run record can name them.
// Not a .json file: the cells are the directory's *.json files.
const cellHostsFile = "hosts.txt"

// noteCellHost adds this process's machine to the seed's cell hosts.
func (e *Env) noteCellHost(seed uint64) error {
	hosts := e.cellHosts(seed)
	h := newSeedRun(e.Backend, 0).host()
	if slices.Contains(hosts, h) {
		return nil
	}
	return writeLines(filepath.Join(e.cellDir(seed), cellHostsFile), append(hosts, h))
}

// cellHosts returns the machines that computed cells of the seed (none
// recorded: nil).
func (e *Env) cellHosts(seed uint64) []string {
	return readLines(filepath.Join(e.cellDir(seed), cellHostsFile))
}

// readLines returns the non-empty lines of a file (missing: nil).
func readLines(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.FieldsFunc(string(raw), func(r rune) bool { return r == '\n' })
}

// writeLines writes lines to path atomically, one per line.
func writeLines(path string, lines []string) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
		return err
	})
}

// shortDevice keeps the device kind of a PJRT device description
// (e.g. "NVIDIA H200" out of a debug string listing its attributes); "" for
// the pure-Go backend's generic name.
func shortDevice(d string) string {
	if d == "" || strings.HasPrefix(d, "device#") {
		return ""
	}
	if i := strings.Index(d, "NVIDIA "); i >= 0 {
		d = d[i:]
		if j := strings.IndexAny(d, ",;)]\n\""); j >= 0 {
			d = d[:j]
		}
		return strings.TrimSpace(d)
	}
	if len(d) > 60 {
		d = d[:60] + "..."
	}
	return d
}

// Reproduce runs experiment x for seeds 1..seeds in <dir>/<id>[-quick]/,
// reusing the cached result of every seed already computed (seed-K.json),
// then summarizes. Each seed's result is written atomically as soon as it
// is done, so an interrupted run resumes.
func Reproduce(be backends.Backend, x Experiment, dir string, seeds int, quick bool, progress io.Writer) (*Report, error) {
	return ReproduceSeeds(be, x, dir, seeds, nil, quick, progress)
}

// ReproduceSeeds is Reproduce computing only the seeds in run (nil: all of
// 1..seeds), so that the seeds of one experiment can be spread over
// machines: each computes its seeds into a copy of dir, and the seed files
// are merged. The summary is written only when every seed of 1..seeds is
// cached; otherwise Report.Missing lists the others and Summary is nil.
//
// A seed's result (seed-K.json) and its run record (runs/seed-K.json) are
// one set of two files, bound by the record's ResultSHA256: the record is
// written first, holding the hash of the result about to be written, and
// the result last, each atomically. A run killed between the two leaves a
// record without a result: the seed is not cached, so the next run
// computes it and replaces the record. A record beside a result of
// another run (its hash differs: a result copied or merged without its
// record) is refused: not used, and said so on the progress writer.
// Cached files are read with limits (maxCachedResultBytes,
// maxRunRecordBytes); one that cannot be read is an error naming it
// (CheckCache finds those before any work), never recomputed silently.
func ReproduceSeeds(be backends.Backend, x Experiment, dir string, seeds int, run []uint64, quick bool, progress io.Writer) (*Report, error) {
	if seeds < 1 {
		return nil, errors.New("analysis: need at least one seed")
	}
	for _, s := range run {
		if s < 1 || s > uint64(seeds) {
			return nil, fmt.Errorf("analysis: seed %d to run is outside 1..%d", s, seeds)
		}
	}
	sub := x.ID
	if quick {
		sub += "-quick"
	}
	env := &Env{Backend: be, Quick: quick, Dir: filepath.Join(dir, sub), Progress: progress}
	if err := os.MkdirAll(env.Dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{ID: x.ID, Title: x.Title, Claim: x.Claim, Quick: quick, Seconds: map[string]float64{}, Runs: map[string]SeedRun{}}
	var results []json.RawMessage
	for s := 1; s <= seeds; s++ {
		seed := uint64(s)
		rep.Seeds = append(rep.Seeds, seed)
		cache := env.Path(fmt.Sprintf("seed-%d.json", seed))
		raw, err := readSeed(env, seed)
		if err != nil {
			return nil, err
		}
		if raw != nil {
			env.Logf("%s seed %d: cached in %s", x.ID, seed, cache)
			results = append(results, raw)
			r, ok, err := readSeedRun(env, seed, raw)
			if err != nil {
				return nil, err
			}
			if ok {
				rep.Runs[fmt.Sprint(seed)] = r
			}
			continue
		}
		if run != nil && !slices.Contains(run, seed) {
			rep.Missing = append(rep.Missing, seed)
			continue
		}
		env.Logf("%s seed %d: running (%d of %d)", x.ID, seed, s, seeds)
		start := time.Now()
		r, err := x.Run(env, seed)
		if err != nil {
			return nil, fmt.Errorf("%s seed %d: %w", x.ID, seed, err)
		}
		if raw, err = json.MarshalIndent(r, "", "  "); err != nil {
			return nil, fmt.Errorf("%s seed %d: %w", x.ID, seed, err)
		}
		rec := newSeedRun(be, time.Since(start).Seconds())
		for _, h := range env.cellHosts(seed) {
			if h != rec.host() {
				rec.CellsAlsoOn = append(rec.CellsAlsoOn, h)
			}
		}
		rec.ResultSHA256 = sha256Hex(raw)
		if h := env.seedHealth(seed); x.RecordsRuns && len(h) > 0 {
			rec.RunsRecorded, rec.Health = true, h
		}
		// The record first, the result last: see the doc comment.
		if err := writeJSON(env.runPath(seed), rec); err != nil {
			return nil, err
		}
		if err := writeResultFile(cache, raw); err != nil {
			return nil, err
		}
		rep.Seconds[fmt.Sprint(seed)] = rec.Seconds
		rep.Runs[fmt.Sprint(seed)] = rec
		results = append(results, raw)
		// The seed's result supersedes its cells.
		if err := os.RemoveAll(env.cellDir(seed)); err != nil {
			return nil, err
		}
		os.Remove(filepath.Dir(env.cellDir(seed))) // only if empty
	}
	if len(rep.Missing) > 0 {
		env.Logf("%s: no summary yet, seeds %v are neither cached nor run now", x.ID, rep.Missing)
		return rep, nil
	}
	var err error
	if rep.Summary, err = x.Summarize(env, results); err != nil {
		return nil, fmt.Errorf("%s: summary: %w", x.ID, err)
	}
	if x.RecordsRuns {
		// The runs' end states, when every seed's record has them.
		recorded := true
		for _, s := range rep.Seeds {
			if r, ok := rep.Runs[fmt.Sprint(s)]; !ok || !r.RunsRecorded {
				recorded = false
			}
		}
		if recorded {
			if rep.Summary.Values == nil {
				rep.Summary.Values = map[string]float64{}
			}
			rep.Summary.Values[keyRunsRecorded] = 1
			for _, s := range rep.Seeds {
				addRunHealth(rep.Summary.Values, s, rep.Runs[fmt.Sprint(s)].Health)
			}
		}
	}
	return rep, writeJSON(env.Path("summary.json"), rep)
}

func newSeedRun(be backends.Backend, seconds float64) SeedRun {
	r := SeedRun{CPUs: runtime.NumCPU(), Seconds: seconds, Finished: time.Now().UTC().Round(time.Second)}
	if be != nil {
		r.Backend = be.Name()
		if be.NumDevices() > 0 {
			r.Device = be.DeviceDescription(0)
		}
	}
	if strings.HasPrefix(r.Device, "cuda") {
		// PJRT's CUDA plugin names the device "cuda:0 [processId=0]";
		// the record should say which GPU it was.
		if m := nvidiaGPUModel(nvidiaProcDir); m != "" {
			r.Device = m + ", " + r.Device
		}
	}
	return r
}

// nvidiaProcDir is where the NVIDIA Linux driver describes each GPU.
const nvidiaProcDir = "/proc/driver/nvidia/gpus"

// nvidiaGPUModel returns the model of the GPUs described under dir (one
// sub-directory per GPU, each with an "information" file holding a line
// "Model: NVIDIA H200"): "" when there are none or their models differ.
func nvidiaGPUModel(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*", "information"))
	model := ""
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return ""
		}
		m := ""
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model" {
				m = strings.TrimSpace(v)
				break
			}
		}
		if m == "" || (model != "" && m != model) {
			return ""
		}
		model = m
	}
	return model
}

// Limits of the cached files ReproduceSeeds and Cell read (jsonfile),
// far above what lqf writes (the largest committed seed result is 250 kB,
// a run record under 1 kB), so that a damaged or foreign file is refused
// before it is read.
const (
	maxCachedResultBytes = 64 << 20 // seed-K.json and cells
	maxRunRecordBytes    = 1 << 20  // runs/seed-K.json
)

// writeResultFile writes a seed's result atomically; tests replace it to
// simulate a run killed before the result is written.
var writeResultFile = func(path string, raw []byte) error {
	return atomicfile.WriteFile(path, func(w io.Writer) error { _, err := w.Write(raw); return err })
}

// runPath is the run record of a seed.
func (e *Env) runPath(seed uint64) string {
	return filepath.Join(e.Dir, "runs", fmt.Sprintf("seed-%d.json", seed))
}

// readSeed returns the cached result of a seed: nil when there is none,
// an error naming the file when it cannot be read (too large, not one
// JSON value).
func readSeed(env *Env, seed uint64) (json.RawMessage, error) {
	path := env.Path(fmt.Sprintf("seed-%d.json", seed))
	raw, err := jsonfile.ReadRaw(path, maxCachedResultBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cached seed result %w; delete it to recompute the seed", err)
	}
	return raw, nil
}

// readSeedRun returns the run record of a seed whose result is result:
// ok false when there is none or when it records another run's result
// (ResultSHA256 differs; said on the progress writer), an error naming the
// file when it cannot be read.
func readSeedRun(env *Env, seed uint64, result []byte) (SeedRun, bool, error) {
	var r SeedRun
	path := env.runPath(seed)
	switch err := jsonfile.Read(path, maxRunRecordBytes, &r); {
	case errors.Is(err, os.ErrNotExist):
		return r, false, nil
	case err != nil:
		return r, false, fmt.Errorf("run record %w; delete it (the seed's result stays)", err)
	}
	if r.ResultSHA256 != "" && r.ResultSHA256 != sha256Hex(result) {
		env.Logf("%s: records another run than the result beside it (its result_sha256 differs from seed-%d.json's); not used", path, seed)
		return SeedRun{}, false, nil
	}
	return r, true, nil
}

// CheckCache reads what <dir>/<id>[-quick]/ caches for seeds 1..seeds
// (results, run records, cells of unfinished seeds) the way ReproduceSeeds
// will, and returns the first file that cannot be read, so that a
// damaged cache stops a run before any work.
func CheckCache(dir, id string, quick bool, seeds int) error {
	sub := id
	if quick {
		sub += "-quick"
	}
	env := &Env{Dir: filepath.Join(dir, sub)}
	for s := 1; s <= seeds; s++ {
		seed := uint64(s)
		raw, err := readSeed(env, seed)
		if err != nil {
			return err
		}
		if raw != nil {
			if _, _, err := readSeedRun(env, seed, raw); err != nil {
				return err
			}
			continue
		}
		cells, err := filepath.Glob(filepath.Join(env.cellDir(seed), "*.json"))
		if err != nil {
			return err
		}
		for _, c := range cells {
			if _, err := jsonfile.ReadRaw(c, maxCachedResultBytes); err != nil {
				return fmt.Errorf("cached cell %w; delete it to recompute the cell", err)
			}
		}
	}
	return nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// writeJSON writes v indented to path atomically, creating its directory.
func writeJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error { _, err := w.Write(raw); return err })
}

// Decode unmarshals every seed's raw result into a T.
func Decode[T any](results []json.RawMessage) ([]T, error) {
	out := make([]T, len(results))
	for i, raw := range results {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("seed result %d: %w", i+1, err)
		}
	}
	return out, nil
}

// CacheStatus is what a results directory holds for one experiment in
// one mode: the seeds whose results are cached and, per unfinished seed,
// how many cells are.
type CacheStatus struct {
	Seeds []int
	Cells map[int]int
}

// String is e.g. "seeds 1, 2; 5 cells of seed 3", or "nothing".
func (c CacheStatus) String() string {
	var parts []string
	if len(c.Seeds) > 0 {
		s := make([]string, len(c.Seeds))
		for i, v := range c.Seeds {
			s[i] = fmt.Sprint(v)
		}
		word := "seeds "
		if len(s) == 1 {
			word = "seed "
		}
		parts = append(parts, word+strings.Join(s, ", "))
	}
	var seeds []int
	for s := range c.Cells {
		seeds = append(seeds, s)
	}
	sort.Ints(seeds)
	for _, s := range seeds {
		parts = append(parts, fmt.Sprintf("%s of seed %d", plural(c.Cells[s], "cell"), s))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// Cached reports what <dir>/<id>[-quick]/ holds (Reproduce's layout).
func Cached(dir, id string, quick bool) (CacheStatus, error) {
	sub := id
	if quick {
		sub += "-quick"
	}
	st := CacheStatus{Cells: map[int]int{}}
	base := filepath.Join(dir, sub)
	seeds, err := filepath.Glob(filepath.Join(base, "seed-*.json"))
	if err != nil {
		return st, err
	}
	for _, f := range seeds {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(f), "seed-%d.json", &s); err == nil {
			st.Seeds = append(st.Seeds, s)
		}
	}
	sort.Ints(st.Seeds)
	dirs, err := filepath.Glob(filepath.Join(base, "cells", "seed-*"))
	if err != nil {
		return st, err
	}
	for _, d := range dirs {
		var s int
		if _, err := fmt.Sscanf(filepath.Base(d), "seed-%d", &s); err != nil {
			continue
		}
		cells, err := filepath.Glob(filepath.Join(d, "*.json"))
		if err != nil {
			return st, err
		}
		if len(cells) > 0 {
			st.Cells[s] = len(cells)
		}
	}
	return st, nil
}
