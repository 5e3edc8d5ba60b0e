package model

import (
	"fmt"
	"io"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

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
	vars := n.TrainableVariables()
	for _, v := range vars {
		p += v.Shape().Size()
	}
	c := n.Config.NumClasses
	rows := set.Len() * c
	if bytes := int64(rows) * int64(p) * 4; bytes > MaxJacobianBytes {
		return nil, 0, fmt.Errorf("the Jacobian of %d samples x %d classes x %d parameters needs %d MiB (limit %d MiB): use fewer training samples",
			set.Len(), c, p, bytes>>20, MaxJacobianBytes>>20)
	}
	cfg := n.Config
	J = make([]float32, 0, rows*p)
	err = TryCatch(func() {
		exec := context.MustNewExec(be, n.Ctx, func(ctx *context.Context, x *Node) []*Node {
			z := cfg.Logits(ctx, x, Eval)
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
			x := tensors.FromFlatDataAndDimensions(set.Image(i), 1, cfg.Height, cfg.Width, cfg.Channels)
			J = append(J, tensors.MustCopyFlatData[float32](exec.MustExec(x)[0])...)
			bar.Add(1)
		}
		bar.Finish()
	})
	return J, p, err
}

// Gram returns K = J J^T [rows x rows] accumulated in float64, from J
// [rows, p] row-major float32, a block of columns at a time.
func Gram(J []float32, rows, p int) *mat.SymDense {
	k := mat.NewSymDense(rows, nil)
	const block = 2048
	buf := make([]float64, rows*block)
	for start := 0; start < p; start += block {
		w := min(block, p-start)
		b := mat.NewDense(rows, w, buf[:rows*w])
		for i := range rows {
			row := J[i*p+start : i*p+start+w]
			for j, v := range row {
				b.Set(i, j, float64(v))
			}
		}
		k.SymRankK(k, 1, b)
	}
	return k
}

// SolveKernel returns dw = J^T (K + ridge I)^-1 R, the minimizer of
// ||J dw - R||^2 + ridge ||dw||^2 in kernel form, with K = J J^T from Gram
// and R [rows] the residual targets. Everything but J is float64.
func SolveKernel(J []float32, rows, p int, k *mat.SymDense, r []float64, ridge float64) ([]float64, error) {
	if len(r) != rows || ridge <= 0 {
		return nil, fmt.Errorf("SolveKernel: %d targets for %d rows, ridge %g (must be > 0)", len(r), rows, ridge)
	}
	chol, err := ShiftedCholesky(k, ridge)
	if err != nil {
		return nil, err
	}
	var alpha mat.VecDense
	if err := chol.SolveVecTo(&alpha, mat.NewVecDense(rows, append([]float64(nil), r...))); err != nil {
		return nil, err
	}
	dw := make([]float64, p)
	for i := range rows {
		ai := alpha.AtVec(i)
		row := J[i*p : (i+1)*p]
		for j, v := range row {
			dw[j] += ai * float64(v)
		}
	}
	return dw, nil
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

// CrossGram returns Ja Jb^T [ra x rb] accumulated in float64, from Ja
// [ra, p] and Jb [rb, p] row-major float32 (for example the empirical NTK
// between test and training samples).
func CrossGram(Ja []float32, ra int, Jb []float32, rb, p int) *mat.Dense {
	k := mat.NewDense(ra, rb, nil)
	const block = 2048
	bufA, bufB := make([]float64, ra*block), make([]float64, rb*block)
	fill := func(dst []float64, J []float32, rows, start, w int) *mat.Dense {
		m := mat.NewDense(rows, w, dst[:rows*w])
		for i := range rows {
			for j, v := range J[i*p+start : i*p+start+w] {
				m.Set(i, j, float64(v))
			}
		}
		return m
	}
	var prod mat.Dense
	for start := 0; start < p; start += block {
		w := min(block, p-start)
		a, b := fill(bufA, Ja, ra, start, w), fill(bufB, Jb, rb, start, w)
		prod.Reset()
		prod.Mul(a, b.T())
		k.Add(k, &prod)
	}
	return k
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

// ShiftedCholesky factorizes K + ridge I (float64).
func ShiftedCholesky(k *mat.SymDense, ridge float64) (*mat.Cholesky, error) {
	rows := k.SymmetricDim()
	a := mat.NewSymDense(rows, nil)
	a.CopySym(k)
	for i := range rows {
		a.SetSym(i, i, a.At(i, i)+ridge)
	}
	var chol mat.Cholesky
	if !chol.Factorize(a) {
		return nil, fmt.Errorf("K + ridge I (ridge %g) is not positive definite", ridge)
	}
	return &chol, nil
}

// Objective is LQF's objective at dw from the Jacobian rows J [N*C, p] and
// residuals R = alpha Y - f0: (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2.
func Objective(J []float32, p int, residual, dw []float64, lambda float64, n int) float64 {
	return ObjectiveGradient(J, p, residual, dw, lambda, n, nil)
}

// ObjectiveGradient returns Objective and, if grad is not nil (len p),
// stores its gradient (2/N) J^T (J dw - R) + lambda dw there.
func ObjectiveGradient(J []float32, p int, residual, dw []float64, lambda float64, n int, grad []float64) float64 {
	data, sq := 0.0, 0.0
	var e []float64
	if grad != nil {
		e = make([]float64, len(residual))
	}
	for r := range len(residual) {
		d := -residual[r]
		for k, v := range J[r*p : (r+1)*p] {
			d += float64(v) * dw[k]
		}
		if e != nil {
			e[r] = d
		}
		data += d * d
	}
	for k, v := range dw {
		sq += v * v
		if grad != nil {
			grad[k] = lambda * v
		}
	}
	for r, d := range e {
		c := 2 / float64(n) * d
		for k, v := range J[r*p : (r+1)*p] {
			grad[k] += c * float64(v)
		}
	}
	return data/float64(n) + lambda/2*sq
}
