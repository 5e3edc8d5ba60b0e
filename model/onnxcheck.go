package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/onnx"
)

// ONNXCheckBound is the largest max relative error CheckONNX accepts for
// each of the outputs, the JVP and the gradient.
const ONNXCheckBound = 1e-4

// ONNXCheck compares an imported ONNX network with reference values
// computed by another framework (scripts/onnx_fixtures.py: PyTorch in
// float64) on the same images: the outputs f(x) (frozen batch-norm
// statistics), the Jacobian-vector product J(x) v along a direction v over
// every trainable parameter (paper eq. 1's J dw), and the gradient of one
// output with respect to every trainable parameter. Errors are max_i
// |got_i - want_i| / max_i |want_i| (linalg.MaxRelError).
type ONNXCheck struct {
	Model      string  `json:"model"`
	Reference  string  `json:"reference"`
	Images     int     `json:"images"`
	Parameters int     `json:"parameters"`
	Outputs    float64 `json:"outputs_max_rel_error"`
	JVP        float64 `json:"jvp_max_rel_error"`
	Grad       float64 `json:"grad_max_rel_error"`
	Bound      float64 `json:"bound"`
	Pass       bool    `json:"pass"`
}

// onnxReference is the meta.json of a reference directory.
type onnxReference struct {
	InputNCHW  []int     `json:"input_nchw"`
	Classes    int       `json:"classes"`
	GradClass  int       `json:"grad_class"`
	GradSample int       `json:"grad_sample"`
	Mean       []float64 `json:"mean"`
	Std        []float64 `json:"std"`
	Params     []struct {
		Name   string `json:"name"`
		Shape  []int  `json:"shape"`
		Offset int    `json:"offset"`
		Size   int    `json:"size"`
	} `json:"params"`
}

// CheckONNX imports the ONNX file at path (its classifier kept) and
// compares it with the reference directory refDir: meta.json, inputs.npy
// (images [N, H, W, C] in [0, 1]), outputs.npy [N, K], direction.npy and
// grad.npy (flat over the trainable parameters in meta.json's order, in the
// ONNX layout) and jvp.npy [N, K].
func CheckONNX(be backends.Backend, path, refDir string) (*ONNXCheck, error) {
	raw, err := os.ReadFile(filepath.Join(refDir, "meta.json"))
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	var ref onnxReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		return nil, fmt.Errorf("reference %s: %w", filepath.Join(refDir, "meta.json"), err)
	}
	load := func(name string) ([]float32, []int, error) {
		t, err := numpy.FromNpyFile(filepath.Join(refDir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("reference: %w", err)
		}
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, nil, fmt.Errorf("reference %s: %w", name, err)
		}
		return v, t.Shape().Dimensions, nil
	}
	images, dims, err := load("inputs.npy")
	if err != nil {
		return nil, err
	}
	if len(dims) != 4 {
		return nil, fmt.Errorf("reference inputs.npy: want [N, H, W, C], got %v", dims)
	}
	wantOut, _, err := load("outputs.npy")
	if err != nil {
		return nil, err
	}
	direction, _, err := load("direction.npy")
	if err != nil {
		return nil, err
	}
	wantJVP, _, err := load("jvp.npy")
	if err != nil {
		return nil, err
	}
	wantGrad, _, err := load("grad.npy")
	if err != nil {
		return nil, err
	}
	net, imp, err := LoadONNX(be, path, onnx.Options{Mean: ref.Mean, Std: ref.Std})
	if err != nil {
		return nil, err
	}
	set := &data.Set{Images: images, Height: dims[1], Width: dims[2], Channels: dims[3],
		Labels: make([]int32, dims[0]), NumClasses: net.NumClasses()}
	if err := net.CheckSet(set); err != nil {
		return nil, err
	}
	split := func(flat []float32) (map[string][]float32, error) {
		out := make(map[string][]float32, len(ref.Params))
		for _, p := range ref.Params {
			if p.Offset < 0 || p.Size < 0 || p.Offset+p.Size > len(flat) {
				return nil, fmt.Errorf("reference: parameter %s at [%d, %d) outside %d values", p.Name, p.Offset, p.Offset+p.Size, len(flat))
			}
			out[p.Name] = flat[p.Offset : p.Offset+p.Size]
		}
		return out, nil
	}
	// flatten orders lqf variables as TrainableVariables (the order of
	// SetTangent and JacobianRows).
	flatten := func(byVar map[string][]float32) ([]float64, error) {
		var out []float64
		for _, v := range net.TrainableVariables() {
			x, ok := byVar[v.ScopeAndName()]
			if !ok || len(x) != v.Shape().Size() {
				return nil, fmt.Errorf("reference: no values of the right size for %s", v.ScopeAndName())
			}
			for _, f := range x {
				out = append(out, float64(f))
			}
		}
		return out, nil
	}
	c := &ONNXCheck{Model: path, Reference: refDir, Images: set.Len(), Parameters: net.NumParameters(), Bound: ONNXCheckBound}

	out, err := net.Logits(be, set)
	if err != nil {
		return nil, err
	}
	c.Outputs = relError(out, wantOut)

	byInit, err := split(direction)
	if err != nil {
		return nil, err
	}
	byVar, err := imp.MapTensors(byInit)
	if err != nil {
		return nil, err
	}
	dw, err := flatten(byVar)
	if err != nil {
		return nil, err
	}
	lin, err := net.Clone()
	if err != nil {
		return nil, err
	}
	if err := lin.SetTangent(dw); err != nil {
		return nil, err
	}
	// f0 and J dw together: an Exec returning J dw alone is fine, but both
	// keep the graph's outputs after every parameter (see
	// layers.Net.Linearized).
	arch := lin.Arch
	both, width, err := Apply(be, lin.Ctx, func(ctx *context.Context, x *Node) *Node {
		f0, jdw := arch.Linearized(ctx, x)
		return Concatenate([]*Node{f0, jdw}, 1)
	}, set.Images, []int{dims[1], dims[2], dims[3]}, set.Len())
	if err != nil {
		return nil, err
	}
	k := width / 2
	jvp := make([]float32, 0, set.Len()*k)
	for i := range set.Len() {
		jvp = append(jvp, both[i*width+k:(i+1)*width]...)
	}
	c.JVP = relError(jvp, wantJVP)

	if ref.GradSample < 0 || ref.GradSample >= set.Len() || ref.GradClass < 0 || ref.GradClass >= net.NumClasses() {
		return nil, fmt.Errorf("reference: gradient of output %d of sample %d is outside [%d, %d]", ref.GradClass, ref.GradSample, set.Len(), net.NumClasses())
	}
	J, p, err := net.JacobianRows(be, set.Subset([]int{ref.GradSample}), nil)
	if err != nil {
		return nil, err
	}
	row := J[ref.GradClass*p : (ref.GradClass+1)*p]
	if byInit, err = split(wantGrad); err != nil {
		return nil, err
	}
	if byVar, err = imp.MapTensors(byInit); err != nil {
		return nil, err
	}
	grad, err := flatten(byVar)
	if err != nil {
		return nil, err
	}
	got := make([]float64, len(row))
	for i, v := range row {
		got[i] = float64(v)
	}
	c.Grad = linalg.MaxRelError(got, grad)
	c.Pass = c.Outputs <= c.Bound && c.JVP <= c.Bound && c.Grad <= c.Bound
	return c, nil
}

// relError is linalg.MaxRelError of float32 slices (a length mismatch is
// an infinite error).
func relError(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	g, w := make([]float64, len(got)), make([]float64, len(want))
	for i := range got {
		g[i], w[i] = float64(got[i]), float64(want[i])
	}
	return linalg.MaxRelError(g, w)
}
