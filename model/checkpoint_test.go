package model

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/internal/atomicfile"
)

// craftedCheckpoint is a checkpoint of the tiny network whose first
// variable's dims are replaced by dims, followed by data bytes of data.
func craftedCheckpoint(t testing.TB, dims []int, data int) []byte {
	t.Helper()
	n, err := NewNetwork(testBackend(t), tinyConfig(5), 3)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := n.WriteCheckpoint(&buf, nil); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()[len(checkpointMagic):]
	nl := bytes.IndexByte(raw, '\n')
	var h checkpointHeader
	if err := json.Unmarshal(raw[:nl], &h); err != nil {
		t.Fatal(err)
	}
	h.Variables[0].Dims = dims
	line, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte(checkpointMagic), line...), append([]byte{'\n'}, make([]byte, data)...)...)
}

// TestCraftedCheckpoint: headers that claim impossible or huge variables
// are one error each, before any allocation of the claimed size (a claimed
// 10^10 values would need 40 GB), never a panic.
func TestCraftedCheckpoint(t *testing.T) {
	be := testBackend(t)
	for _, c := range []struct {
		name string
		dims []int
		data int
		want string
	}{
		{"negative dimension", []int{-16}, 64, "dimension -16"},
		{"zero dimension", []int{0, 3}, 0, "dimension 0"},
		{"10^10 values", []int{100000, 100000}, 64, "claim more than"},
		{"overflowing product", []int{1 << 40, 1 << 40}, 64, "claim more than"},
		{"truncated data", []int{1000}, 400, "truncated"},
	} {
		_, err := ReadCheckpoint(be, bytes.NewReader(craftedCheckpoint(t, c.dims, c.data)), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// FuzzReadCheckpoint: no input makes ReadCheckpoint panic. It builds the
// network on a backend for every input that parses, so it runs a few
// inputs a second; FuzzReadCheckpointHeader fuzzes everything before that.
func FuzzReadCheckpoint(f *testing.F) {
	f.Add(craftedCheckpoint(f, []int{3, 3, 1, 16}, 4*144))
	f.Add(craftedCheckpoint(f, []int{-1}, 8))
	f.Add([]byte(checkpointMagic + "{}\n"))
	be := testBackend(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadCheckpoint(be, bytes.NewReader(b), nil)
	})
}

// checkpointCorpus are crafted checkpoints of every kind ReadCheckpoint
// refuses, plus a valid one: the seeds of FuzzReadCheckpointHeader.
func checkpointCorpus(t testing.TB) [][]byte {
	n, err := NewNetwork(testBackend(t), tinyConfig(5), 3)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := n.WriteCheckpoint(&buf, map[string]any{"seed": 3}); err != nil {
		t.Fatal(err)
	}
	valid := buf.Bytes()
	magic, rest := valid[:len(checkpointMagic)], valid[len(checkpointMagic):]
	nl := bytes.IndexByte(rest, '\n')
	header, data := rest[:nl], rest[nl:]
	withData := func(data []byte, edit func(h map[string]any)) []byte {
		var c map[string]any
		if err := json.Unmarshal(header, &c); err != nil {
			t.Fatal(err)
		}
		edit(c)
		line, _ := json.Marshal(c)
		return append(append(append([]byte{}, magic...), line...), data...)
	}
	with := func(edit func(h map[string]any)) []byte { return withData(data, edit) }
	firstVar := func(h map[string]any) map[string]any { return h["variables"].([]any)[0].(map[string]any) }
	return [][]byte{
		valid,
		craftedCheckpoint(t, []int{-16}, 64),
		craftedCheckpoint(t, []int{100000, 100000}, 64),
		craftedCheckpoint(t, []int{1 << 40, 1 << 40}, 64),
		craftedCheckpoint(t, []int{1000}, 400),
		append(append([]byte{}, valid...), 'x'),
		valid[:len(valid)/2],
		[]byte(checkpointMagic + "{}\n"),
		[]byte(checkpointMagic + "{\"variables\": [{\"scope\": \"/a\"}]"),
		with(func(h map[string]any) { firstVar(h)["scope"] = "" }),
		with(func(h map[string]any) { firstVar(h)["scope"] = "relative/x" }),
		with(func(h map[string]any) { firstVar(h)["name"] = "" }),
		with(func(h map[string]any) { vs := h["variables"].([]any); vs[1] = vs[0] }),
		with(func(h map[string]any) { h["net"].(map[string]any)["input"].(map[string]any)["height"] = 10000000 }),
		with(func(h map[string]any) { h["net"].(map[string]any)["input"].(map[string]any)["width"] = -3 }),
		with(func(h map[string]any) { delete(h, "net") }),
		// A classifier of a million outputs whose weights the file does
		// not hold (the last entry): refused before they are initialized.
		withData([]byte{'\n'}, func(h map[string]any) {
			layers := h["net"].(map[string]any)["layers"].([]any)
			layers[len(layers)-1].(map[string]any)["attrs"].(map[string]any)["units"] = 1000000
			h["variables"] = []any{}
		}),
	}
}

// FuzzReadCheckpointHeader: no input makes parseCheckpoint, or the
// context it builds from the variables (host tensors), panic or allocate
// beyond the limits; everything ReadCheckpoint does before it needs a
// backend. It runs thousands of inputs a second (.ci/run fuzzes it for a
// fixed time).
func FuzzReadCheckpointHeader(f *testing.F) {
	for _, b := range checkpointCorpus(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseCheckpoint(bytes.NewReader(b))
		if err != nil {
			return
		}
		if _, err := p.context(); err != nil {
			return
		}
	})
}

// TestCheckpointCorpus: every crafted checkpoint of the fuzz corpus but
// the valid one is refused by ReadCheckpoint with one error, the valid one
// loads; the backend-level check of what parseCheckpoint lets through.
func TestCheckpointCorpus(t *testing.T) {
	be := testBackend(t)
	corpus := checkpointCorpus(t)
	for i, b := range corpus {
		_, err := ReadCheckpoint(be, bytes.NewReader(b), nil)
		if (err == nil) != (i == 0) || (i == len(corpus)-1 && !strings.Contains(err.Error(), "lacks")) {
			t.Errorf("corpus entry %d: error %v", i, err)
		}
	}
}

// TestLoadCheckpointOfInterruptedSet simulates lqf pretrain killed between
// its checkpoint writes: the directory's checkpoints are refused until a
// complete run has written them again.
func TestLoadCheckpointOfInterruptedSet(t *testing.T) {
	be := testBackend(t)
	n, err := NewNetwork(be, tinyConfig(5), 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(commit bool, names ...string) {
		set, err := atomicfile.BeginSet(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if err := set.WriteFile(name, func(w io.Writer) error { return n.WriteCheckpoint(w, nil) }); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := set.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(dir, "relu.ckpt")
	write(false, "relu.ckpt") // killed before leaky.ckpt
	if _, err := LoadCheckpoint(be, path, nil); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("checkpoint of an interrupted run: %v", err)
	}
	write(true, "relu.ckpt", "leaky.ckpt")
	if _, err := LoadCheckpoint(be, path, nil); err != nil {
		t.Errorf("checkpoint of the repairing run: %v", err)
	}
}
