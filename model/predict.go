package model

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
)

// EvalBatchSize is the batch size of inference; inputs are padded to it so
// the graph compiles once.
const EvalBatchSize = 128

// Apply runs forward(ctx, x) over all n rows of inputs (each of per-sample
// dimensions dims, flattened) in batches and returns the outputs, n rows of
// width outDim (row-major).
func Apply(be backends.Backend, ctx *context.Context, forward func(*context.Context, *Node) *Node,
	inputs []float32, dims []int, n int) (out []float32, outDim int, err error) {
	size := 1
	for _, d := range dims {
		size *= d
	}
	if len(inputs) != n*size {
		return nil, 0, fmt.Errorf("Apply: %d inputs of size %d need %d values, got %d", n, size, n*size, len(inputs))
	}
	err = TryCatch(func() {
		exec := context.MustNewExec(be, ctx, forward)
		defer exec.Finalize()
		bs := min(EvalBatchSize, max(n, 1))
		buf := make([]float32, bs*size)
		for start := 0; start < n; start += bs {
			m := min(bs, n-start)
			clear(buf)
			copy(buf, inputs[start*size:(start+m)*size])
			x := tensors.FromFlatDataAndDimensions(buf, append([]int{bs}, dims...)...)
			res := exec.MustExec(x)[0]
			flat := tensors.MustCopyFlatData[float32](res)
			if out == nil {
				outDim = len(flat) / bs
				out = make([]float32, 0, n*outDim)
			}
			out = append(out, flat[:m*outDim]...)
		}
	})
	return out, outDim, err
}

// Logits returns the network's outputs on every image of set with frozen
// batch-norm statistics: [set.Len(), NumClasses], row-major.
func (n *Network) Logits(be backends.Backend, set *data.Set) ([]float32, error) {
	return n.apply(be, set, func(ctx *context.Context, x *Node) *Node { return n.Arch.Logits(ctx, x, Eval) })
}

// Features returns the pooled penultimate features of every image of set
// (frozen statistics): [set.Len(), FeatureDim], row-major.
func (n *Network) Features(be backends.Backend, set *data.Set) ([]float32, error) {
	return n.apply(be, set, func(ctx *context.Context, x *Node) *Node { return n.Arch.Features(ctx, x, Eval) })
}

// apply runs fn on every image of set (after CheckSet) and returns its
// outputs, row-major.
func (n *Network) apply(be backends.Backend, set *data.Set, fn func(ctx *context.Context, x *Node) *Node) ([]float32, error) {
	if err := n.CheckSet(set); err != nil {
		return nil, err
	}
	h, w, c := set.Geometry()
	out, _, err := Apply(be, n.Ctx, fn, set.Images, []int{h, w, c}, set.Len())
	return out, err
}

// ErrorRate is the fraction of rows of outputs [len(labels), C] whose
// arg-max differs from the label.
func ErrorRate(outputs []float32, labels []int32) float64 {
	if len(labels) == 0 {
		return 0
	}
	c := len(outputs) / len(labels)
	wrong := 0
	for i, l := range labels {
		if Argmax(outputs[i*c:(i+1)*c]) != int(l) {
			wrong++
		}
	}
	return float64(wrong) / float64(len(labels))
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax[T float32 | float64](v []T) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestError is the error rate of the network on set.
func (n *Network) TestError(be backends.Backend, set *data.Set) (float64, error) {
	logits, err := n.Logits(be, set)
	if err != nil {
		return 0, err
	}
	return ErrorRate(logits, set.Labels), nil
}

// Predict returns the network's logits with frozen statistics.
func (n *Network) Predict(be backends.Backend, set *data.Set) ([]float32, error) {
	return n.Logits(be, set)
}

// LinearizedNetwork is a network's parameters w0 together with a
// displacement dw (variables under ScopeTangent of the same context): the
// model f0(x) + J(x) dw that LQF trains.
type LinearizedNetwork struct{ *Network }

// Predict returns f0(x) + J(x) dw for every image of set.
func (l LinearizedNetwork) Predict(be backends.Backend, set *data.Set) ([]float32, error) {
	return l.apply(be, set, func(ctx *context.Context, x *Node) *Node { return l.Arch.LinearizedLogits(ctx, x) })
}
