package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/model"
)

// writeJSON writes v as indented JSON to path atomically; "" does nothing.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	return model.WriteFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// table prints rows as an aligned text table.
func table(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(cells []string) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = fmt.Sprintf("%-*s", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(strings.Join(parts, "  "), " "))
	}
	line(header)
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = strings.Repeat("-", widths[i])
	}
	line(seps)
	for _, r := range rows {
		line(r)
	}
}

func backend() (backends.Backend, error) {
	be, err := model.NewBackend()
	if err != nil {
		return nil, fmt.Errorf("cannot start the GoMLX backend (GOMLX_BACKEND=%q): %w; unset GOMLX_BACKEND to use the pure-Go one", model.BackendConfig(), err)
	}
	return be, nil
}
