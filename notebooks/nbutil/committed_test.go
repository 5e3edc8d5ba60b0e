package nbutil

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedNotebooksHoldOutputs checks that every notebook in
// notebooks/ was committed as `notebooks/run --save` writes it: every code
// cell executed (an execution count), no error output, and at least one
// figure, so that a reader on a code host sees results without running
// anything.
func TestCommittedNotebooksHoldOutputs(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no notebooks in notebooks/")
	}
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if problems := committedProblems(raw); len(problems) > 0 {
			t.Errorf("%s: %s; run `notebooks/run --save %s` and commit it", filepath.Base(path), strings.Join(problems, ", "), filepath.Base(path))
		}
	}
}

// committedProblems lists what keeps a notebook's JSON from being an
// executed notebook with at least one figure.
func committedProblems(raw []byte) []string {
	var nb struct {
		Cells []struct {
			CellType       string `json:"cell_type"`
			ExecutionCount *int   `json:"execution_count"`
			Outputs        []struct {
				OutputType string         `json:"output_type"`
				Data       map[string]any `json:"data"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(raw, &nb); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	figures := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if c.ExecutionCount == nil {
			problems = append(problems, fmt.Sprintf("code cell %d was not executed", i+1))
		}
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				problems = append(problems, fmt.Sprintf("code cell %d has an error output", i+1))
			}
			if _, ok := o.Data["image/png"]; ok {
				figures++
			}
		}
	}
	if figures == 0 {
		problems = append(problems, "no figure among the outputs")
	}
	return problems
}

func TestCommittedProblems(t *testing.T) {
	executed := `{"cells": [{"cell_type": "markdown", "source": []},
		{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBOR"}}]}]}`
	if p := committedProblems([]byte(executed)); len(p) != 0 {
		t.Errorf("executed notebook with a figure: %v", p)
	}
	for name, nb := range map[string]string{
		"not executed": `{"cells": [{"cell_type": "code", "execution_count": null, "outputs": []},
			{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBOR"}}]}]}`,
		"no figure": `{"cells": [{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "stream"}]}]}`,
		"error": `{"cells": [{"cell_type": "code", "execution_count": 1, "outputs": [{"output_type": "error"},
			{"output_type": "display_data", "data": {"image/png": "iVBOR"}}]}]}`,
	} {
		if p := committedProblems([]byte(nb)); len(p) != 1 {
			t.Errorf("%s: problems %v, want one", name, p)
		}
	}
}
