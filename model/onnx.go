package model

import (
	"fmt"
	"sort"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/lqf-go/lqf/onnx"
)

// FromImport returns the network of an ONNX import (package onnx): its
// layer graph with every variable (parameters and frozen batch-norm
// statistics) set from imp.Params. A variable of the graph that imp does
// not set, a value imp sets that the graph has no variable for, or a size
// mismatch is an error.
func FromImport(be backends.Backend, imp *onnx.Import) (*Network, error) {
	n, err := New(be, imp.Net, 1)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(imp.Params))
	for _, v := range n.Variables() {
		key := v.ScopeAndName()
		data, ok := imp.Params[key]
		if !ok {
			return nil, fmt.Errorf("onnx import: no value for the network's variable %s", key)
		}
		if len(data) != v.Shape().Size() {
			return nil, fmt.Errorf("onnx import: %s has %d values, the network's variable %s", key, len(data), v.Shape())
		}
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), v.Shape().Dimensions...)); err != nil {
			return nil, fmt.Errorf("onnx import: %s: %w", key, err)
		}
		seen[key] = true
	}
	var extra []string
	for key := range imp.Params {
		if !seen[key] {
			extra = append(extra, key)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("onnx import: values for variables the network does not have: %v", extra)
	}
	return n, nil
}

// LoadONNX reads the ONNX file at path and converts it (onnx.Convert with
// opts) into a network.
func LoadONNX(be backends.Backend, path string, opts onnx.Options) (*Network, *onnx.Import, error) {
	m, err := onnx.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	imp, err := onnx.Convert(m, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	n, err := FromImport(be, imp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, imp, nil
}
