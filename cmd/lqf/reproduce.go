package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lqf-go/lqf/analysis"
	"github.com/lqf-go/lqf/internal/atomicfile"
)

func init() {
	register(command{"reproduce", "regenerate the paper's figures and tables on lqf's tasks (JSON and PNG, cached, resumable)", runReproduce})
}

func runReproduce(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reproduce", "reproduce --fig N | --table N | --all [--quick] [--seeds K] [--run-seeds S] [--merge DIR] [--out DIR] [--markdown RESULTS.md]", stderr)
	fig := fs.String("fig", "", "figure number(s), comma-separated (e.g. 1,4)")
	tab := fs.String("table", "", "table number(s), comma-separated")
	all := fs.Bool("all", false, "every figure and table")
	list := fs.Bool("list", false, "list the experiments and exit")
	quick := fs.Bool("quick", false, "small sizes (minutes; CI)")
	seeds := fs.Int("seeds", 3, "seeds 1..K; results of seeds already in --out are reused")
	runSeeds := fs.String("run-seeds", "", "compute only these of seeds 1..K, comma-separated (spread seeds over machines, then merge the seed files into one --out); the summary waits for every seed")
	out := fs.String("out", "results/reproduce", "directory of the results (one sub-directory per experiment)")
	markdown := fs.String("markdown", "", "after running, write RESULTS.md-style Markdown of every summary in --out to this file")
	cf := addCommonFlags(fs, common{Quiet: true})
	merge := fs.String("merge", "", "first copy into --out the seeds and cells that another machine's run wrote to this directory (its --out), keeping --out's where both have a seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkOutputFile("--markdown", *markdown); err != nil {
		return err
	}
	if !*list || *merge != "" { // --list alone only reads --out
		if err := checkOutputDir("--out", *out); err != nil {
			return err
		}
	}
	if *merge != "" {
		if err := mergeRuns(stdout, *merge, *out); err != nil {
			return err
		}
	}
	if *list {
		return listExperiments(stdout, *out)
	}
	if *seeds < 1 {
		return usagef("--seeds %d: must be >= 1", *seeds)
	}
	run, err := parseRunSeeds(*runSeeds, *seeds)
	if err != nil {
		return err
	}
	ids, err := experimentIDs(*fig, *tab, *all)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if *markdown != "" || *merge != "" {
			return writeResultsMarkdown(*out, *markdown)
		}
		return usagef("name an experiment: --fig N, --table N or --all (--list shows them)")
	}
	for _, id := range ids { // every cached seed readable before any runs
		if err := analysis.CheckCache(*out, id, *quick, *seeds); err != nil {
			return inputError(err)
		}
	}
	be, err := startBackend()
	if err != nil {
		return err
	}
	beginWork("reproduce")
	for _, id := range ids {
		x, _ := analysis.ExperimentByID(id)
		rep, err := analysis.ReproduceSeeds(be, x, *out, *seeds, run, *quick, cf.progress(stderr))
		if err != nil {
			return err
		}
		if rep.Summary == nil {
			fmt.Fprintf(stdout, "\n%s: seeds %v are in %s; no summary until seeds %v are too\n", x.ID, present(rep), *out, rep.Missing)
			continue
		}
		printReport(stdout, x, rep)
	}
	return writeResultsMarkdown(*out, *markdown)
}

// mergeRuns copies into out the seeds and cells of another machine's run
// in dir (analysis.Merge).
func mergeRuns(stdout io.Writer, dir, out string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--merge %s: not a directory; give the --out of another lqf reproduce run", dir)
	}
	rep, err := analysis.Merge(dir, out)
	if err != nil {
		return fmt.Errorf("--merge %s: %w", dir, err)
	}
	fmt.Fprintf(stdout, "merged %s into %s: %s\n", dir, out, rep)
	return nil
}

// printReport prints an experiment's summary: claim, table, finding and
// where its figures are.
func printReport(stdout io.Writer, x analysis.Experiment, rep *analysis.Report) {
	fmt.Fprintf(stdout, "\n%s: %s (%d seeds%s)\nclaim: %s\n", x.ID, x.Title, len(rep.Seeds), map[bool]string{true: ", quick"}[rep.Quick], x.Claim)
	table(stdout, rep.Summary.Header, rep.Summary.Rows)
	fmt.Fprintf(stdout, "finding: %s\n", rep.Summary.Finding)
	for _, f := range rep.Summary.Figures {
		fmt.Fprintf(stdout, "figure: %s\n", f)
	}
}

// writeResultsMarkdown writes RESULTS.md-style Markdown of the summaries in
// dir to path ("" for none).
func writeResultsMarkdown(dir, path string) error {
	if path == "" {
		return nil
	}
	md, err := analysis.ResultsMarkdown(dir, filepath.Dir(path))
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, md); return err })
}

// listExperiments prints every experiment, its claim and what dir holds
// for it.
func listExperiments(stdout io.Writer, dir string) error {
	for _, x := range analysis.Experiments() {
		fmt.Fprintf(stdout, "%-8s %s\n         claim: %s\n", x.ID, x.Title, x.Claim)
		full, err := analysis.Cached(dir, x.ID, false)
		if err != nil {
			return err
		}
		quickSt, err := analysis.Cached(dir, x.ID, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "         cached in %s: full mode %s; quick mode %s\n", dir, full, quickSt)
	}
	return nil
}

// parseRunSeeds parses --run-seeds: seeds in 1..seeds.
func parseRunSeeds(flagValue string, seeds int) ([]uint64, error) {
	if flagValue == "" {
		return nil, nil
	}
	var run []uint64
	for _, f := range strings.Split(flagValue, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || s < 1 || s > uint64(seeds) {
			return nil, usagef("--run-seeds %s: %q is not a seed in 1..%d (--seeds)", flagValue, f, seeds)
		}
		run = append(run, s)
	}
	return run, nil
}

// experimentIDs resolves --fig, --table and --all into experiment ids.
func experimentIDs(fig, tab string, all bool) ([]string, error) {
	if all {
		var ids []string
		for _, x := range analysis.Experiments() {
			ids = append(ids, x.ID)
		}
		return ids, nil
	}
	var ids []string
	for _, f := range []struct{ kind, value string }{{"fig", fig}, {"table", tab}} {
		if f.value == "" {
			continue
		}
		for _, n := range strings.Split(f.value, ",") {
			id := f.kind + strings.TrimSpace(n)
			if _, err := analysis.ExperimentByID(id); err != nil {
				return nil, usagef("--%s %s: %v", f.kind, n, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// present lists the seeds of rep that are cached or were computed now.
func present(rep *analysis.Report) []uint64 {
	var out []uint64
	for _, s := range rep.Seeds {
		if !slices.Contains(rep.Missing, s) {
			out = append(out, s)
		}
	}
	return out
}
