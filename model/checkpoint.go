package model

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/internal/jsonfile"
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
//
// Everything the file claims is checked before it sizes an allocation:
// parseCheckpoint (no backend) checks the header's length, the network's
// layer graph and the size of its activations, each variable's scope,
// name and dims against MaxCheckpointValues, and reads the values only as
// the file delivers them; the graph is then built with the stored
// variables alone, so a network that would need a variable the file lacks
// (or one of another shape) is refused instead of initialized.
func ReadCheckpoint(be backends.Backend, r io.Reader, meta any) (*Network, error) {
	p, err := parseCheckpoint(r)
	if err != nil {
		return nil, err
	}
	if meta != nil && p.meta != nil {
		if err := json.Unmarshal(*p.meta, meta); err != nil {
			return nil, fmt.Errorf("checkpoint metadata: %w", err)
		}
	}
	ctx, err := p.context()
	if err != nil {
		return nil, err
	}
	n := &Network{Arch: p.arch, Ctx: ctx}
	if err := n.materializeStored(be); err != nil {
		return nil, fmt.Errorf("checkpoint does not fit its configuration: %w", err)
	}
	return n, nil
}

// Limits of what a checkpoint may claim, checked before anything is
// allocated for it.
const (
	// MaxCheckpointValues bounds the values a checkpoint may hold (4 GiB
	// of float32); the values are read only as the file delivers them.
	MaxCheckpointValues = 1 << 30
	// MaxCheckpointHeaderBytes bounds the JSON header line (lqf's
	// networks take a few kB; an imported ResNet-50 under 100 kB).
	MaxCheckpointHeaderBytes = 16 << 20
	// MaxActivationValues bounds the values of one image's activations,
	// summed over the network's nodes (1 GiB of float32), which
	// ReadCheckpoint computes once to check the parameters; a 224x224
	// ResNet-18 has about 3 million.
	MaxActivationValues = 1 << 28
)

// storedVariable is one variable of a checkpoint with its values.
type storedVariable struct {
	checkpointVar
	data []float32
}

// parsedCheckpoint is what a checkpoint holds, checked: the layer graph,
// the metadata (raw JSON) and the variables.
type parsedCheckpoint struct {
	arch *layers.Net
	meta *json.RawMessage
	vars []storedVariable
}

// parseCheckpoint reads and checks a checkpoint without a backend: the
// magic line, the header (at most MaxCheckpointHeaderBytes; a valid layer
// graph whose activations stay within MaxActivationValues), each variable
// (an absolute scope, a name, listed once, dims of at most
// MaxCheckpointValues in all) and its values, and that nothing follows the
// last one. No allocation is sized by a claim of the file before that
// claim is checked.
func parseCheckpoint(r io.Reader) (*parsedCheckpoint, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != checkpointMagic {
		return nil, errors.New("not an lqf checkpoint (bad magic line); checkpoints are written by `lqf pretrain` or Network.SaveCheckpoint")
	}
	line, err := jsonfile.ReadLine(br, MaxCheckpointHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint header: %w", err)
	}
	var h checkpointHeader
	if err := json.Unmarshal(line, &h); err != nil {
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
	}
	if err := checkArchSize(arch); err != nil {
		return nil, fmt.Errorf("checkpoint network: %w", err)
	}
	p := &parsedCheckpoint{arch: arch, meta: h.Meta}
	seen := map[string]bool{}
	total := 0
	for _, cv := range h.Variables {
		size, err := checkpointSize(cv.Dims)
		if err == nil && total+size > MaxCheckpointValues {
			err = fmt.Errorf("the variables claim more than %d values in all", MaxCheckpointValues)
		}
		if err == nil {
			err = checkVariableName(cv.Scope, cv.Name)
		}
		if err == nil && seen[cv.Scope+"\x00"+cv.Name] {
			err = errors.New("listed twice")
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt checkpoint header: variable %q/%q: %w", cv.Scope, cv.Name, err)
		}
		seen[cv.Scope+"\x00"+cv.Name] = true
		total += size
		data, err := readFloat32s(br, size)
		if err != nil {
			return nil, fmt.Errorf("truncated checkpoint: variable %s/%s: %w", cv.Scope, cv.Name, err)
		}
		p.vars = append(p.vars, storedVariable{cv, data})
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("corrupt checkpoint: data after the last variable")
	}
	return p, nil
}

// MaxParameters bounds the parameters of a network built from a layer
// graph that a file describes (lqf pretrain --net): 1 GiB of float32,
// ten times a ResNet-50. Checkpoints are bounded by the values they hold
// (MaxCheckpointValues) instead.
const MaxParameters = 1 << 28

// CheckNetSize checks, before anything is allocated for it, that a
// network of layer graph arch stays within lqf's limits: arch is valid,
// one image's activations within MaxActivationValues and its parameters
// within MaxParameters. It builds arch's graph symbolically on be (no
// value is computed or initialized) to count the parameters, so a graph
// read from a file cannot make New allocate beyond them.
func CheckNetSize(be backends.Backend, arch *layers.Net) error {
	if err := checkArchSize(arch); err != nil {
		return err
	}
	ctx := context.New().Checked(false)
	err := TryCatch(func() {
		g := graph.NewGraph(be, "size")
		defer g.Finalize()
		in := arch.Input
		arch.Logits(ctx, graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, in.Height, in.Width, in.Channels)), Eval)
	})
	if err != nil {
		return err
	}
	total := 0
	for v := range ctx.IterVariables() {
		if total += v.Shape().Size(); total > MaxParameters {
			return fmt.Errorf("the network has more than %d parameters (at %s %v); make it smaller", MaxParameters, v.ScopeAndName(), v.Shape().Dimensions)
		}
	}
	return nil
}

// checkArchSize validates arch and checks that one image's activations,
// summed over its nodes, stay within MaxActivationValues.
func checkArchSize(arch *layers.Net) error {
	shapes, err := arch.Shapes()
	if err != nil {
		return err
	}
	total := 0
	for name, dims := range shapes {
		size, err := checkpointSize(dims)
		if err == nil && total+size > MaxActivationValues {
			err = fmt.Errorf("its activations exceed %d values per image", MaxActivationValues)
		}
		if err != nil {
			return fmt.Errorf("node %q: %w", name, err)
		}
		total += size
	}
	return nil
}

// checkVariableName checks a stored variable's scope (absolute: "/a/b")
// and name (not empty, no "/").
func checkVariableName(scope, name string) error {
	if !strings.HasPrefix(scope, "/") || strings.Contains(scope, "//") || (len(scope) > 1 && strings.HasSuffix(scope, "/")) {
		return errors.New("the scope must be an absolute path like /backbone/stem")
	}
	if name == "" || strings.Contains(name, "/") {
		return errors.New("the name must be non-empty, without /")
	}
	return nil
}

// context is a GoMLX context holding the stored variables (host tensors;
// no backend).
func (p *parsedCheckpoint) context() (ctx *context.Context, err error) {
	ctx = context.New().Checked(false)
	err = TryCatch(func() {
		for _, v := range p.vars {
			t := tensors.FromFlatDataAndDimensions(v.data, v.Dims...)
			ctx.InAbsPath(v.Scope).VariableWithValue(v.Name, t).SetTrainable(v.Trainable)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint variables: %w", err)
	}
	return ctx, nil
}

// materializeStored builds the network's graph on its stored variables:
// first symbolically (no value is computed or initialized), so that a
// variable the graph needs but the checkpoint lacks is an error before
// anything is allocated for it (its size was never backed by the file),
// and one of another shape too; then once on a backend (materialize).
func (n *Network) materializeStored(be backends.Backend) error {
	stored := map[string]bool{}
	for v := range n.Ctx.IterVariables() {
		stored[v.ScopeAndName()] = true
	}
	arch := n.Arch
	err := TryCatch(func() {
		g := graph.NewGraph(be, "checkpoint")
		defer g.Finalize()
		in := arch.Input
		x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 1, in.Height, in.Width, in.Channels))
		arch.Logits(n.Ctx, x, Eval)
	})
	if err != nil {
		return err
	}
	var missing []string
	for v := range n.Ctx.IterVariables() {
		if !stored[v.ScopeAndName()] {
			missing = append(missing, v.ScopeAndName())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the checkpoint lacks %d variables of its network, %s first", len(missing), missing[0])
	}
	return n.materialize(be)
}

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
