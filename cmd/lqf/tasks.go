package main

import (
	"fmt"
	"io"

	"github.com/lqf-go/lqf/data"
)

func init() {
	register(command{"tasks", "list the source and target tasks", runTasks})
}

func runTasks(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tasks", "tasks [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{JSON: "the list"})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cf.check(); err != nil {
		return err
	}
	type row struct {
		Name        string   `json:"name"`
		Role        string   `json:"role"`
		Rank        int      `json:"rank"`
		Classes     []string `json:"classes"`
		Description string   `json:"description"`
	}
	var rows [][]string
	var out []row
	for _, t := range data.Tasks() {
		rows = append(rows, []string{t.Name, t.Role.String(), fmt.Sprint(t.Rank), fmt.Sprint(len(t.ClassNames)), t.Description})
		out = append(out, row{t.Name, t.Role.String(), t.Rank, t.ClassNames, t.Description})
	}
	table(stdout, []string{"task", "role", "rank", "classes", "description"}, rows)
	return writeJSON(cf.jsonPath(), out)
}
