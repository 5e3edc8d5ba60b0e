package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// writeJSON writes v as indented JSON to path atomically; "" does nothing.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	return model.WriteFileAtomic(path, jsonFill(v))
}

// jsonFill writes v as indented JSON.
func jsonFill(v any) func(w io.Writer) error {
	return func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
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

func startBackend() (backends.Backend, error) {
	be, err := backend.New()
	if err != nil {
		return nil, fmt.Errorf("cannot start the GoMLX backend (GOMLX_BACKEND=%q): %w; unset GOMLX_BACKEND to use the pure-Go one", backend.Config(), err)
	}
	return be, nil
}

// session is what most subcommands start from: a backend, a backbone and a
// task's splits, plus where progress goes.
type session struct {
	be       backends.Backend
	net      *model.Network
	task     data.Task
	splits   *data.Splits
	progress io.Writer // nil with --quiet
	// leakyChange is, with --leaky, the relative RMS change of the training
	// images' features when the backbone's ReLUs became Leaky-ReLUs.
	leakyChange float64
}

// openSession resolves --task and the backbone flags, starts the backend and
// loads the splits; a bad task name or flag is a usage error.
func openSession(taskName string, bb *backboneFlags, split data.SplitOptions, quiet bool, stderr io.Writer) (*session, error) {
	task, err := data.TaskByName(taskName)
	if err != nil {
		return nil, usagef("--task: %v", err)
	}
	if err := bb.check(); err != nil {
		return nil, err
	}
	be, err := startBackend()
	if err != nil {
		return nil, err
	}
	net, orig, err := bb.load(be, "", true)
	if err != nil {
		return nil, err
	}
	splits, err := task.Load(split)
	if err != nil {
		return nil, inputError(err)
	}
	if err := net.CheckSet(splits.Train); err != nil {
		return nil, usagef("--backbone %s: %v (the built-in tasks are 28x28x1; fine-tune on your own images with lqf finetune --images DIR)", *bb.name, err)
	}
	s := &session{be: be, net: net, task: task, splits: splits}
	if !quiet {
		s.progress = stderr
	}
	if s.leakyChange, err = reportSwap(be, *bb.name, orig, net, splits.Train, s.progress); err != nil {
		return nil, err
	}
	return s, nil
}
