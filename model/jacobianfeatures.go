package model

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/lqf-go/lqf/data"
)

// JacobianFeatures holds a training set's Jacobian rows at w0 and outputs
// f0, the features on which the linearized network is a linear model:
// f_lin(x_i) = f0(x_i) + J(x_i) dw.
type JacobianFeatures struct {
	set     *data.Set
	J       []float32 // [N*C, P], row i*C+c = grad_w f_c(x_i) (JacobianRows)
	f0      []float32 // [N, C]
	vars    []*context.Variable
	classes int
	p       int
}

// NewJacobianFeatures computes the Jacobian rows and outputs of net (frozen
// batch-norm statistics) on every image of set.
func NewJacobianFeatures(be backends.Backend, net *Network, set *data.Set, progress io.Writer) (*JacobianFeatures, error) {
	J, p, err := net.JacobianRows(be, set, progress)
	if err != nil {
		return nil, err
	}
	f0, err := net.Logits(be, set)
	if err != nil {
		return nil, err
	}
	return &JacobianFeatures{set: set, J: J, f0: f0, vars: net.TrainableVariables(), classes: net.NumClasses(), p: p}, nil
}

// Train trains dw, the variables under ScopeTangent of ctx (created at zero
// when absent), on the features: the steps of TrainGraph with
// layers.Net.LinearizedLogits on ImageBatches(set, opts.BatchSize,
// data.NoAugmentation, opts.Seed) (same batches, learning-rate schedule,
// loss, weight decay, preconditioner and optimizer), with the products by
// the batch's Jacobian rows done on the host in float32:
//
//	z = f0 + J_B dw (host),  L, dL/dz (graph),  g = J_B^T dL/dz (host),
//	update of dw from g + lambda dw (graph, TrainGraph's update rule).
//
// The graphs stay small (outputs and one parameter-sized vector), so a
// step costs two passes over the batch's rows.
func (f *JacobianFeatures) Train(be backends.Backend, ctx *context.Context, opts TrainOptions) (*TrainResult, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Augment != data.NoAugmentation {
		return nil, fmt.Errorf("training on Jacobian features needs fixed images, not augmentation %v", opts.Augment)
	}
	if err := ResetOptimizer(ctx); err != nil {
		return nil, err
	}
	b := data.NewBatcher(f.set, opts.BatchSize, data.NoAugmentation, opts.Seed)
	bs, c, p := b.BatchSize(), f.classes, f.p
	steps := max(1, int(math.Ceil(opts.Epochs*float64(b.BatchesPerEpoch()))))
	var idx []int
	dw, z, grad := make([]float32, p), make([]float32, bs*c), make([]float32, p)
	var loss, update, current *context.Exec
	finish := func() {
		for _, e := range []*context.Exec{loss, update, current} {
			if e != nil {
				e.Finalize()
			}
		}
	}
	step := func(_, onehot []float32, lr float64) float64 {
		if loss == nil {
			loss = context.MustNewExec(be, ctx, func(_ *context.Context, z, y *Node) []*Node {
				l := LossGraph(opts.Loss, z, y, opts.Alpha)
				return []*Node{l, Gradient(l, z)[0]}
			})
			update = context.MustNewExec(be, ctx, func(ctx *context.Context, g, lr *Node) *Node {
				return f.updateGraph(ctx, g, lr, opts)
			})
			current = context.MustNewExec(be, ctx, func(ctx *context.Context, x *Node) *Node {
				return f.flatTangents(ctx, x.Graph())
			})
			copy(dw, tensors.MustCopyFlatData[float32](current.MustExec(float32(0))[0]))
		}
		f.rowsTimes(idx, dw, z)
		out := loss.MustExec(tensors.FromFlatDataAndDimensions(z, bs, c), tensors.FromFlatDataAndDimensions(onehot, bs, c))
		l := float64(tensors.ToScalar[float32](out[0]))
		f.rowsTransposeTimes(idx, tensors.MustCopyFlatData[float32](out[1]), grad)
		copy(dw, tensors.MustCopyFlatData[float32](update.MustExec(tensors.FromFlatDataAndDimensions(grad, p), float32(lr))[0]))
		return l
	}
	next := func() ([]float32, []int32) {
		_, labels, i := b.Next()
		idx = i
		return nil, labels
	}
	return trainLoop(b.BatchesPerEpoch(), bs, steps, c, opts, next, step, finish)
}

// tangents returns the tangent variables of f.vars, in the column order of
// J (created at zero when absent).
func (f *JacobianFeatures) tangents(ctx *context.Context) []*context.Variable {
	out := make([]*context.Variable, len(f.vars))
	for i, v := range f.vars {
		out[i] = ctx.InAbsPath(context.ScopeSeparator+ScopeTangent+v.Scope()).Checked(false).
			WithInitializer(initializers.Zero).VariableWithShape(v.Name(), v.Shape())
	}
	return out
}

// flatTangents is dw [P] in the column order of J.
func (f *JacobianFeatures) flatTangents(ctx *context.Context, g *Graph) *Node {
	var parts []*Node
	for _, t := range f.tangents(ctx) {
		parts = append(parts, Reshape(ConvertDType(t.ValueGraph(g), dtypes.Float32), -1))
	}
	return Concatenate(parts, 0)
}

// updateGraph applies TrainGraph's update to dw given the data-loss
// gradient g [P] (column order of J), adding the weight decay's lambda dw,
// and returns the new dw [P].
func (f *JacobianFeatures) updateGraph(ctx *context.Context, g, lr *Node, opts TrainOptions) *Node {
	params := f.tangents(ctx)
	values, grads := make([]*Node, len(params)), make([]*Node, len(params))
	off := 0
	for i, t := range params {
		values[i] = t.ValueGraph(g.Graph())
		size := t.Shape().Size()
		gi := ConvertDType(Reshape(Slice(g, AxisRange(off, off+size)), t.Shape().Dimensions...), values[i].DType())
		if opts.Lambda > 0 {
			gi = Add(gi, MulScalar(values[i], opts.Lambda))
		}
		grads[i] = gi
		off += size
	}
	applyUpdates(ctx, params, values, grads, lr, opts)
	return f.flatTangents(ctx, g.Graph())
}

// rowsTimes sets z[k*C+j] = f0_j(x_i) + J_j(x_i) dw for the batch's samples
// i = idx[k].
func (f *JacobianFeatures) rowsTimes(idx []int, dw, z []float32) {
	c, p := f.classes, f.p
	parallelRanges(len(idx)*c, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := idx[r/c]*c + r%c
			z[r] = f.f0[row] + blas32.Dot(blas32.Vector{N: p, Inc: 1, Data: f.J[row*p : (row+1)*p]}, blas32.Vector{N: p, Inc: 1, Data: dw})
		}
	})
}

// rowsTransposeTimes sets g = sum_k,j dz[k*C+j] J_j(x_i), i = idx[k]:
// the gradient of the data loss with respect to dw.
func (f *JacobianFeatures) rowsTransposeTimes(idx []int, dz, g []float32) {
	c, p := f.classes, f.p
	parallelRanges(p, func(lo, hi int) {
		gv := blas32.Vector{N: hi - lo, Inc: 1, Data: g[lo:hi]}
		clear(gv.Data)
		for r, d := range dz {
			row := idx[r/c]*c + r%c
			blas32.Axpy(d, blas32.Vector{N: hi - lo, Inc: 1, Data: f.J[row*p+lo : row*p+hi]}, gv)
		}
	})
}

// parallelRanges splits [0, n) into one contiguous range per CPU and runs
// fn on them concurrently.
func parallelRanges(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/64))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Rows returns the Jacobian rows J [N*C, P] (row-major, row i*C+c =
// grad_w f_c(x_i)) and P, sharing memory with f.
func (f *JacobianFeatures) Rows() (J []float32, p int) { return f.J, f.p }
