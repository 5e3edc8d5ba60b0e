package model

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/layers"
)

// checkpointMagic starts every lqf checkpoint. The format is the magic line,
// one line of JSON (checkpointHeader), then each variable's float32 values,
// little-endian, in the header's order.
const checkpointMagic = "LQF-CHECKPOINT-1\n"

// checkpointHeader describes the network by its layer graph (Net). Headers
// written before lqf's networks became layer graphs hold a ResNet Config
// instead; ReadCheckpoint builds its graph (Config.Net), whose parameter
// scopes are the same, so those checkpoints load unchanged.
type checkpointHeader struct {
	Net       *layers.Net      `json:"net,omitempty"`
	Config    *Config          `json:"config,omitempty"`
	Variables []checkpointVar  `json:"variables"`
	Meta      *json.RawMessage `json:"meta,omitempty"`
}

type checkpointVar struct {
	Scope     string `json:"scope"`
	Name      string `json:"name"`
	Dims      []int  `json:"dims"`
	Trainable bool   `json:"trainable"`
}

func sortVariables(vars []*context.Variable) {
	sort.Slice(vars, func(i, j int) bool { return vars[i].ScopeAndName() < vars[j].ScopeAndName() })
}

// WriteCheckpoint writes the network's parameters and running statistics
// (not optimizer state) to w. meta, if not nil, is stored as JSON beside
// them (for example how the checkpoint was trained).
func (n *Network) WriteCheckpoint(w io.Writer, meta any) error {
	h := checkpointHeader{Net: n.Arch}
	if meta != nil {
		raw, err := json.Marshal(meta)
		if err != nil {
			return err
		}
		rm := json.RawMessage(raw)
		h.Meta = &rm
	}
	vars := n.Variables()
	for _, v := range vars {
		if v.Shape().DType != dtypes.Float32 {
			return fmt.Errorf("variable %s has dtype %s; checkpoints hold float32", v.ScopeAndName(), v.Shape().DType)
		}
		h.Variables = append(h.Variables, checkpointVar{v.Scope(), v.Name(), v.Shape().Dimensions, v.Trainable})
	}
	header, err := json.Marshal(h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(checkpointMagic)
	bw.Write(header)
	bw.WriteByte('\n')
	buf := make([]byte, 4)
	for _, v := range vars {
		t, err := v.Value()
		if err != nil {
			return err
		}
		for _, x := range tensors.MustCopyFlatData[float32](t) {
			binary.LittleEndian.PutUint32(buf, math.Float32bits(x))
			bw.Write(buf)
		}
	}
	return bw.Flush()
}

// SaveCheckpoint writes the checkpoint to path atomically: to a temporary
// file in the same directory, renamed over path only once complete.
func (n *Network) SaveCheckpoint(path string, meta any) error {
	return WriteFileAtomic(path, func(w io.Writer) error { return n.WriteCheckpoint(w, meta) })
}

// WriteFileAtomic creates path with the content written by fill, through a
// temporary file and a rename, so a reader never sees a partial file.
func WriteFileAtomic(path string, fill func(w io.Writer) error) error {
	return atomicfile.WriteFile(path, fill)
}

// ReadCheckpoint reads a network written by WriteCheckpoint. If meta is not
// nil, the stored metadata is decoded into it. be is used to check that the
// parameters fit the configuration.
func ReadCheckpoint(be backends.Backend, r io.Reader, meta any) (*Network, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != checkpointMagic {
		return nil, errors.New("not an lqf checkpoint (bad magic line); checkpoints are written by `lqf pretrain` or Network.SaveCheckpoint")
	}
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("truncated checkpoint header: %w", err)
	}
	var h checkpointHeader
	if err := json.Unmarshal(bytes.TrimSpace(line), &h); err != nil {
		return nil, fmt.Errorf("corrupt checkpoint header: %w", err)
	}
	arch := h.Net
	switch {
	case arch == nil && h.Config != nil:
		if arch, err = h.Config.Net(); err != nil {
			return nil, fmt.Errorf("checkpoint configuration: %w", err)
		}
	case arch == nil:
		return nil, errors.New("corrupt checkpoint header: it describes no network")
	default:
		if err := arch.Validate(); err != nil {
			return nil, fmt.Errorf("checkpoint network: %w", err)
		}
	}
	if meta != nil && h.Meta != nil {
		if err := json.Unmarshal(*h.Meta, meta); err != nil {
			return nil, fmt.Errorf("checkpoint metadata: %w", err)
		}
	}
	ctx := context.New().Checked(false)
	total := 0
	for _, cv := range h.Variables {
		size, err := checkpointSize(cv.Dims)
		if err == nil && total+size > MaxCheckpointValues {
			err = fmt.Errorf("the variables claim more than %d values in all", MaxCheckpointValues)
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt checkpoint header: variable %s/%s: %w", cv.Scope, cv.Name, err)
		}
		total += size
		data, err := readFloat32s(br, size)
		if err != nil {
			return nil, fmt.Errorf("truncated checkpoint: variable %s/%s: %w", cv.Scope, cv.Name, err)
		}
		t := tensors.FromFlatDataAndDimensions(data, cv.Dims...)
		ctx.InAbsPath(cv.Scope).VariableWithValue(cv.Name, t).SetTrainable(cv.Trainable)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("corrupt checkpoint: data after the last variable")
	}
	n := &Network{Arch: arch, Ctx: ctx}
	before := len(n.Variables())
	if err := n.materialize(be); err != nil {
		return nil, fmt.Errorf("checkpoint does not fit its configuration: %w", err)
	}
	if after := len(n.Variables()); after != before {
		return nil, fmt.Errorf("checkpoint is missing %d variables of its configuration", after-before)
	}
	return n, nil
}

// MaxCheckpointValues bounds the values a checkpoint may hold (4 GiB of
// float32), so that a crafted header cannot make ReadCheckpoint allocate
// beyond it.
const MaxCheckpointValues = 1 << 30

// checkpointSize is the number of values of a variable of dims, checked:
// every dimension >= 1 and the product at most MaxCheckpointValues.
func checkpointSize(dims []int) (int, error) {
	size := 1
	for _, d := range dims {
		if d < 1 {
			return 0, fmt.Errorf("dimension %d in %v", d, dims)
		}
		if size > MaxCheckpointValues/d {
			return 0, fmt.Errorf("dims %v claim more than %d values", dims, MaxCheckpointValues)
		}
		size *= d
	}
	return size, nil
}

// readFloat32s reads n little-endian float32 values, growing the result
// only as the data arrives (a truncated file fails before the claimed size
// is allocated).
func readFloat32s(r io.Reader, n int) ([]float32, error) {
	const chunk = 1 << 16
	data := make([]float32, 0, min(n, chunk))
	buf := make([]byte, 4*min(n, chunk))
	for len(data) < n {
		k := min(n-len(data), chunk)
		if _, err := io.ReadFull(r, buf[:4*k]); err != nil {
			return nil, err
		}
		for i := range k {
			data = append(data, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	return data, nil
}

// LoadCheckpoint reads the checkpoint file at path. When its directory
// holds the manifest of a set of files written together (lqf pretrain's
// relu.ckpt, leaky.ckpt and record.json; atomicfile.Set), the file must be
// one of that complete set: a directory left by an interrupted run, or a
// file from another run, is refused.
func LoadCheckpoint(be backends.Backend, path string, meta any) (*Network, error) {
	if err := atomicfile.CheckMember(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open checkpoint: %w", err)
	}
	defer f.Close()
	n, err := ReadCheckpoint(be, f, meta)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
