package onnx

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzRead reads arbitrary bytes, and converts what reads (with its own
// classifier and cut at the first node's output) and maps its
// initializers: none of it may panic, and a converted network must pass
// Validate. The seeds are the test models, some of their prefixes and
// edits, and non-ONNX bytes.
func FuzzRead(f *testing.F) {
	for k, c := range netCases {
		b := c.spec(rand.New(rand.NewPCG(uint64(k), 1))).bytes()
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-3])
	}
	f.Add(withInit("fc.weight", tspec{dims: []int64{1 << 20, 1 << 20}, dtype: typeFloat}).bytes())
	f.Add(withInit("fc.weight", tspec{dims: []int64{5, 36}, dtype: typeFloat, external: true}).bytes())
	f.Add([]byte("not a model"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		_ = Unsupported(m)
		var cuts []string
		cuts = append(cuts, "")
		if len(m.Nodes) > 0 && len(m.Nodes[0].Outputs) > 0 {
			cuts = append(cuts, m.Nodes[0].Outputs[0])
		}
		for _, cut := range cuts {
			imp, err := Convert(m, Options{Cut: cut})
			if err != nil {
				continue
			}
			if err := imp.Net.Validate(); err != nil {
				t.Fatalf("Convert returned an invalid net: %v", err)
			}
			byInit := map[string][]float32{}
			for name, t := range m.Initializers {
				if t.Data != nil {
					byInit[name] = t.Data
				}
			}
			_, _ = imp.MapTensors(byInit)
		}
	})
}
