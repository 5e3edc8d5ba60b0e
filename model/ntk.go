package model

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
)

// TrainableVariables lists the network's trainable parameters in the order
// used by flattened parameter vectors (JacobianRows, SetTangent).
func (n *Network) TrainableVariables() []*context.Variable {
	var vars []*context.Variable
	for _, v := range n.Variables() {
		if v.Trainable {
			vars = append(vars, v)
		}
	}
	return vars
}

// MaxJacobianBytes bounds the memory of JacobianRows.
const MaxJacobianBytes = 4 << 30

// JacobianRows returns the per-sample Jacobian of the outputs at w0 (frozen
// batch-norm statistics) with respect to every trainable parameter:
// J [N*C, P] row-major, row i*C+c = grad_w f_c(x_i), columns in the order of
// TrainableVariables. It costs C backward passes per image.
func (n *Network) JacobianRows(be backends.Backend, set *data.Set, w io.Writer) (J []float32, p int, err error) {
	if err := n.CheckSet(set); err != nil {
		return nil, 0, err
	}
	vars := n.TrainableVariables()
	for _, v := range vars {
		p += v.Shape().Size()
	}
	c := n.NumClasses()
	rows := set.Len() * c
	if bytes := int64(rows) * int64(p) * 4; bytes > MaxJacobianBytes {
		return nil, 0, fmt.Errorf("the Jacobian of %d samples x %d classes x %d parameters needs %d MiB (limit %d MiB): use fewer samples (a kernel with a test set: Kernel.CrossKernel, which holds a chunk of its rows at a time)",
			set.Len(), c, p, bytes>>20, MaxJacobianBytes>>20)
	}
	arch := n.Arch
	J = make([]float32, 0, rows*p)
	err = TryCatch(func() {
		exec := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x *Node) []*Node {
			z := arch.Logits(ctx, x, Eval)
			g := x.Graph()
			values := make([]*Node, len(vars))
			for i, v := range vars {
				values[i] = v.ValueGraph(g)
			}
			var out []*Node
			for k := range c {
				// A one-hot mask rather than Slice: the pure-Go backend
				// cannot differentiate Slice.
				mask := make([]float32, c)
				mask[k] = 1
				fk := ReduceAllSum(Mul(z, ConvertDType(Const(g, [][]float32{mask}), z.DType())))
				grads := Gradient(fk, values...)
				for _, gr := range grads {
					out = append(out, Reshape(gr, -1))
				}
			}
			return []*Node{Concatenate(out, 0)}
		})
		defer exec.Finalize()
		bar := progress.New(w, "jacobian", set.Len(), "img")
		for i := range set.Len() {
			x := ImageBatch(set, i, 1)
			J = append(J, tensors.MustCopyFlatData[float32](exec.MustExec(x)[0])...)
			bar.Add(1)
		}
		bar.Finish()
	})
	return J, p, err
}

// SetTangent sets dw (the variables under ScopeTangent) from a flat vector
// in the order of TrainableVariables; the network's w0 is unchanged.
func (n *Network) SetTangent(dw []float64) error {
	off := 0
	for _, v := range n.TrainableVariables() {
		size := v.Shape().Size()
		if off+size > len(dw) {
			return fmt.Errorf("SetTangent: %d values for more parameters", len(dw))
		}
		vals := make([]float32, size)
		for i := range vals {
			vals[i] = float32(dw[off+i])
		}
		off += size
		t := tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)
		scope := context.ScopeSeparator + ScopeTangent + v.Scope()
		if tv := n.Ctx.GetVariableByScopeAndName(scope, v.Name()); tv != nil {
			if err := tv.SetValue(t); err != nil {
				return err
			}
		} else {
			n.Ctx.InAbsPath(scope).Checked(false).VariableWithValue(v.Name(), t)
		}
	}
	if off != len(dw) {
		return fmt.Errorf("SetTangent: %d values for %d parameters", len(dw), off)
	}
	return nil
}

// Tangent returns dw (the variables under ScopeTangent) as a flat vector in
// the order of TrainableVariables; missing variables read as zero.
func (n *Network) Tangent() ([]float64, error) {
	var out []float64
	for _, v := range n.TrainableVariables() {
		tv := n.Ctx.GetVariableByScopeAndName(context.ScopeSeparator+ScopeTangent+v.Scope(), v.Name())
		if tv == nil {
			out = append(out, make([]float64, v.Shape().Size())...)
			continue
		}
		t, err := tv.Value()
		if err != nil {
			return nil, err
		}
		out = append(out, float64s(tensors.MustCopyFlatData[float32](t))...)
	}
	return out, nil
}
