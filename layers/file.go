package layers

import (
	"encoding/json"
	"fmt"
	"io"
)

// ReadNet reads one layer graph in the JSON form of Net.MarshalJSON
// ({"input": {...}, "layers": [{"name", "op", "inputs", "attrs"}, ...]}),
// rejecting unknown fields, op kinds and attributes, and validates it.
func ReadNet(r io.Reader) (*Net, error) {
	var n Net
	dec := json.NewDecoder(r)
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("layers: reading a layer graph: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("layers: reading a layer graph: more than one JSON value")
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}
