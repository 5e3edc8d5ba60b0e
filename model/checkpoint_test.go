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

// FuzzReadCheckpoint: no input makes ReadCheckpoint panic.
func FuzzReadCheckpoint(f *testing.F) {
	f.Add(craftedCheckpoint(f, []int{3, 3, 1, 16}, 4*144))
	f.Add(craftedCheckpoint(f, []int{-1}, 8))
	f.Add([]byte(checkpointMagic + "{}\n"))
	be := testBackend(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadCheckpoint(be, bytes.NewReader(b), nil)
	})
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
