package analysis

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestMerge: seeds and cells computed elsewhere are copied in, superseded
// cells go, host lists are merged, differing seed results keep the
// destination's, and a second merge copies nothing.
func TestMerge(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	// Another machine finished table1 seed 2 and computed a cell of seed 3.
	writeTestFile(t, filepath.Join(src, "table1", "seed-2.json"), `{"seed":2}`)
	writeTestFile(t, filepath.Join(src, "table1", "runs", "seed-2.json"), `{"backend":"xla"}`)
	writeTestFile(t, filepath.Join(src, "table1", "cells", "seed-3", "a-1.json"), `1`)
	writeTestFile(t, filepath.Join(src, "table1", "cells", "seed-3", "b-2.json"), `2 from src`)
	writeTestFile(t, filepath.Join(src, "table1", "cells", "seed-3", cellHostsFile), "gpu\n")
	writeTestFile(t, filepath.Join(src, "fig4-quick", "seed-1.json"), `{"src":1}`)
	writeTestFile(t, filepath.Join(src, "fig4-quick", "seed-2.json"), `{"same":2}`)
	writeTestFile(t, filepath.Join(src, "notes", "seed-1.json"), `{}`)
	// Here: cells of table1 seeds 2 and 3, fig4-quick seeds 1 and 2.
	writeTestFile(t, filepath.Join(dst, "table1", "cells", "seed-2", "c-3.json"), `3`)
	writeTestFile(t, filepath.Join(dst, "table1", "cells", "seed-3", "b-2.json"), `2 from dst`)
	writeTestFile(t, filepath.Join(dst, "table1", "cells", "seed-3", cellHostsFile), "cpu\n")
	writeTestFile(t, filepath.Join(dst, "fig4-quick", "seed-1.json"), `{"dst":1}`)
	writeTestFile(t, filepath.Join(dst, "fig4-quick", "seed-2.json"), `{"same":2}`)

	rep, err := Merge(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Seeds["table1"]; !slices.Equal(got, []int{2}) {
		t.Errorf("table1 seeds merged %v, want [2]", got)
	}
	if rep.Cells["table1"] != 1 {
		t.Errorf("table1 cells merged %d, want 1 (b-2 is here already)", rep.Cells["table1"])
	}
	if len(rep.Seeds["fig4-quick"]) != 0 || !slices.Equal(rep.Conflicts, []string{filepath.Join("fig4-quick", "seed-1.json")}) {
		t.Errorf("fig4-quick: seeds %v, conflicts %v; want none and seed 1's", rep.Seeds["fig4-quick"], rep.Conflicts)
	}
	if got, want := rep.String(), "table1: seeds [2], 1 cell; kept the destination's result where both differ: "+filepath.Join("fig4-quick", "seed-1.json"); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	if got := readTestFile(t, filepath.Join(dst, "table1", "seed-2.json")); got != `{"seed":2}` {
		t.Errorf("seed 2 %q", got)
	}
	if got := readTestFile(t, filepath.Join(dst, "table1", "runs", "seed-2.json")); got != `{"backend":"xla"}` {
		t.Errorf("run record of seed 2 %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, "table1", "cells", "seed-2")); !os.IsNotExist(err) {
		t.Errorf("cells of seed 2 left beside its result: %v", err)
	}
	if got := readTestFile(t, filepath.Join(dst, "table1", "cells", "seed-3", "a-1.json")); got != "1" {
		t.Errorf("cell a-1 %q", got)
	}
	if got := readTestFile(t, filepath.Join(dst, "table1", "cells", "seed-3", "b-2.json")); got != "2 from dst" {
		t.Errorf("cell b-2 overwritten: %q", got)
	}
	if got := readLines(filepath.Join(dst, "table1", "cells", "seed-3", cellHostsFile)); !slices.Equal(got, []string{"cpu", "gpu"}) {
		t.Errorf("hosts %q, want cpu, gpu", got)
	}
	if got := readTestFile(t, filepath.Join(dst, "fig4-quick", "seed-1.json")); got != `{"dst":1}` {
		t.Errorf("conflicting seed overwritten: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dst, "notes")); !os.IsNotExist(err) {
		t.Errorf("a directory of no experiment was merged: %v", err)
	}
	if st, err := Cached(dst, "table1", false); err != nil || st.String() != "seed 2; 2 cells of seed 3" {
		t.Errorf("Cached after the merge: %q, %v", st, err)
	}

	again, err := Merge(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Seeds) != 0 || len(again.Cells) != 0 || len(again.Conflicts) != 1 {
		t.Errorf("second merge: %s", again)
	}
}

func TestMergeErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	if _, err := Merge(missing, dir); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing source: %v", err)
	}
	if _, err := Merge(dir, dir+"/."); err == nil || !strings.Contains(err.Error(), "into itself") {
		t.Errorf("merge into itself: %v", err)
	}
}
