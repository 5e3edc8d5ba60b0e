package analysis

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lqf-go/lqf/internal/atomicfile"
)

// MergeReport says what Merge copied, per experiment directory (e.g.
// "table1" or "fig4-quick").
type MergeReport struct {
	// Seeds copied (their seed-K.json and run record), by directory.
	Seeds map[string][]int
	// Cells copied into unfinished seeds, by directory.
	Cells map[string]int
	// Conflicts lists seed results present in both directories with
	// different contents; the destination's is kept.
	Conflicts []string
}

// String is a one-line account, e.g. "table1: seeds [2], 14 cells".
func (r MergeReport) String() string {
	var dirs []string
	for d := range r.Seeds {
		dirs = append(dirs, d)
	}
	for d := range r.Cells {
		if _, ok := r.Seeds[d]; !ok {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	var parts []string
	for _, d := range dirs {
		var p []string
		if s := r.Seeds[d]; len(s) > 0 {
			p = append(p, fmt.Sprintf("seeds %v", s))
		}
		if n := r.Cells[d]; n > 0 {
			p = append(p, plural(n, "cell"))
		}
		parts = append(parts, d+": "+strings.Join(p, ", "))
	}
	if len(parts) == 0 {
		parts = []string{"nothing new"}
	}
	s := strings.Join(parts, "; ")
	if len(r.Conflicts) > 0 {
		s += fmt.Sprintf("; kept the destination's result where both differ: %s", strings.Join(r.Conflicts, ", "))
	}
	return s
}

// Merge copies into dst the results that another machine computed into
// src, both directories of Reproduce's layout (<dir>/<id>[-quick]/): each
// seed result dst lacks (seed-K.json with its runs/seed-K.json; the seed's
// cells in dst, now superseded, are removed), and, for seeds unfinished in
// dst, each cell it lacks, with the machines that computed them
// (cells/seed-K/hosts.txt, merged). Files are written atomically; nothing
// in src changes. A rerun of Reproduce then resumes from the merged
// results or summarizes them. Directories that are not a registered
// experiment's are ignored.
func Merge(src, dst string) (MergeReport, error) {
	rep := MergeReport{Seeds: map[string][]int{}, Cells: map[string]int{}}
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return rep, fmt.Errorf("merge: %s is not a results directory (the --out of another lqf reproduce run): %v", src, err)
	}
	if abs(src) == abs(dst) {
		return rep, fmt.Errorf("merge: %s into itself", src)
	}
	for _, x := range Experiments() {
		for _, sub := range []string{x.ID, x.ID + "-quick"} {
			if err := mergeExperiment(filepath.Join(src, sub), filepath.Join(dst, sub), sub, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func mergeExperiment(src, dst, sub string, rep *MergeReport) error {
	from, err := Cached(filepath.Dir(src), strings.TrimSuffix(sub, "-quick"), strings.HasSuffix(sub, "-quick"))
	if err != nil {
		return err
	}
	to, err := Cached(filepath.Dir(dst), strings.TrimSuffix(sub, "-quick"), strings.HasSuffix(sub, "-quick"))
	if err != nil {
		return err
	}
	for _, s := range from.Seeds {
		name := fmt.Sprintf("seed-%d.json", s)
		if slices.Contains(to.Seeds, s) {
			a, errA := os.ReadFile(filepath.Join(src, name))
			b, errB := os.ReadFile(filepath.Join(dst, name))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				rep.Conflicts = append(rep.Conflicts, filepath.Join(sub, name))
			}
			continue
		}
		// The run record first: a seed file without it would read as a
		// seed of an unrecorded machine.
		run := filepath.Join("runs", name)
		if _, err := os.Stat(filepath.Join(src, run)); err == nil {
			if err := copyFile(filepath.Join(src, run), filepath.Join(dst, run)); err != nil {
				return err
			}
		}
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
		rep.Seeds[sub] = append(rep.Seeds[sub], s)
		cells := filepath.Join(dst, "cells", fmt.Sprintf("seed-%d", s))
		if err := os.RemoveAll(cells); err != nil {
			return err
		}
		os.Remove(filepath.Dir(cells)) // only if empty
	}
	for s := range from.Cells {
		if slices.Contains(to.Seeds, s) || slices.Contains(from.Seeds, s) {
			continue // the seed's result supersedes its cells
		}
		dir := fmt.Sprintf("seed-%d", s)
		files, err := filepath.Glob(filepath.Join(src, "cells", dir, "*.json"))
		if err != nil {
			return err
		}
		copied := 0
		for _, f := range files {
			target := filepath.Join(dst, "cells", dir, filepath.Base(f))
			if _, err := os.Stat(target); err == nil {
				continue
			}
			if err := copyFile(f, target); err != nil {
				return err
			}
			copied++
		}
		if copied == 0 {
			continue
		}
		rep.Cells[sub] += copied
		if err := mergeHosts(filepath.Join(src, "cells", dir, cellHostsFile), filepath.Join(dst, "cells", dir, cellHostsFile)); err != nil {
			return err
		}
	}
	return nil
}

// mergeHosts adds to the host list dst the hosts of src it lacks.
func mergeHosts(src, dst string) error {
	hosts := readLines(dst)
	n := len(hosts)
	for _, h := range readLines(src) {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == n {
		return nil
	}
	return writeLines(dst, hosts)
}

// copyFile copies src to dst atomically, creating dst's directory.
func copyFile(src, dst string) error {
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(dst, func(w io.Writer) error { _, err := w.Write(raw); return err })
}
