package kfac

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/model"
)

// CorrectEigenvalues replaces, for every Kronecker block, the eigenvalues
// a_i g_j of A (x) G by the exact second moments of the per-sample
// gradients in the same eigenbasis (EK-FAC, George et al. 2018):
//
//	S_ij = (2/N) sum_n sum_c ((U_A^T grad_W f_c(x_n) U_G)_ij)^2,
//
// the diagonal of the exact block F in the Kronecker eigenbasis, so the
// preconditioner keeps the cheap eigenbasis but gets each direction's
// curvature (and the block's trace) right. It costs one more pass over the
// data, with C backward passes per batch (or one, Options.MonteCarlo).
func (f *Factors) CorrectEigenvalues(be backends.Backend, net *model.Network, set *data.Set, opts Options) error {
	if err := net.CheckSet(set); err != nil {
		return err
	}
	bases := make([][2]*mat.Dense, len(f.Units))
	for i, u := range f.Units {
		if !u.kron() {
			continue // a batch norm alone: its 2x2 blocks are exact
		}
		ua, _, ug, _, err := u.eigenbases()
		if err != nil {
			return err
		}
		bases[i] = [2]*mat.Dense{ua, ug}
	}
	bs := opts.batchSize(set.Len())
	arch := net.Arch
	var units []unitNodes
	arch = arch.WithProbe(probe(&units))
	var sums [][]float64
	err := model.TryCatch(func() {
		exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x, noise *Node) []*Node {
			units = units[:0]
			z := arch.Logits(ctx, x, model.Eval)
			if err := f.matches(units); err != nil {
				panic(err)
			}
			res := make([]*Node, len(units))
			eigenbasisGradients(z, cotangents(z, noise, opts.MonteCarlo), units, bases, func(_, i int, pg, _, _ *Node) {
				if pg == nil {
					return
				}
				sq := ReduceSum(Square(pg), 0)
				if res[i] == nil {
					res[i] = sq
				} else {
					res[i] = Add(res[i], sq)
				}
			})
			var outs []*Node // one [in, out] per unit with weights
			for _, r := range res {
				if r != nil {
					outs = append(outs, r)
				}
			}
			return outs
		})
		defer exec.Finalize()
		bar := progress.New(opts.Progress, "kfac eigenvalue correction", set.Len(), "img")
		sums = accumulate(exec, set, arch, bs, opts.Seed+1, bar)
		bar.Finish()
	})
	if err != nil {
		return err
	}
	n := float64(set.Len())
	k := 0
	for _, u := range f.Units {
		if !u.kron() {
			continue
		}
		u.S = mat.NewDense(u.In, u.Out, nil)
		for j, v := range sums[k] {
			u.S.Set(j/u.Out, j%u.Out, 2*v/n)
		}
		k++
	}
	return nil
}

// matches returns an error unless the units a graph's probe recorded are
// those of the factors (same scopes, widths and kinds, in order).
func (f *Factors) matches(units []unitNodes) error {
	return matchUnits(f.Units, units)
}

// matchUnits returns an error unless units (recorded by probe while a
// graph was built) are the units fu of Factors, one for one.
func matchUnits(fu []*Unit, units []unitNodes) error {
	if len(units) != len(fu) {
		return fmt.Errorf("kfac: the network has %d units, the factors %d", len(units), len(fu))
	}
	for i, u := range units {
		in := 0
		if u.kron() {
			in = u.patches.Shape().Dimensions[1]
		}
		if f := fu[i]; f.Scope != u.unit.Scope || f.BNScope != u.unit.BNScope || f.In != in || f.Out != u.width() {
			return fmt.Errorf("kfac: the network's unit %d is %q (batch norm %q, [%d, %d]), the factors' %q (batch norm %q, [%d, %d])",
				i, u.unit.Scope, u.unit.BNScope, in, u.width(), f.Scope, f.BNScope, f.In, f.Out)
		}
	}
	return nil
}

// eigenbasisGradients computes, for every cotangent (one per class, or the
// Monte-Carlo noise) and every unit, the per-sample gradients of
// <z, cotangent> with respect to the unit's weight matrix [in, out] in its
// Kronecker eigenbasis, pg [B, in, out] = sum_t (U_A^T a_t)(U_G^T s g_t)^T
// (nil for a batch norm alone), and for units with a batch norm the
// per-sample batch-norm gradients u1 = sum_t g_t xhat_t (gamma) and
// u2 = sum_t g_t (beta), [B, out] (nil without); it calls emit with the
// cotangent's and the unit's indices. bases[i] = {U_A, U_G} (unused for a
// batch norm alone).
func eigenbasisGradients(z *Node, cots []*Node, units []unitNodes, bases [][2]*mat.Dense, emit func(c, i int, pg, u1, u2 *Node)) {
	outs := make([]*Node, len(units))
	for i, u := range units {
		outs[i] = u.unit.Output
	}
	b := z.Shape().Dimensions[0]
	proj := make([]*Node, len(units)) // patches in the A eigenbasis, [B, T, in]
	ugs := make([]*Node, len(units))
	for i, u := range units {
		if !u.kron() {
			continue
		}
		ua := ConvertDType(Const(z.Graph(), dense32(bases[i][0])), z.DType())
		in := u.patches.Shape().Dimensions[1]
		proj[i] = Reshape(MatMul(u.patches, ua), b, u.t, in)
		ugs[i] = ConvertDType(Const(z.Graph(), dense32(bases[i][1])), z.DType())
	}
	for c, cot := range cots {
		grads := Gradient(ReduceAllSum(Mul(z, cot)), outs...)
		for i, u := range units {
			g, gs := u.outputGradients(grads[i], b)
			var pg, u1, u2 *Node
			if u.hasBN() {
				u1, u2 = u.bnGradients(g, b)
			}
			if u.kron() {
				gp := Reshape(MatMul(gs, ugs[i]), b, u.t, u.width())
				pg = DotGeneral(proj[i], []int{1}, []int{0}, gp, []int{1}, []int{0}) // [B, in, out]
			}
			emit(c, i, pg, u1, u2)
		}
	}
}

func dense32(m *mat.Dense) [][]float32 {
	r, c := m.Dims()
	out := make([][]float32, r)
	for i := range r {
		out[i] = make([]float32, c)
		for j := range c {
			out[i][j] = float32(m.At(i, j))
		}
	}
	return out
}
